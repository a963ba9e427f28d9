"""Prometheus metrics of the serving container (`GET /metrics`, scraped through the pod's
`prometheus.io/*` annotations) and structured logs: one JSON line per event."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

log = logging.getLogger("modelform.serve")
#: Latency buckets in seconds: dense under 250 ms, where the serving target lies.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 10000)
PATHS = ("/invocations", "/ping", "/metrics", "other")


class Telemetry:
    """One registry per server (tests run several in one process)."""

    # The text format every Prometheus (2.x and 3.x) and agent scrapes; our names need no escaping.
    content_type = CONTENT_TYPE_PLAIN_0_0_4

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "modelform_requests",
            "HTTP requests answered, by path and status",
            ["path", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modelform_request_seconds",
            "Time from the request's headers to the last byte of its answer",
            ["path"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge("modelform_queue_depth", "Requests waiting for the model", registry=self.registry)
        self.batch_rows = Histogram(
            "modelform_batch_rows", "Rows per model call", buckets=BATCH_BUCKETS, registry=self.registry
        )
        self.batch_requests = Histogram(
            "modelform_batch_requests", "Requests per model call", buckets=BATCH_BUCKETS, registry=self.registry
        )
        self.capture = Counter(
            "modelform_capture_records", "Data capture records, by outcome", ["outcome"], registry=self.registry
        )
        self.mirror = Counter(
            "modelform_mirrored_requests", "Copies sent to the shadow, by outcome", ["outcome"], registry=self.registry
        )
        self._latency = {path: self.latency.labels(path) for path in PATHS}

    def answered(self, path: str, status: int, seconds: float) -> None:
        key = path if path in self._latency else "other"
        self.requests.labels(key, str(status)).inc()
        self._latency[key].observe(seconds)

    def batch(self, rows: int, requests: int) -> None:
        self.batch_rows.observe(rows)
        self.batch_requests.observe(requests)

    def captured(self, outcome: str, records: int) -> None:
        self.capture.labels(outcome).inc(records)

    def mirrored(self, outcome: str) -> None:
        self.mirror.labels(outcome).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def event(level: int, name: str, **fields: Any) -> None:
    """One log line: {"time", "level", "event": name, ...fields} (see `JsonLines`)."""
    if log.isEnabledFor(level):
        log.log(level, name, extra={"fields": fields})


class JsonLines(logging.Formatter):
    """Every record as one JSON object on one line: log search and alerting parse it as is."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        return orjson.dumps(line, default=str).decode()


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLines())
    for name in ("modelform", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
