"""The demo's Python model service: logs model `pricing`'s predictions through the
driftd client (clients/python) the way serving code has them at hand — numpy values,
a NaN now and then, `datetime.now()` without a zone — and each label 20 s later.

    demo_service.py BROKERS [RATE]
"""

import datetime as dt
import signal
import sys
import time

import numpy as np

from driftd_client import DriftLogger

brokers = sys.argv[1]
rate = float(sys.argv[2]) if len(sys.argv) > 2 else 50.0
rng = np.random.default_rng(11)
log = DriftLogger(brokers, "pricing", "v3", predictions_topic="predictions",
                  labels_topic="labels", generate_ids=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # exits through close()

pending = []  # (due, id, label)
start = time.monotonic()
sent = 0
try:
    while True:
        basket = rng.lognormal(3.5, 0.6)
        visits = rng.poisson(4)
        features = {
            "basket": np.float64(basket),
            "visits": np.int64(visits),
            "coupon": np.bool_(rng.random() < 0.2),
            "discount": np.nan if rng.random() < 0.05 else np.float32(rng.random() * 0.3),
        }
        score = np.float64(1 / (1 + np.exp(-(np.log(basket) - 3.5 + 0.1 * visits - 0.4))))
        pid = log.prediction(features, score, ts=dt.datetime.now(),
                             latency_ms=np.float64(rng.gamma(2.0, 4.0)),
                             segment={"channel": ("web", "app")[sent % 2]})
        pending.append((time.monotonic() + 20, pid, np.int64(rng.random() < score)))
        while pending and pending[0][0] <= time.monotonic():
            _, due_id, label = pending.pop(0)
            log.label(due_id, label)
        sent += 1
        time.sleep(max(0.0, start + sent / rate - time.monotonic()))
finally:
    log.close()
    s = log.stats()
    print(f"demo service: {s.queued} records sent through the driftd client, "
          f"{s.dropped} dropped, {s.failed} failed", file=sys.stderr)
