"""The client's own tests: conversions alone, then delivery to the real broker of
scripts/test.sh (DRIFTD_TEST_BROKERS) and a broker that is not there.

Run by tests/python_client.rs: python -m unittest discover clients/python/tests
"""

import datetime as dt
import json
import os
import socket
import time
import unittest
import uuid

import numpy as np
import pandas as pd
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

from driftd_client import DriftLogger, to_record_time, to_value

BROKERS = os.environ.get("DRIFTD_TEST_BROKERS", "127.0.0.1:19192")


class Conversions(unittest.TestCase):
    def test_values(self):
        self.assertEqual(to_value(np.float64(2.5)), 2.5)
        self.assertIs(type(to_value(np.int64(3))), int)
        self.assertIs(to_value(np.bool_(True)), True)
        self.assertIsNone(to_value(float("nan")))
        self.assertIsNone(to_value(np.float32("nan")))
        self.assertIsNone(to_value(float("inf")))
        self.assertEqual(to_value(np.array([0.75])), 0.75)
        self.assertEqual(to_value("gold"), "gold")
        with self.assertRaises(TypeError):
            to_value(np.array([1.0, 2.0]))
        with self.assertRaises(TypeError):
            to_value(object())

    def test_times(self):
        want = "2026-12-03T11:00:00.123Z"
        aware = dt.datetime(2026, 12, 3, 12, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1)))
        self.assertEqual(to_record_time(aware), want)
        self.assertEqual(to_record_time(1796295600.123), want)  # time.time()
        self.assertEqual(to_record_time(1796295600123.9), want)  # time.time() * 1000
        self.assertEqual(to_record_time(1796295600123456), want)  # microseconds
        self.assertEqual(to_record_time(1796295600123456789), want)  # time.time_ns()
        self.assertEqual(to_record_time("2026-12-03T11:00:00.123456Z"), want)
        naive = dt.datetime(2026, 12, 3, 11, 0, 0, 123000)
        self.assertEqual(to_record_time(naive), to_record_time(naive.astimezone()))
        self.assertEqual(to_record_time(naive.isoformat()), to_record_time(naive))
        now = to_record_time(None)
        self.assertTrue(now.endswith("Z") and now[:4] >= "2026", now)
        with self.assertRaises(TypeError):
            to_record_time(-5)


def create_topic(name):
    admin = AdminClient({"bootstrap.servers": BROKERS})
    for f in admin.create_topics([NewTopic(name, 3, 1)]).values():
        f.result(30)


def read(topic, n, timeout=60):
    consumer = Consumer({
        "bootstrap.servers": BROKERS,
        "group.id": f"t-{uuid.uuid4().hex}",
        "auto.offset.reset": "earliest",
    })
    consumer.subscribe([topic])
    out, deadline = [], time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is not None and m.error() is None:
            out.append((m.key(), json.loads(m.value())))
    consumer.close()
    return out


class Delivery(unittest.TestCase):
    def test_records_reach_kafka_in_drifts_format_keyed_by_model(self):
        preds, labels = f"py-preds-{uuid.uuid4().hex[:8]}", f"py-labels-{uuid.uuid4().hex[:8]}"
        create_topic(preds)
        create_topic(labels)
        log = DriftLogger(BROKERS, "churn", "v7", predictions_topic=preds, labels_topic=labels,
                          feature_names=["age", "income"], generate_ids=True)
        row = pd.Series({"age": np.int64(41), "income": np.nan, "plan": "gold"})
        ids = [
            log.prediction({"age": np.float32(40.5), "plan": "basic"}, np.float64(0.25), latency_ms=np.float64(3.0)),
            log.prediction(row, {"score": 0.9, "class": np.str_("yes")}, segment={"region": "eu"}),
            log.prediction(np.array([30.0, np.nan]), np.array([0.5]), id="given"),
        ]
        log.label(ids[0], np.int64(1))
        log.label("given", False)
        log.close()
        self.assertEqual(log.stats().delivered, 5)
        self.assertEqual(log.stats().dropped, 0)
        got = sorted(read(preds, 3), key=lambda r: r[1]["prediction"] if not isinstance(r[1]["prediction"], dict) else 1)
        self.assertEqual({k for k, _ in got}, {b"churn"})
        first, third, second = (r for _, r in got)
        self.assertEqual(first["features"], {"age": 40.5, "plan": "basic"})
        self.assertEqual(first["model_version"], "v7")
        self.assertEqual(len(first["id"]), 32)
        self.assertEqual(second["features"], {"age": 41, "income": None, "plan": "gold"})
        self.assertEqual(second["prediction"], {"score": 0.9, "class": "yes"})
        self.assertEqual(second["segment"], {"region": "eu"})
        self.assertEqual(third["features"], {"age": 30.0, "income": None})
        self.assertEqual(third["id"], "given")
        self.assertEqual(ids[2], "given")
        got_labels = [r for _, r in read(labels, 2)]
        self.assertEqual(sorted((r["id"], r["label"]) for r in got_labels),
                         sorted([(ids[0], 1), ("given", False)]))

    def test_values_that_cannot_be_logged_are_dropped_and_counted(self):
        reasons = []
        log = DriftLogger(BROKERS, "churn", predictions_topic="never-created", on_drop=reasons.append)
        log.prediction([1.0, 2.0], 0.5)  # a sequence without feature_names
        log.prediction({"x": np.array([1.0, 2.0])}, 0.5)
        log.prediction({"x": 1.0}, 0.5, ts="yesterday")
        log.label("a", float("nan"))
        self.assertEqual(log.stats().dropped, 4)
        self.assertEqual(log.stats().queued, 0)
        self.assertTrue(all(r.startswith("invalid") for r in reasons), reasons)
        log.close(timeout=0)


def unused_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BrokerDown(unittest.TestCase):
    def test_a_full_queue_drops_and_counts_without_raising(self):
        log = DriftLogger(f"127.0.0.1:{unused_port()}", "churn", max_queue=1000,
                          producer_config={"message.timeout.ms": 2000})
        for i in range(3000):
            log.prediction({"x": float(i)}, 0.5)
        s = log.stats()
        self.assertEqual(s.queued, 1000)
        self.assertEqual(s.dropped, 2000)
        # Undeliverable records fail after message.timeout.ms, and are counted.
        deadline = time.monotonic() + 30
        while log.stats().failed < 1000 and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(log.stats().failed, 1000)
        log.close(timeout=0)
        log.prediction({"x": 1.0}, 0.5)
        self.assertEqual(log.stats().dropped, 2001, "after close: dropped, not raised")


if __name__ == "__main__":
    unittest.main()
