"""Request mirroring to an EKS deployment's shadow: copies arrive as sent, sampled by the share
asked for, and a slow, failing or unreachable shadow never delays or fails the production answer."""

from __future__ import annotations

import http.server
import itertools
import threading
import time

import pytest

from model_code.serve.mirror import Mirror, MirrorTarget
from model_code.serve.server import parse_args
from tests.model_code.test_serve import ROW, Server, _port, exchange, model_dir, request  # noqa: F401 - fixture


class Shadow:
    """A stand-in shadow Service on loopback that records every copy and answers `status`."""

    def __init__(self, status: int = 200, delay: float = 0.0):
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - the standard library's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay)
                received.append((self.path, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/invocations"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def shadow():
    running = Shadow()
    yield running
    running.close()


def outcomes() -> tuple[list[str], callable]:
    seen: list[str] = []
    return seen, seen.append


def test_every_copy_arrives_as_sent(shadow):
    seen, count = outcomes()
    mirror = Mirror(MirrorTarget.from_url(shadow.url), 100, on_outcome=count)
    mirror.start()
    for index in range(5):
        assert mirror.offer(f"{index},1\n".encode(), "text/csv", "application/json")
    mirror.close()
    assert seen == ["sent"] * 5
    assert [body for _, _, body in shadow.received] == [f"{i},1\n".encode() for i in range(5)]
    path, headers, _ = shadow.received[0]
    assert path == "/invocations"
    assert (headers["Content-Type"], headers["Accept"], headers["X-Modelform-Mirror"]) == (
        "text/csv",
        "application/json",
        "1",
    )


def test_the_share_sampled_is_the_percent_asked_for(shadow):
    draws = itertools.cycle([0.10, 0.30, 0.60, 0.90])  # two of every four fall below 0.5
    mirror = Mirror(MirrorTarget.from_url(shadow.url), 50, sample=lambda: next(draws))
    kept = [mirror.offer(b"1\n", "text/csv", "application/json") for _ in range(8)]
    assert kept == [True, True, False, False] * 2
    assert mirror.send_queued() == 4


def test_a_full_queue_drops_copies_without_blocking():
    seen, count = outcomes()
    mirror = Mirror(MirrorTarget("127.0.0.1", _port(), "/invocations"), 100, max_queued=3, on_outcome=count)
    started = time.perf_counter()
    kept = [mirror.offer(b"1\n", "text/csv", "application/json") for _ in range(5)]  # no thread sends them
    assert time.perf_counter() - started < 0.05
    assert kept == [True, True, True, False, False] and seen == ["dropped", "dropped"]


def test_an_unreachable_shadow_counts_as_failed_within_the_timeout():
    seen, count = outcomes()
    mirror = Mirror(MirrorTarget("127.0.0.1", _port(), "/invocations"), 100, timeout=0.5, on_outcome=count)
    mirror.offer(b"1\n", "text/csv", "application/json")
    started = time.perf_counter()
    assert mirror.send_queued() == 0
    assert seen == ["failed"] and time.perf_counter() - started < 2


def test_a_shadow_answering_errors_counts_as_refused():
    failing = Shadow(status=500)
    try:
        seen, count = outcomes()
        mirror = Mirror(MirrorTarget.from_url(failing.url), 100, on_outcome=count)
        mirror.offer(b"1\n", "text/csv", "application/json")
        assert mirror.send_queued() == 0 and seen == ["refused"]
    finally:
        failing.close()


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--mirror-url", "http://shadow/invocations"], "--mirror-url needs --mirror-percent in (0, 100]"),
        (["--mirror-url", "ftp://shadow/x", "--mirror-percent", "10"], "the mirror target must be http://"),
        (["--mirror-url", "http://shadow/invocations", "--mirror-percent", "150"], "--mirror-percent in (0, 100]"),
    ],
)
def test_bad_mirror_arguments_are_refused_in_one_line(capsys, arguments, message):
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--model-dir", "/m", *arguments])
    assert stopped.value.code == 2 and message in capsys.readouterr().err


def test_the_serving_process_mirrors_answered_requests_only(model_dir, tmp_path):  # noqa: F811 - fixture
    slow = Shadow(delay=1.0)  # a slow shadow: production answers must not wait for it
    server = Server(model_dir, tmp_path / "serve.log", "--mirror-url", slow.url, "--mirror-percent", "100")
    try:
        started = time.perf_counter()
        status, _, _ = exchange(server.port, request("POST", "/invocations", ROW))
        answered = time.perf_counter() - started
        assert status == 200 and answered < 0.9
        assert exchange(server.port, request("POST", "/invocations", b"not,a,row\n"))[0] == 400
        deadline = time.monotonic() + 10
        while not slow.received and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        assert [body for _, _, body in slow.received] == [ROW]  # the refused request was not copied
        metrics = exchange(server.port, request("GET", "/metrics"))[2].decode()
        assert 'modelform_mirrored_requests_total{outcome="sent"} 1.0' in metrics
    finally:
        server.stop()
        slow.close()
