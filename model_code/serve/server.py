"""The serving container's process: uvicorn (httptools, uvloop) running `app.ServingApp` on 8080.

    python -m model_code.serve --model-dir /opt/ml/model [--port 8080] [--drain-seconds 20]
        [--capture-uri s3://bucket/model/deployment/variant/ --capture-percent 10 --capture-kms-key ARN]
        [--mirror-url http://shadow-service/invocations --mirror-percent 25]

What uvicorn leaves to us, and this module adds:
- Connection limits (`GuardedProtocol`): request headers must arrive within `--header-timeout` (408,
  so a client trickling one byte every few seconds cannot hold a connection) and stay under
  `--max-header-bytes` (431); a connection that never sends a byte is closed after the keep-alive
  timeout; a malformed request (a `Content-Length` of `abc` or `-1`) gets 400 with the parser's
  reason instead of a bare close.
- A drain that loses nothing (`DrainingServer`) on SIGTERM: `/ping` turns 503 and every answer
  carries `Connection: close`; new connection attempts stop reaching the listen queue (a socket
  filter drops their SYNs, so clients retry elsewhere instead of being reset); connections the
  kernel already accepted are taken from the queue and served; then the listener closes and every
  request received is answered within `--drain-seconds`. Idle keep-alive connections get a short
  grace instead of an immediate close, so a request already on the wire is answered, not reset.
  The pod's `preStop` sleep and `terminationGracePeriodSeconds` are set from the same figures
  (see the EKS endpoint component).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import logging
import os
import signal
import socket
import struct
import sys
from dataclasses import dataclass
from typing import Optional

import httptools
import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .app import Limits, ServingApp
from .capture import Capture, CaptureTarget
from .mirror import Mirror, MirrorTarget
from .telemetry import Telemetry, configure_logging, event

SO_ATTACH_FILTER = 26  # Linux, <asm-generic/socket.h>
TCP_INFO_UNACKED = 24  # offset of tcpi_unacked in struct tcp_info: a listener's accept queue length


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float = 10.0
    max_header_bytes: int = 16 * 1024
    keep_alive: float = 5.0
    #: While draining, an idle keep-alive connection is closed after this long, not at once: a
    #: request the client sent a moment before still arrives and is answered.
    drain_idle_close: float = 0.5
    #: After refusing a request whose body is still arriving (413, 408), the rest is read and
    #: discarded until the client has been quiet this long (or `linger_max` passes), so the client
    #: reads the refusal instead of a connection reset.
    linger_idle: float = 1.0
    linger_max: float = 10.0


class _HeadersTooLarge(Exception):
    pass


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header deadlines and size limits, and drain behaviour."""

    connection_limits: ConnectionLimits = ConnectionLimits()
    app_ref: Optional[ServingApp] = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_bytes = 0
        self._header_timer: Optional[asyncio.TimerHandle] = None
        self._rejection: Optional[tuple[int, str]] = None
        self._linger_timer: Optional[asyncio.TimerHandle] = None
        self._linger_until = 0.0
        # uvicorn arms its idle timer only after a response; a silent new connection gets one too.
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._cancel_header_timer()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._linger_timer is not None:  # a refused body still arriving: swallow it
            self._linger(self.loop.time())
            return
        self._unset_keepalive_if_required()
        if self.parser is None:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(400, "protocol upgrades are not supported")
        except httptools.HttpParserError as error:
            self._reject(*(self._rejection or (400, f"malformed HTTP request: {error}")))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.connection_limits.header_timeout, self._headers_too_slow)

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        super().on_headers_complete()
        if self.cycle is None:
            return
        self.cycle.transport = _LingeringClose(self.transport, self)  # type: ignore[assignment]
        app = self.app_ref
        if app is not None and app.draining:
            self.cycle.keep_alive = False

    def close_after_answer(self) -> None:
        """Close once the answer is written; linger first if the request body is still arriving."""
        if self.cycle is None or not self.cycle.more_body or self.transport.is_closing():
            self.transport.close()
            return
        try:
            self.transport.write_eof()  # the answer, then FIN: the client sees the whole refusal
        except (NotImplementedError, RuntimeError, OSError):  # pragma: no cover - transports without half-close
            self.transport.close()
            return
        self._unset_keepalive_if_required()
        self.flow.resume_reading()
        now = self.loop.time()
        self._linger_until = now + self.connection_limits.linger_max
        self._linger(now)

    def _linger(self, now: float) -> None:
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        if now >= self._linger_until:
            self.transport.close()
            return
        self._linger_timer = self.loop.call_later(self.connection_limits.linger_idle, self.transport.close)

    def shutdown(self) -> None:
        """Drain: finish the request in flight and close; an idle connection gets a short grace."""
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
            return
        self._unset_keepalive_if_required()
        self.timeout_keep_alive_task = self.loop.call_later(
            self.connection_limits.drain_idle_close, self.timeout_keep_alive_handler
        )

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.connection_limits.max_header_bytes:
            self._rejection = (431, f"request headers over {self.connection_limits.max_header_bytes} bytes")
            raise _HeadersTooLarge

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        self._reject(408, f"request headers did not arrive within {self.connection_limits.header_timeout:g} s")

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _reject(self, status: int, reason: str) -> None:
        """Answer below the application (the request never reached it) and close the connection."""
        self._cancel_header_timer()
        if self.transport.is_closing():
            return
        body = orjson.dumps({"error": reason})
        phrase = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large"}[status]
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, phrase.encode(), len(body), body)
        )
        self.transport.close()
        event(logging.WARNING, "refused", status=status, reason=reason, client=self.client)
        if self.app_ref is not None:
            self.app_ref.telemetry.answered("other", status, 0.0)


