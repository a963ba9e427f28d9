"""Request mirroring for EKS shadow tests: a copy of a share of the answered requests is sent to the
deployment's shadow Service, whose own data capture records its answers for the monitoring job.

SageMaker copies requests to a shadow variant itself; on EKS the production pods do it, so the
shadow sees the same traffic without a proxy in the path. A mirror never delays, changes or fails
the answer its client waits for: `offer` only samples and appends to a bounded queue (a full
queue drops and counts), and one background thread posts the copies over a kept-alive connection
with a short timeout. What happens to each copy is counted (`sent`, `refused` for an answer of
400 or more, `failed` when the shadow cannot be reached in time, `dropped` when the queue is full).
"""

from __future__ import annotations

import http.client
import logging
import random
import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable, Optional
from urllib.parse import urlparse

log = logging.getLogger("modelform.serve")


@dataclass(frozen=True)
class MirrorTarget:
    host: str
    port: int
    path: str

    @classmethod
    def from_url(cls, url: str) -> "MirrorTarget":
        parsed = urlparse(url)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"the mirror target must be http://host[:port]/path (got {url!r})")
        return cls(parsed.hostname, parsed.port or 80, parsed.path or "/invocations")


@dataclass(frozen=True)
class Copy:
    body: bytes
    content_type: str
    accept: str


class Mirror:
    def __init__(
        self,
        target: MirrorTarget,
        percent: float,
        *,
        timeout: float = 2.0,
        max_queued: int = 1000,
        sample: Callable[[], float] = random.random,
        on_outcome: Optional[Callable[[str], None]] = None,
    ):
        if not 0 < percent <= 100:
            raise ValueError(f"the mirror percentage must be in (0, 100] (got {percent})")
        self.target = target
        self.share = percent / 100.0
        self.timeout = timeout
        self.sample = sample
        self.on_outcome = on_outcome
        self._queue: deque[Copy] = deque()
        self._max_queued = max_queued
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._connection: Optional[http.client.HTTPConnection] = None
        self._thread = threading.Thread(target=self._loop, name="mirror", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def offer(self, body: bytes, content_type: str, accept: str) -> bool:
        """Sample one answered request; True when a copy was queued. Never blocks on the network."""
        if self.sample() >= self.share:
            return False
        with self._lock:
            if len(self._queue) >= self._max_queued:
                self._count("dropped")
                return False
            self._queue.append(Copy(body, content_type, accept))
        self._wake.set()
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (within `timeout`), then stop the thread."""
        self._closed.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def send_queued(self) -> int:
        """Post every queued copy; returns how many the shadow accepted."""
        accepted = 0
        while True:
            with self._lock:
                if not self._queue:
                    return accepted
                copy = self._queue.popleft()
            outcome = self._post(copy)
            self._count(outcome)
            accepted += outcome == "sent"

    def _post(self, copy: Copy) -> str:
        for attempt in (1, 2):  # a kept-alive connection the shadow closed is retried once, fresh
            try:
                connection = self._open()
                connection.request(
                    "POST",
                    self.target.path,
                    body=copy.body,
                    headers={"Content-Type": copy.content_type, "Accept": copy.accept, "X-Modelform-Mirror": "1"},
                )
                response = connection.getresponse()
                response.read()
                return "sent" if response.status < 400 else "refused"
            except (OSError, http.client.HTTPException) as error:
                self._reset()
                if attempt == 2 or isinstance(error, TimeoutError):
                    log.warning("mirror to %s:%s failed: %s", self.target.host, self.target.port, error)
                    return "failed"
        return "failed"

    def _open(self) -> http.client.HTTPConnection:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self.target.host, self.target.port, timeout=self.timeout)
        return self._connection

    def _reset(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _loop(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            self.send_queued()
        self.send_queued()
        self._reset()

    def _count(self, outcome: str) -> None:
        if self.on_outcome is not None:
            self.on_outcome(outcome)
