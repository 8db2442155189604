"""Log predictions and labels to Kafka in driftd's record format.

The serving thread pays for turning one prediction into JSON and handing it to
librdkafka's queue; batching, compression and retries happen on librdkafka's own
threads, and a daemon thread of this module serves delivery reports. Nothing here
blocks or raises into the caller: a full queue or a value that cannot be logged drops
the record and counts it (`DriftLogger.stats()`).
"""

from __future__ import annotations

import atexit
import datetime as _dt
import json
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

__all__ = ["DriftLogger", "Stats", "to_record_time", "to_value"]

_log = logging.getLogger("driftd_client")
_UTC = _dt.timezone.utc

# Epoch numbers are told apart by magnitude: seconds below 1e11 (year 5138),
# milliseconds below 1e14, microseconds below 1e17, nanoseconds above.
_SECONDS_PER_UNIT = ((1e11, 1.0), (1e14, 1e-3), (1e17, 1e-6), (math.inf, 1e-9))

Timestamp = Union[_dt.datetime, str, int, float, None]


@dataclass(frozen=True)
class Stats:
    """What happened to the records logged so far."""

    #: Handed to the producer's queue.
    queued: int
    #: Acknowledged by the broker.
    delivered: int
    #: Given up by the producer (broker unreachable for `message.timeout.ms`, topic
    #: missing, record too large).
    failed: int
    #: Never queued: the queue was full, or a value could not be logged.
    dropped: int