class _LingeringClose:
    """The connection's transport as a request sees it, except that `close` lingers (see
    `GuardedProtocol.close_after_answer`)."""

    def __init__(self, transport: asyncio.Transport, protocol: GuardedProtocol):
        self._transport, self._protocol = transport, protocol

    def close(self) -> None:
        self._protocol.close_after_answer()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


def guarded_protocol(limits: ConnectionLimits, app: ServingApp) -> type[GuardedProtocol]:
    return type("BoundGuardedProtocol", (GuardedProtocol,), {"connection_limits": limits, "app_ref": app})


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: ServingApp):
        super().__init__(config)
        self.app = app
        self.exit_code = 0

    def fatal(self, reason: str) -> None:
        event(logging.ERROR, "exiting", reason=reason)
        self.exit_code = 1
        self.should_exit = True

    async def shutdown(self, sockets: Optional[list[socket.socket]] = None) -> None:
        self.app.draining = True
        event(logging.INFO, "draining", connections=len(self.server_state.connections))
        listeners = [socket.socket(fileno=os.dup(s.fileno())) for server in self.servers for s in server.sockets]
        for listener in listeners:
            refuse_new_connections(listener)
        # Connections the kernel completed before the filter are in the listen queue: the event
        # loop keeps accepting them until the queue is empty (or a second passes).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0
        while any(accept_queue_length(s) for s in listeners) and loop.time() < deadline:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.01)  # let connection_made run for the last ones accepted
        for listener in listeners:
            listener.close()
        await super().shutdown(sockets)
        event(logging.INFO, "drained", batches=self.app.batcher.batches if self.app.batcher else 0)


def refuse_new_connections(listener: socket.socket) -> None:
    """Attach a socket filter that drops every packet reaching the listener: new SYNs go
    unanswered (the client's kernel retries, then meets a closed port and tries elsewhere),
    while connections already queued are unaffected. Linux only; elsewhere a no-op."""
    instruction = struct.pack("HBBI", 0x06, 0, 0, 0)  # BPF_RET | BPF_K, 0: keep 0 bytes = drop
    buffer = ctypes.create_string_buffer(instruction, len(instruction))
    program = struct.pack("HL", 1, ctypes.addressof(buffer))
    try:
        listener.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, program)
    except OSError as error:  # pragma: no cover - not Linux
        event(logging.WARNING, "drain-filter-unavailable", reason=str(error))


def accept_queue_length(listener: socket.socket) -> int:
    """Connections waiting in the listener's accept queue (Linux TCP_INFO); 0 where unknown."""
    try:
        info = listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return 0
    return struct.unpack_from("I", info, TCP_INFO_UNACKED)[0]


