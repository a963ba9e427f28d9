"""The baseline of `serve_load.py`: the standard-library serving container modelform shipped
before the ASGI server (thread per connection, pandas per request, a batching thread). Run with
`--max-batch-rows 1 --max-delay-ms 0` it answers one request at a time, the usual "model in a
Flask-style container" that the serving stack is measured against. Not used in production.

    python bench/baseline_server.py --model-dir DIR --port P --max-batch-rows 1 --max-delay-ms 0
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from concurrent.futures import Future
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from model_code import inference  # noqa: E402 - after the path is set

log = logging.getLogger("modelform.serve")


@dataclass
class _Pending:
    frame: pd.DataFrame
    accept: str
    future: Future = field(default_factory=Future)
    enqueued: float = field(default_factory=time.perf_counter)


class Batcher:
    """Collects queued requests into batches and predicts them together on one thread."""

    def __init__(self, model_dir: str, max_batch_rows: int, max_delay: float, queue_size: int):
        self.model_dir = model_dir
        self.max_batch_rows = max_batch_rows
        self.max_delay = max_delay
        self.queue: queue.Queue[_Pending] = queue.Queue(maxsize=queue_size)
        self.model: Optional[inference.Model] = None
        self.loaded = threading.Event()
        self.stopping = threading.Event()
        self.batches = 0
        self.thread = threading.Thread(target=self._run, name="batcher", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def submit(self, frame: pd.DataFrame, accept: str) -> Optional[Future]:
        """The request's future, or None when the queue is full (the caller answers 503)."""
        pending = _Pending(frame, accept)
        try:
            self.queue.put_nowait(pending)
        except queue.Full:
            return None
        return pending.future

    def _run(self) -> None:
        self.model = inference.model_fn(self.model_dir)
        self.loaded.set()
        log.info("model loaded from %s", self.model_dir)
        while not (self.stopping.is_set() and self.queue.empty()):
            try:
                first = self.queue.get(timeout=0.05)
            except queue.Empty:
                continue
            batch, rows = [first], len(first.frame)
            deadline = first.enqueued + self.max_delay
            while rows < self.max_batch_rows:
                remaining = deadline - time.perf_counter()
                try:
                    item = self.queue.get(timeout=remaining) if remaining > 0 else self.queue.get_nowait()
                except queue.Empty:
                    break
                batch.append(item)
                rows += len(item.frame)
            self._predict(batch)

    def _predict(self, batch: list[_Pending]) -> None:
        self.batches += 1
        try:  # requests were validated one by one (`prepare`), so the batch is well-formed
            result = inference.predict_prepared(pd.concat([p.frame for p in batch], ignore_index=True), self.model)
        except Exception as error:  # noqa: BLE001 - every waiting request gets an answer
            for pending in batch:
                pending.future.set_exception(error)
            return
        start = 0
        for pending in batch:
            end = start + len(pending.frame)
            part = dict(result, predictions=result["predictions"][start:end])
            pending.future.set_result(inference.output_fn(part, pending.accept))
            start = end


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections
    timeout = 5  # seconds an idle keep-alive connection is kept: draining never waits longer
    batcher: Batcher
    server_version = "modelform-serve"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        return  # per-request logs would dominate the CPU at load; errors are logged below

    def _reply(
        self, status: int, body: str, content_type: str = "application/json", headers: Optional[dict] = None
    ) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.batcher.stopping.is_set():  # draining: this answer is the connection's last
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, headers: Optional[dict] = None) -> None:
        self._reply(status, json.dumps({"error": message}), headers=headers)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/ping":
            if self.batcher.loaded.is_set() and not self.batcher.stopping.is_set():
                self._reply(200, "{}")
            else:
                self._error(503, "not ready" if not self.batcher.loaded.is_set() else "shutting down")
        else:
            self._error(404, f"no such path {self.path}; use GET /ping or POST /invocations")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path != "/invocations":
            self._error(404, f"no such path {self.path}; use POST /invocations")
            return
        if not self.batcher.loaded.is_set():
            self._error(503, "the model is loading", {"Retry-After": "1"})
            return
        try:
            frame = inference.prepare(
                inference.input_fn(body, self.headers.get("Content-Type", "")), self.batcher.model
            )
        except inference.BadRequest as error:
            self._error(400, str(error))
            return
        future = self.batcher.submit(frame, self.headers.get("Accept", "application/json"))
        if future is None:
            self._error(503, "overloaded: the request queue is full; retry shortly", {"Retry-After": "1"})
            return
        try:
            text, content_type = future.result(timeout=60)
        except inference.BadRequest as error:
            self._error(400, str(error))
        except Exception:  # noqa: BLE001
            log.exception("prediction failed")
            self._error(500, "prediction failed; see the server log")
        else:
            self._reply(200, text, content_type)


class Server(ThreadingHTTPServer):
    daemon_threads = False  # shutdown waits for in-flight requests
    block_on_close = True
    request_queue_size = 1024  # the listen backlog: bursts of new connections are not refused


def build_server(
    model_dir: str,
    port: int = 8080,
    host: str = "0.0.0.0",
    max_batch_rows: int = 256,
    max_delay_ms: float = 5.0,
    queue_size: int = 512,
) -> tuple[Server, Batcher]:
    """The server and its batcher, not yet serving (tests run it in a thread)."""
    batcher = Batcher(model_dir, max_batch_rows, max_delay_ms / 1000, queue_size)
    handler = type("BoundHandler", (Handler,), {"batcher": batcher})
    return Server((host, port), handler), batcher


def drain(server: Server, batcher: Batcher) -> None:
    """Stop accepting; requests already accepted are answered (serve() returns when they are)."""
    batcher.stopping.set()
    threading.Thread(target=server.shutdown, daemon=True).start()


def serve(
    model_dir: str,
    port: int = 8080,
    host: str = "0.0.0.0",
    max_batch_rows: int = 256,
    max_delay_ms: float = 5.0,
    queue_size: int = 512,
    drain_seconds: float = 25.0,
) -> int:
    server, batcher = build_server(model_dir, port, host, max_batch_rows, max_delay_ms, queue_size)
    batcher.start()

    def terminate(signum: int, _frame: Any) -> None:
        log.info("signal %d: draining in-flight requests", signum)
        drain(server, batcher)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    log.info("listening on %s:%d", host, port)
    server.serve_forever(poll_interval=0.1)
    started = time.monotonic()
    server.server_close()  # joins the request threads: every accepted request is answered
    batcher.thread.join(timeout=max(0.0, drain_seconds - (time.monotonic() - started)))
    log.info("drained after %d batches; bye", batcher.batches)
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    parser = argparse.ArgumentParser(prog="python -m model_code.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080")))
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--max-batch-rows", type=int, default=256)
    parser.add_argument("--max-delay-ms", type=float, default=5.0)
    parser.add_argument("--queue-size", type=int, default=512)
    parser.add_argument("--drain-seconds", type=float, default=25.0)
    args = parser.parse_args(argv)
    return serve(
        args.model_dir,
        args.port,
        args.host,
        args.max_batch_rows,
        args.max_delay_ms,
        args.queue_size,
        args.drain_seconds,
    )


if __name__ == "__main__":
    sys.exit(main())
