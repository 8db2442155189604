"""The five producer mistakes of issue #18, sent to a real broker for driftd to count.

    produce_mistakes.py client BROKERS PREDICTIONS LABELS N
    produce_mistakes.py raw BROKERS PREDICTIONS LABELS N

`client`: N predictions through DriftLogger, cycling through the mistakes (`ts` as
`time.time() * 1000`, as `time.time()`, as `datetime.now().isoformat()`, a naive and an
aware `datetime`; NaN features; numpy values), then labels for every third one, sent
after all predictions. `raw`: the same records as a service would write them with
`json.dumps` and a plain producer. Prints a JSON summary of what was sent.
"""

import datetime as dt
import json
import sys
import time

import numpy as np
from confluent_kafka import Producer

from driftd_client import DriftLogger


def mistake(i):
    """The `ts` and features of prediction i: each a mistake a service makes."""
    kind = ["float_ms", "seconds", "naive_iso", "naive_datetime", "aware_datetime"][i % 5]
    ts = {
        "float_ms": time.time() * 1000,
        "seconds": time.time(),
        "naive_iso": dt.datetime.now().isoformat(),
        "naive_datetime": dt.datetime.now(),
        "aware_datetime": dt.datetime.now(dt.timezone.utc),
    }[kind]
    income = np.nan if i % 4 == 0 else np.float64(30_000 + i)
    features = {"age": np.int64(20 + i % 50), "income": income, "vip": np.bool_(i % 2)}
    return kind, ts, features, np.float32(0.1 + (i % 9) / 10)


def client(brokers, predictions, labels, n):
    log = DriftLogger(brokers, "churn", "v1", predictions_topic=predictions, labels_topic=labels)
    ids = []
    for i in range(n):
        _, ts, features, score = mistake(i)
        ids.append(log.prediction(features, score, id=f"p{i}", ts=ts))
    labelled = 0
    for i, pid in enumerate(ids):
        if i % 3 == 0:
            log.label(pid, np.int64(i % 2), ts=dt.datetime.now())
            labelled += 1
    log.close()
    s = log.stats()
    return {"predictions": n, "labels": labelled, "delivered": s.delivered, "dropped": s.dropped,
            "failed": s.failed}


def raw(brokers, predictions, labels, n):
    producer = Producer({"bootstrap.servers": brokers})
    sent, unsendable = {}, {}
    for i in range(n):
        kind, ts, features, score = mistake(i)
        if isinstance(ts, dt.datetime):
            ts = ts.isoformat()  # what json.dumps(default=str)-style code ends up sending
        record = {"model": "churn", "model_version": "v1", "id": f"r{i}", "ts": ts,
                  "features": features, "prediction": score}
        try:
            payload = json.dumps(record)
        except TypeError:
            # numpy values: json.dumps refuses them before anything is sent. The
            # usual fix is `.item()`, which keeps the NaN.
            unsendable[kind] = unsendable.get(kind, 0) + 1
            record["features"] = {k: getattr(v, "item", lambda v=v: v)() for k, v in features.items()}
            record["prediction"] = score.item()
            payload = json.dumps(record)
        nan = "NaN" in payload
        key = "nan" if nan else kind
        sent[key] = sent.get(key, 0) + 1
        producer.produce(predictions, payload, b"churn")
        producer.poll(0)
    producer.flush(30)
    return {"sent": sent, "unsendable_with_numpy": unsendable}


if __name__ == "__main__":
    mode, brokers, predictions, labels, n = sys.argv[1:6]
    summary = (client if mode == "client" else raw)(brokers, predictions, labels, int(n))
    print(json.dumps(summary))