def build(args: argparse.Namespace) -> DrainingServer:
    """The configured server (tests and the benchmark call `serve` on it)."""
    telemetry = Telemetry()
    capture = None
    if args.capture_uri:
        capture = Capture(
            CaptureTarget.from_uri(args.capture_uri, args.capture_kms_key),
            args.capture_percent,
            region=args.region,
            flush_seconds=args.capture_flush_seconds,
            on_outcome=telemetry.captured,
        )
    mirror = None
    if args.mirror_url:
        mirror = Mirror(MirrorTarget.from_url(args.mirror_url), args.mirror_percent, on_outcome=telemetry.mirrored)
    limits = Limits(
        max_body_bytes=args.max_body_bytes,
        request_timeout=args.request_timeout,
        max_batch_rows=args.max_batch_rows,
        max_delay=args.max_delay_ms / 1000,
        queue_size=args.queue_size,
    )
    app = ServingApp(args.model_dir, limits, capture=capture, mirror=mirror, telemetry=telemetry)
    connection = ConnectionLimits(header_timeout=args.header_timeout, keep_alive=args.keep_alive)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        http=guarded_protocol(connection, app),
        loop="uvloop" if _has("uvloop") else "asyncio",
        lifespan="on",
        access_log=False,
        log_config=None,
        proxy_headers=False,
        server_header=False,
        date_header=False,
        backlog=args.backlog,
        limit_concurrency=args.max_connections,
        timeout_keep_alive=int(max(1, args.keep_alive)),
        timeout_graceful_shutdown=int(max(1, args.drain_seconds)),
    )
    server = DrainingServer(config, app)
    app.on_fatal = server.fatal
    return server


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:  # pragma: no cover - the image installs it
        return False
    return True


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m model_code.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080")))
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--max-batch-rows", type=int, default=256)
    parser.add_argument("--max-delay-ms", type=float, default=2.0, help="wait for a batch to fill when idle")
    parser.add_argument("--queue-size", type=int, default=1024, help="requests waiting; beyond: 503")
    parser.add_argument("--drain-seconds", type=float, default=20.0)
    parser.add_argument("--max-body-bytes", type=int, default=Limits.max_body_bytes)
    parser.add_argument("--request-timeout", type=float, default=Limits.request_timeout)
    parser.add_argument("--header-timeout", type=float, default=ConnectionLimits.header_timeout)
    parser.add_argument("--keep-alive", type=float, default=ConnectionLimits.keep_alive)
    parser.add_argument("--max-connections", type=int, default=4096, help="beyond: 503")
    parser.add_argument("--backlog", type=int, default=2048)
    parser.add_argument("--torch-threads", type=int, default=0, help="0: every core but one (the event loop's)")
    parser.add_argument("--capture-uri", help="s3://bucket/prefix/ for data capture (off without it)")
    parser.add_argument("--capture-percent", type=float, default=0.0)
    parser.add_argument("--capture-kms-key", default="")
    parser.add_argument("--capture-flush-seconds", type=float, default=30.0)
    parser.add_argument("--mirror-url", help="http://... of the shadow's /invocations (off without it)")
    parser.add_argument("--mirror-percent", type=float, default=0.0)
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    args = parser.parse_args(argv)
    if args.capture_uri and not (0 < args.capture_percent <= 100 and args.capture_kms_key):
        parser.error("--capture-uri needs --capture-percent in (0, 100] and --capture-kms-key")
    if args.mirror_url:
        if not 0 < args.mirror_percent <= 100:
            parser.error("--mirror-url needs --mirror-percent in (0, 100]")
        try:
            MirrorTarget.from_url(args.mirror_url)
        except ValueError as error:
            parser.error(str(error))
    return args


def main(argv: Optional[list[str]] = None) -> int:
    configure_logging()
    args = parse_args(argv)
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(args.torch_threads or max(1, cores - 1))
    server = build(args)
    # uvicorn re-raises the signal that stopped it once it has shut down, to exit "by" that signal;
    # after a complete drain the container's exit status is 0 instead (a non-zero status is kept
    # for a failure, such as a model that cannot load).
    for handled in (signal.SIGTERM, signal.SIGINT):
        signal.signal(handled, lambda number, frame: None)
    server.run()
    return server.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