def to_value(value: Any) -> Any:
    """A feature, score or label as JSON can carry it: numpy scalars and 0-d or
    1-element arrays become Python numbers, and NaN or an infinity becomes None
    (missing), since JSON has neither."""
    kind = type(value)
    if kind is float:  # the common cases first: this runs per feature per call
        return value if value - value == 0.0 else None  # NaN and ±inf fail this
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if isinstance(value, (str, bool)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return value
    item = getattr(value, "item", None)  # numpy and pandas scalars, 1-element arrays
    if item is not None:
        try:
            return to_value(item())
        except (ValueError, TypeError):
            pass
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    try:
        f = float(value)  # Decimal, Fraction
    except (TypeError, ValueError):
        raise TypeError(f"cannot log a {type(value).__name__} as a value") from None
    return f if math.isfinite(f) else None


def to_record_time(ts: Timestamp) -> str:
    """`ts` as RFC 3339 UTC with milliseconds. A naive `datetime` or ISO string is the
    host's local time (as Python's `datetime.astimezone` reads it); a number is epoch
    seconds, milliseconds, microseconds or nanoseconds by its magnitude; None is now."""
    if ts is None:
        return _dt.datetime.now(_UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
    if isinstance(ts, _dt.datetime):
        moment = ts.astimezone(_UTC)
    elif isinstance(ts, str):
        moment = _dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(_UTC)
    else:
        number = to_value(ts)
        if not isinstance(number, (int, float)) or isinstance(number, bool) or number < 0:
            raise TypeError(f"ts {ts!r} is not a time")
        scale = next(s for limit, s in _SECONDS_PER_UNIT if number < limit)
        if isinstance(number, int) and scale != 1.0:
            # Exact: nanoseconds since 1970 have more digits than a float keeps.
            divisor = round(1 / scale)
            moment = _dt.datetime.fromtimestamp(number // divisor, _UTC) + _dt.timedelta(
                microseconds=(number % divisor) * 1_000_000 // divisor
            )
        else:
            moment = _dt.datetime.fromtimestamp(number * scale, _UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _features(features: Any, names: Optional[Sequence[str]]) -> dict:
    if type(features) is dict:
        return {k if type(k) is str else str(k): to_value(v) for k, v in features.items()}
    if isinstance(features, Mapping):
        items: Iterable = features.items()
    elif hasattr(features, "items") and hasattr(features, "index"):  # a pandas Series
        items = features.items()
    else:
        values = features.tolist() if hasattr(features, "tolist") else list(features)
        if names is None or len(names) != len(values):
            raise TypeError(
                f"{len(values)} feature values without as many feature_names"
                if names is not None
                else "a sequence of features needs feature_names="
            )
        items = zip(names, values)
    return {str(k): to_value(v) for k, v in items}


class DriftLogger:
    """Logs one model's predictions and labels. Thread-safe; one per model version.

    `brokers`: Kafka's `bootstrap.servers`. `predictions_topic` / `labels_topic`: the
    topics of driftd's `[[source]]` tables. `feature_names`: the names of features
    passed as sequences or arrays. `max_queue`: records held while the broker is slow
    or down (librdkafka's `queue.buffering.max.messages`). `producer_config`: more
    librdkafka settings (security, `linger.ms`, …). `on_drop`: called with the reason
    of each record dropped, e.g. to count it in the service's own metrics.
    """

    def __init__(
        self,
        brokers: str,
        model: str,
        version: Optional[str] = None,
        *,
        predictions_topic: str = "predictions",
        labels_topic: Optional[str] = "labels",
        feature_names: Optional[Sequence[str]] = None,
        generate_ids: bool = False,
        max_queue: int = 100_000,
        producer_config: Optional[Mapping[str, Any]] = None,
        on_drop: Optional[Callable[[str], None]] = None,
    ) -> None:
        from confluent_kafka import Producer  # imported here: the module loads without it

        config = {
            "bootstrap.servers": brokers,
            "linger.ms": 50,
            "compression.type": "lz4",
            "queue.buffering.max.messages": max_queue,
            # Delivery is retried for this long, then the record counts as failed.
            "message.timeout.ms": 300_000,
            "enable.idempotence": True,
            # Kafka's (Java's) default partitioner, not librdkafka's CRC32: every record
            # of a model lands on the partition driftd's cluster mode expects.
            "partitioner": "murmur2_random",
            "client.id": f"driftd-client-{model}",
            # A report per failed record only: one per delivered record would cost the
            # serving thread the GIL for a Python callback each time.
            "delivery.report.only.error": True,
            "on_delivery": self._on_failed,
            "error_cb": self._on_error,
            # librdkafka's own log lines go to this module's logger, not stderr; its
            # errors arrive through error_cb, which logs them once a minute.
            "logger": _log,
            "log_level": 2,
        }
        config.update(producer_config or {})
        self._producer = Producer(config)
        self.model = model
        self.version = version
        self.predictions_topic = predictions_topic
        self.labels_topic = labels_topic
        self.feature_names = list(feature_names) if feature_names is not None else None
        self.generate_ids = generate_ids
        self._on_drop = on_drop
        self._key = model.encode()
        self._lock = threading.Lock()
        self._queued = self._failed = self._dropped = 0
        self._last_error_log = -math.inf
        self._closed = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="driftd-client", daemon=True)
        self._poller.start()
        atexit.register(self.close)

    # The serving path.

    def prediction(
        self,
        features: Any = None,
        prediction: Any = None,
        *,
        id: Optional[str] = None,
        ts: Timestamp = None,
        latency_ms: Optional[float] = None,
        segment: Optional[Mapping[str, Any]] = None,
        version: Optional[str] = None,
    ) -> Optional[str]:
        """Logs one prediction; returns its id (generated when `generate_ids` and none
        is given), or None when it has none. `prediction`: a score, a class, or a dict
        with `score` and `class`."""
        if id is None and self.generate_ids:
            id = uuid.uuid4().hex
        try:
            record: dict = {"model": self.model}
            v = version or self.version
            if v is not None:
                record["model_version"] = v
            if id is not None:
                record["id"] = str(id)
            record["ts"] = to_record_time(ts)
            if features is not None:
                record["features"] = _features(features, self.feature_names)
            if prediction is not None:
                if isinstance(prediction, Mapping):
                    record["prediction"] = {k: to_value(x) for k, x in prediction.items()}
                else:
                    record["prediction"] = to_value(prediction)
            if latency_ms is not None:
                record["latency_ms"] = to_value(latency_ms)
            if segment:
                record["segment"] = {str(k): to_value(x) for k, x in segment.items()}
            payload = json.dumps(record, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError, OverflowError) as e:
            self._drop(f"invalid: {e}")
            return id
        self._send(self.predictions_topic, payload)
        return id

    def label(self, id: str, label: Any, *, ts: Timestamp = None) -> None:
        """Logs the ground truth of the prediction `id`: a number, a boolean or a class."""
        if self.labels_topic is None:
            self._drop("invalid: no labels_topic")
            return
        try:
            value = to_value(label)
            if value is None:
                raise ValueError(f"label {label!r} is missing")
            record = {"model": self.model, "id": str(id), "label": value, "ts": to_record_time(ts)}
            payload = json.dumps(record, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError, OverflowError) as e:
            self._drop(f"invalid: {e}")
            return
        self._send(self.labels_topic, payload)

    def _send(self, topic: str, payload: str) -> None:
        if self._closed.is_set():
            self._drop("closed")
            return
        try:
            self._producer.produce(topic, payload, self._key)
        except BufferError:
            self._drop("queue full")
            return
        except Exception as e:  # KafkaException: e.g. a record over message.max.bytes
            self._drop(f"refused: {e}")
            return
        with self._lock:
            self._queued += 1

    def _drop(self, reason: str) -> None:
        with self._lock:
            self._dropped += 1
            first = self._dropped == 1 or self._dropped % 10_000 == 0
        if first:
            _log.warning("driftd-client dropped a record (%s); %d so far", reason, self._dropped)
        if self._on_drop is not None:
            try:
                self._on_drop(reason)
            except Exception:  # the caller's hook must not break the serving path
                _log.exception("driftd-client on_drop hook failed")

    # librdkafka's side.

    def _on_failed(self, err: Any, _msg: Any) -> None:
        if err is None:
            return
        with self._lock:
            self._failed += 1
            failed = self._failed
        if failed == 1 or failed % 10_000 == 0:
            _log.warning("driftd-client: delivery failed (%s); %d so far", err, failed)

    def _on_error(self, err: Any) -> None:
        # A broker that is down reports every reconnect attempt: once a minute is enough.
        now = time.monotonic()
        if now - self._last_error_log >= 60:
            self._last_error_log = now
            _log.warning("driftd-client: %s (repeats are logged once a minute)", err)

    def _poll(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.1)

    # Lifecycle.

    def stats(self) -> Stats:
        with self._lock:
            queued, failed, dropped = self._queued, self._failed, self._dropped
            # Success is reported by absence: what left the queue and did not fail.
            delivered = queued - failed - len(self._producer)
        return Stats(queued, max(delivered, 0), failed, dropped)

    def flush(self, timeout: float = 10.0) -> int:
        """Waits up to `timeout` seconds for queued records; returns how many are
        still waiting."""
        return self._producer.flush(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Flushes and stops; later records are dropped. Called at exit too."""
        if self._closed.is_set():
            return
        left = self.flush(timeout)
        self._closed.set()
        self._poller.join(timeout=1.0)
        atexit.unregister(self.close)
        if left:
            _log.warning("driftd-client closed with %d records undelivered", left)

    def __enter__(self) -> "DriftLogger":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
