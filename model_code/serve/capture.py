"""Data capture for EKS endpoints: a sample of requests and responses written to S3 in SageMaker's
data capture format, so the monitoring job (and its drift and quality alarms) reads EKS traffic
exactly as it reads a SageMaker endpoint's.

Each sampled exchange is one JSON line:

    {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                        "data": "...", "encoding": "CSV"},
                     "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                                        "data": "...", "encoding": "JSON"}},
     "eventMetadata": {"eventId": "<uuid>", "inferenceTime": "2026-11-30T12:00:00Z"},
     "eventVersion": "0"}

written to `s3://<bucket>/<prefix>yyyy/mm/dd/hh/<time>-<uuid>.jsonl` with SSE-KMS under the
platform key, as SageMaker lays out its own capture files. Capture never blocks or fails a
request: `offer` only samples and appends to a bounded buffer (a full buffer drops and counts);
a background thread uploads every `flush_seconds` or `flush_records`, and once more at shutdown.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Optional
from urllib.parse import urlparse

import orjson

log = logging.getLogger("modelform.serve")
ENCODINGS = {"text/csv": "CSV", "application/json": "JSON"}


@dataclass(frozen=True)
class CaptureTarget:
    bucket: str
    prefix: str  # ends with "/"
    kms_key_id: str

    @classmethod
    def from_uri(cls, uri: str, kms_key_id: str) -> "CaptureTarget":
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"the capture location must be s3://bucket/prefix/ (got {uri!r})")
        prefix = parsed.path.lstrip("/")
        return cls(parsed.netloc, prefix if not prefix or prefix.endswith("/") else prefix + "/", kms_key_id)


def capture_record(
    request: bytes, request_type: str, response: bytes, response_type: str, when: float, event_id: str
) -> dict[str, Any]:
    """One exchange in SageMaker's capture format (text bodies inline, as SageMaker writes CSV/JSON)."""
    return {
        "captureData": {
            "endpointInput": _part(request, request_type, "INPUT"),
            "endpointOutput": _part(response, response_type, "OUTPUT"),
        },
        "eventMetadata": {
            "eventId": event_id,
            "inferenceTime": datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "eventVersion": "0",
    }


def _part(body: bytes, media_type: str, mode: str) -> dict[str, str]:
    return {
        "observedContentType": media_type,
        "mode": mode,
        "data": body.decode("utf-8"),  # the codec accepted only UTF-8 bodies
        "encoding": ENCODINGS[media_type],
    }


class Capture:
    def __init__(
        self,
        target: CaptureTarget,
        percent: float,
        *,
        client: Any = None,
        region: Optional[str] = None,
        flush_records: int = 1000,
        flush_seconds: float = 30.0,
        max_buffered: int = 20_000,
        sample: Callable[[], float] = random.random,
        on_outcome: Optional[Callable[[str, int], None]] = None,
    ):
        if not 0 < percent <= 100:
            raise ValueError(f"the capture percentage must be in (0, 100] (got {percent})")
        self.target = target
        self.share = percent / 100.0
        self.flush_records = flush_records
        self.flush_seconds = flush_seconds
        self.sample = sample
        self.on_outcome = on_outcome  # ("written" | "dropped", records): metrics
        self._client = client
        self._region = region
        self._buffer: deque[dict[str, Any]] = deque()
        self._max_buffered = max_buffered
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="capture", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def offer(self, request: bytes, request_type: str, response: bytes, response_type: str) -> bool:
        """Sample one exchange; True when it was kept. Never blocks on S3."""
        if self.sample() >= self.share:
            return False
        record = capture_record(request, request_type, response, response_type, time.time(), str(uuid.uuid4()))
        with self._lock:
            if len(self._buffer) >= self._max_buffered:
                self._count("dropped", 1)
                return False
            self._buffer.append(record)
            full = len(self._buffer) >= self.flush_records
        if full:
            self._wake.set()
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Upload what is buffered, then stop the thread."""
        self._closed.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        else:
            self.flush()

    def flush(self) -> int:
        """Upload the buffered records as one object; returns how many were written."""
        with self._lock:
            records = list(self._buffer)
            self._buffer.clear()
        if not records:
            return 0
        now = time.time()
        stamp = datetime.fromtimestamp(now, timezone.utc)
        key = f"{self.target.prefix}{stamp:%Y/%m/%d/%H}/{stamp:%M-%S-%f}-{uuid.uuid4().hex[:12]}.jsonl"
        body = b"\n".join(orjson.dumps(record) for record in records) + b"\n"
        try:
            self._s3().put_object(
                Bucket=self.target.bucket,
                Key=key,
                Body=body,
                ContentType="application/jsonlines",
                ServerSideEncryption="aws:kms",
                SSEKMSKeyId=self.target.kms_key_id,
            )
        except Exception as error:  # noqa: BLE001 - capture must never take the server down
            with self._lock:  # keep them for the next try while there is room; else they are lost
                room = self._max_buffered - len(self._buffer)
                self._buffer.extendleft(reversed(records[:room]))
            lost = max(0, len(records) - room)
            if lost:
                self._count("dropped", lost)
            log.error("data capture upload to s3://%s/%s failed: %s", self.target.bucket, key, error)
            return 0
        self._count("written", len(records))
        return len(records)

    def _loop(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()
        self.flush()

    def _s3(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3", region_name=self._region)
        return self._client

    def _count(self, outcome: str, records: int) -> None:
        if self.on_outcome is not None:
            self.on_outcome(outcome, records)
