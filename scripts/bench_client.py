"""The Python client's cost on the serving thread (scripts/bench-client.sh runs it).

    bench_client.py BROKERS TOPIC N

Times N calls of DriftLogger.prediction (each record's values built just before the
call, outside the timed region, as a service has them at hand) (a realistic record: five features, three of
them numpy values, one NaN; a numpy score; a generated id; the time stamped by the
client) one by one with perf_counter_ns, against the broker at BROKERS and then against
a port with no broker (the queue fills, records are dropped and counted). As a floor,
the same record built by hand with json.dumps and handed to a bare confluent-kafka
Producer, with the broker up and down (what the machine and Python cost anyway). Prints one line per run: mean, p50, p99, p99.9 and max in µs, and the stats.
"""

import json
import socket
import sys
import time
import uuid
import datetime as dt

import numpy as np
from confluent_kafka import Producer

from driftd_client import DriftLogger


def features(i):
    return {"age": np.int64(20 + i % 60), "income": np.float64(30_000 + i) if i % 10 else np.nan,
            "plan": ("basic", "plus", "gold")[i % 3], "tenure": i % 37, "vip": np.bool_(i % 2)}


def summary(name, ns, extra=""):
    ns = np.asarray(ns, dtype=np.float64) / 1000.0
    p = np.percentile(ns, [50, 99, 99.9])
    print(f"{name}: n={len(ns)} mean_us={ns.mean():.2f} p50_us={p[0]:.2f} p99_us={p[1]:.2f} "
          f"p999_us={p[2]:.2f} max_us={ns.max():.1f} over_1ms={(ns > 1000).sum()} {extra}",
          flush=True)


def client(brokers, topic, n, name, timeout_ms=300_000):
    log = DriftLogger(brokers, "churn", "v1", predictions_topic=topic, labels_topic=None,
                      generate_ids=True, producer_config={"message.timeout.ms": timeout_ms})
    times = []
    clock = time.perf_counter_ns
    for i in range(n):
        f, score = features(i), np.float32((i % 100) / 100)
        t0 = clock()
        log.prediction(f, score, latency_ms=3.5)
        times.append(clock() - t0)
    s = log.stats()
    log.close(timeout=0 if s.dropped else 30)
    summary(name, times, f"queued={s.queued} dropped={s.dropped}")


def floor(brokers, topic, n, name="floor (json.dumps + bare Producer)"):
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 50,
                         "queue.buffering.max.messages": 100_000, "log_level": 2})
    times = []
    clock = time.perf_counter_ns
    for i in range(n):
        f, score = features(i), (i % 100) / 100
        t0 = clock()
        record = {"model": "churn", "model_version": "v1", "id": uuid.uuid4().hex,
                  "ts": dt.datetime.now(dt.timezone.utc).isoformat(),
                  "features": {k: (v.item() if hasattr(v, "item") else v) for k, v in f.items()},
                  "prediction": score, "latency_ms": 3.5}
        try:
            producer.produce(topic, json.dumps(record), b"churn")
        except BufferError:
            pass
        producer.poll(0)
        times.append(clock() - t0)
    producer.flush(30 if "down" not in name else 0)
    summary(name, times)


def unused_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    brokers, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    floor(brokers, topic, n)
    client(brokers, topic, n, "client, broker up")
    down = f"127.0.0.1:{unused_port()}"
    floor(down, topic, 2 * 100_000 + n, "floor, broker down (queue 100,000)")
    client(down, topic, 2 * 100_000 + n, "client, broker down (queue 100,000)")
    # Records queued in a burst time out in a burst: 100,000 failure reports served
    # by the client's poll thread while the serving thread logs.
    client(down, topic, 2 * 100_000 + n, "client, broker down, records timing out (5 s)", 5000)
