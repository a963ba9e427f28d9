"""The serving application (plain ASGI, run by uvicorn): the SageMaker container contract
(`GET /ping`, `POST /invocations`) plus `GET /metrics`.

Every request gets an answer with a status and a one-line JSON reason, never a dropped connection
or a traceback:
- 400 malformed body (see `codec`), 404/405 unknown path or method, 406 an `Accept` the model cannot
  answer, 408 a body that does not arrive within the request deadline, 413 a body over
  `max_body_bytes` (refused from `Content-Length` before reading, or as soon as a chunked body
  passes the limit) or over `codec.MAX_ROWS` rows, 415 an unsupported `Content-Type`;
- 503 with `Retry-After` while the model loads, when the queue is full, when the model does not
  answer within the deadline, and while draining;
- 500 only for the model's own faults (a failed batch, a non-finite prediction).
`/ping` is 200 only while the model is loaded, the batcher is healthy and the server is not
draining, so probes and load balancers stop sending traffic the pod cannot answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Optional

import orjson

from . import codec
from .batcher import Batcher, Overloaded
from .capture import Capture
from .mirror import Mirror
from .model import ServedModel
from .telemetry import Telemetry, event

Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]
JSON_HEADER = (b"content-type", b"application/json")
RETRY_AFTER = (b"retry-after", b"1")
CLOSE = (b"connection", b"close")


@dataclass(frozen=True)
class Limits:
    #: SageMaker real-time endpoints refuse payloads over 6 MB; the same limit here.
    max_body_bytes: int = 6 * 1024 * 1024
    #: From the request's headers to its answer (body arrival, queueing and the model together).
    request_timeout: float = 20.0
    max_batch_rows: int = 256
    max_delay: float = 0.002
    queue_size: int = 1024
    stall_seconds: float = 30.0


class ClientGone(Exception):
    """The client closed the connection before its body arrived: nobody to answer."""


class ServingApp:
    def __init__(
        self,
        model_dir: str,
        limits: Limits = Limits(),
        *,
        capture: Optional[Capture] = None,
        mirror: Optional[Mirror] = None,
        telemetry: Optional[Telemetry] = None,
        on_fatal: Callable[[str], None] = lambda reason: None,
        load: Callable[[str], ServedModel] = ServedModel,
    ):
        self.model_dir = model_dir
        self.limits = limits
        self.capture = capture
        self.mirror = mirror  # a deployment's shadow: copies of answered requests
        self.telemetry = telemetry or Telemetry()
        self.on_fatal = on_fatal  # the model cannot load: the server exits non-zero
        self.load = load
        self.model: Optional[ServedModel] = None
        self.batcher: Optional[Batcher] = None
        self.draining = False
        self._loading: Optional[asyncio.Task] = None
        self._overloads_unlogged = 0
        self._overload_logged_at = 0.0
        self.telemetry.queue_depth.set_function(lambda: self.batcher.queue.qsize() if self.batcher else 0)

    # --- lifecycle ---------------------------------------------------------------------------------

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        """Start loading the model in the background: `/ping` answers 503 meanwhile."""
        if self.capture is not None:
            self.capture.start()
        if self.mirror is not None:
            self.mirror.start()
        self._loading = asyncio.get_running_loop().create_task(self._load())

    async def _load(self) -> None:
        try:
            model = await asyncio.get_running_loop().run_in_executor(None, self.load, self.model_dir)
        except Exception as error:  # noqa: BLE001 - reported once, then the process exits
            event(
                logging.ERROR, "model-load-failed", model_dir=self.model_dir, reason=f"{type(error).__name__}: {error}"
            )
            self.on_fatal(f"the model in {self.model_dir} cannot be loaded: {error}")
            return
        limits = self.limits
        self.batcher = Batcher(
            model.predict,
            max_batch_rows=limits.max_batch_rows,
            max_delay=limits.max_delay,
            queue_size=limits.queue_size,
            stall_seconds=limits.stall_seconds,
            on_batch=self.telemetry.batch,
        )
        self.batcher.start()
        self.model = model
        event(logging.INFO, "model-loaded", model_dir=self.model_dir, device=str(model.device))

    async def shutdown(self) -> None:
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        if self.batcher is not None:
            await self.batcher.stop()
        if self.capture is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.capture.close)
        if self.mirror is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.mirror.close)

    @property
    def ready(self) -> tuple[bool, str]:
        if self.draining:
            return False, "shutting down"
        if self.model is None or self.batcher is None:
            return False, "the model is loading"
        if not self.batcher.healthy:
            return False, "the model worker is unhealthy"
        return True, ""

    # --- requests ----------------------------------------------------------------------------------

    async def _http(self, scope: dict, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        path, method = scope["path"], scope["method"]
        extra: list[tuple[bytes, bytes]] = []
        if path == "/invocations" and method == "POST":
            status, body, content_type, extra = await self._invoke(scope, receive)
        elif path == "/ping" and method in ("GET", "HEAD"):
            ready, reason = self.ready
            status, body, content_type = (200, b"{}", b"application/json") if ready else _error(503, reason)
        elif path == "/metrics" and method == "GET":
            status, body, content_type = 200, self.telemetry.exposition(), self.telemetry.content_type.encode()
        elif path in ("/invocations", "/ping", "/metrics"):
            allowed = "POST" if path == "/invocations" else "GET, HEAD"
            status, body, content_type = _error(405, f"{path} accepts {allowed}")
            extra = [(b"allow", allowed.encode())]
        else:
            status, body, content_type = _error(404, f"no such path {path}; use POST /invocations or GET /ping")
        if status in (404, 405):
            event(logging.WARNING, "refused", path=path, method=method, status=status)
        if status == 0:  # the client left before its request arrived: nothing to send
            return
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra]
        if self.draining and CLOSE not in headers:
            headers.append(CLOSE)  # this connection's last answer: the client reconnects elsewhere
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body if method != "HEAD" else b""})
        self.telemetry.answered(path, status, time.perf_counter() - started)

    async def _invoke(self, scope: dict, receive: Receive) -> tuple[int, bytes, bytes, list]:
        content_type = accept = length = ""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"accept":
                accept = value.decode("latin-1")
            elif name == b"content-length":
                length = value.decode("latin-1")
        request_type, waiting_for = "", "body"
        try:
            if self.model is None or self.batcher is None:
                raise codec.Refused(503, "the model is loading; retry shortly")
            request_type = codec.request_media_type(content_type)
            answer_type = codec.response_media_type(accept)
            if length and not length.isdigit():
                raise codec.Refused(400, f"Content-Length {length!r} is not a byte count")
            if length and int(length) > self.limits.max_body_bytes:
                raise codec.Refused(413, f"the body is {length} bytes; at most {self.limits.max_body_bytes}")
            async with asyncio.timeout(self.limits.request_timeout):
                body = await self._read_body(receive)
                waiting_for = "model"
                rows = self.model.codec.decode(body, request_type)
                future = self.batcher.submit(rows)
                predictions = await future
            payload = self.model.codec.encode(predictions, answer_type)
        except codec.Refused as refusal:
            return self._refused(refusal, scope, request_type)
        except Overloaded:
            self._overloaded()
            status, body, kind = _error(503, "overloaded: the request queue is full; retry shortly")
            return status, body, kind, [RETRY_AFTER]
        except TimeoutError:
            if waiting_for == "body":
                return self._refused(
                    codec.Refused(408, f"the body did not arrive within {self.limits.request_timeout:g} s"), scope, ""
                )
            return self._refused(
                codec.Refused(503, f"the model did not answer within {self.limits.request_timeout:g} s"), scope, ""
            )
        except ClientGone:
            return 0, b"", b"", []
        except Exception as error:  # noqa: BLE001 - the model's fault: a 500 with a reason, logged once
            reason = f"prediction failed: {type(error).__name__}: {error}"
            if isinstance(error, codec.ModelFault):
                reason = str(error)
            event(logging.ERROR, "prediction-failed", path=scope["path"], status=500, reason=reason)
            return (*_error(500, reason), [])
        if self.capture is not None:
            self.capture.offer(body, request_type, payload, answer_type)
        if self.mirror is not None:  # only requests the model answered: the shadow sees what production saw
            self.mirror.offer(body, request_type, answer_type)
        return 200, payload, answer_type.encode(), []

    async def _read_body(self, receive: Receive) -> bytes:
        chunks, size, limit = [], 0, self.limits.max_body_bytes
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise codec.Refused(413, f"the body is over {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _refused(self, refusal: codec.Refused, scope: dict, request_type: str) -> tuple[int, bytes, bytes, list]:
        extra = []
        if refusal.status in (408, 413):
            extra.append(CLOSE)  # the rest of the body is unread: the connection cannot carry another request
        if refusal.status == 503:
            extra.append(RETRY_AFTER)
        level = logging.WARNING if refusal.status < 500 else logging.ERROR
        event(level, "refused", path=scope["path"], status=refusal.status, reason=refusal.reason)
        status, body, kind = _error(refusal.status, refusal.reason)
        return status, body, kind, extra

    def _overloaded(self) -> None:
        """Count overload refusals; log them as one line per second, not one per request."""
        self._overloads_unlogged += 1
        now = time.monotonic()
        if now - self._overload_logged_at >= 1.0:
            event(logging.WARNING, "overloaded", status=503, refused=self._overloads_unlogged)
            self._overloads_unlogged, self._overload_logged_at = 0, now


def _error(status: int, reason: str) -> tuple[int, bytes, bytes]:
    return status, orjson.dumps({"error": reason}), JSON_HEADER[1]
