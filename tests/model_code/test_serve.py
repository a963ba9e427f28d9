"""The serving container as a process on loopback (uvicorn, the real protocol): malformed HTTP,
slow and silent clients, oversized headers and bodies, clients that vanish, and SIGTERM with
requests still in the kernel's accept queue."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from model_code import train
from tests.conftest import REPO
from tests.model_code.synthetic import write_channels

ROW = b"510.0,0.3,-0.2,1.1,north\n"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    channels = write_channels(folder / "data", "binary_classification", rows=600)
    arguments = ["--epochs", "1", "--train", channels["train"], "--validation", channels["validation"]]
    arguments += ["--model-dir", str(folder / "model"), "--output-dir", str(folder / "out")]
    train.train(train.parse_args([*arguments, "--checkpoint-dir", str(folder / "ckpt"), "--hidden", "16"]))
    return str(folder / "model")


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, model_dir: str, log: Path, *extra: str):
        self.port = _port()
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "model_code.serve", "--model-dir", model_dir, "--host", "127.0.0.1"]
            + ["--port", str(self.port), *extra],
            cwd=REPO,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        for _ in range(300):
            try:
                if exchange(self.port, request("GET", "/ping"))[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(log.read_text())

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    running = Server(
        model_dir, tmp_path_factory.mktemp("log") / "serve.log", "--header-timeout", "1", "--keep-alive", "2"
    )
    yield running
    running.stop()


def request(method: str, path: str, body: bytes = b"", headers: dict | None = None) -> bytes:
    headers = {"Host": "test", "Content-Type": "text/csv", "Content-Length": str(len(body)), **(headers or {})}
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items() if value is not None)
    return f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode() + body


def read_answer(connection: socket.socket) -> tuple[int, dict, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionResetError(f"closed without an answer after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", 0))
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def exchange(port: int, raw: bytes, timeout: float = 30) -> tuple[int, dict, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(raw)
        return read_answer(connection)


def closed_by_server(connection: socket.socket) -> bool:
    try:
        return connection.recv(1) == b""
    except ConnectionResetError:
        return True


def test_predictions_over_csv_and_json(server):
    status, headers, body = exchange(server.port, request("POST", "/invocations", ROW * 2))
    assert status == 200 and headers["content-type"] == "application/json" and len(json.loads(body)["predictions"]) == 2
    status, headers, body = exchange(server.port, request("POST", "/invocations", ROW, {"Accept": "text/csv"}))
    assert status == 200 and headers["content-type"] == "text/csv" and 0 <= float(body) <= 1


@pytest.mark.parametrize(
    "length, status, reason",
    [
        ("abc", 400, "malformed HTTP request: Invalid character in Content-Length"),
        ("-1", 400, "malformed HTTP request: Invalid character in Content-Length"),
        ("2147483648", 413, "the body is 2147483648 bytes; at most 6291456"),
    ],
)
def test_bad_content_length_gets_an_answer_not_a_dropped_connection(server, length, status, reason):
    answer = exchange(server.port, request("POST", "/invocations", ROW, {"Content-Length": length}))
    assert answer[0] == status and json.loads(answer[2]) == {"error": reason}
    assert answer[1]["connection"] == "close"


def test_headers_over_the_limit_are_431(server):
    answer = exchange(server.port, request("POST", "/invocations", ROW, {"X-Padding": "x" * 20_000}))
    assert answer[0] == 431 and json.loads(answer[2]) == {"error": "request headers over 16384 bytes"}


def test_a_client_trickling_its_headers_gets_408_at_the_header_deadline(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        started = time.monotonic()
        connection.sendall(b"POST /invocations HTTP/1.1\r\n")
        answer = None
        for byte in b"Content-Type: text/csv\r\n":
            try:
                connection.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.3)
            connection.settimeout(0.01)
            try:
                if connection.recv(1, socket.MSG_PEEK):
                    break
            except (TimeoutError, BlockingIOError):
                pass
            finally:
                connection.settimeout(10)
        answer = read_answer(connection)
        elapsed = time.monotonic() - started
    assert answer[0] == 408 and json.loads(answer[2]) == {"error": "request headers did not arrive within 1 s"}
    assert elapsed < 3


def test_a_silent_connection_is_closed_after_the_keep_alive_timeout(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        started = time.monotonic()
        assert closed_by_server(connection)
        assert time.monotonic() - started < 4


def test_a_slow_body_gets_408_at_the_request_deadline(model_dir, tmp_path):
    slow = Server(model_dir, tmp_path / "serve.log", "--request-timeout", "1")
    try:
        with socket.create_connection(("127.0.0.1", slow.port), timeout=10) as connection:
            connection.sendall(request("POST", "/invocations", b"", {"Content-Length": str(len(ROW))}))
            connection.sendall(ROW[:3])
            answer = read_answer(connection)
        assert answer[0] == 408 and json.loads(answer[2]) == {"error": "the body did not arrive within 1 s"}
    finally:
        assert slow.stop() == 0


def test_clients_that_vanish_leave_no_tracebacks(server):
    for _ in range(50):
        connection = socket.create_connection(("127.0.0.1", server.port))
        connection.sendall(request("POST", "/invocations", ROW))
        connection.close()
    half = socket.create_connection(("127.0.0.1", server.port))
    half.sendall(request("POST", "/invocations", b"", {"Content-Length": "100"}) + b"1,2")
    half.close()
    time.sleep(0.5)
    assert exchange(server.port, request("GET", "/ping"))[0] == 200
    log = server.log.read_text()
    assert "Traceback" not in log and "Exception" not in log
    for line in log.splitlines():
        json.loads(line)  # structured: every line is one JSON object


def test_four_concurrent_50_mb_uploads_are_refused_with_413_in_bounded_memory(server):
    body = ROW * (50 * 1024 * 1024 // len(ROW))
    statuses: list[int] = []

    def upload() -> None:
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as connection:
            connection.sendall(b"POST /invocations HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\n")
            connection.sendall(b"Transfer-Encoding: chunked\r\n\r\n")
            for start in range(0, len(body), 1 << 20):
                chunk = body[start : start + (1 << 20)]
                connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            connection.sendall(b"0\r\n\r\n")
            statuses.append(read_answer(connection)[0])

    threads = [threading.Thread(target=upload) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    peak = next(
        int(line.split()[1])
        for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines()
        if line.startswith("VmHWM:")
    )
    assert statuses == [413] * 4
    assert peak < 1024 * 1024  # KiB: under 1 GiB (the old server took 4.8 GB)


def test_sigterm_answers_every_request_received_including_the_accept_queue(model_dir, tmp_path):
    draining = Server(model_dir, tmp_path / "serve.log", "--drain-seconds", "20")
    connections = []
    draining.process.send_signal(signal.SIGSTOP)  # nothing is accepted: all 200 wait in the kernel's queue
    whole = request("POST", "/invocations", ROW)
    for number in range(200):
        connection = socket.create_connection(("127.0.0.1", draining.port), timeout=30)
        # Every other request lacks its body's last byte until the drain has begun: however fast
        # the server answers the others, these are pending when it starts.
        connection.sendall(whole if number % 2 == 0 else whole[:-1])
        connections.append(connection)
    draining.process.send_signal(signal.SIGTERM)
    draining.process.send_signal(signal.SIGCONT)
    for _ in range(200):
        if '"draining"' in (tmp_path / "serve.log").read_text():
            break
        time.sleep(0.05)
    for connection in connections[1::2]:
        connection.sendall(whole[-1:])
    statuses = []
    for connection in connections:
        try:
            status, headers, _ = read_answer(connection)
            statuses.append((status, headers.get("connection")))
        except OSError as error:
            statuses.append((type(error).__name__, None))
        connection.close()
    assert draining.stop() == 0
    assert [status for status, _ in statuses] == [200] * 200
    # The requests pending when the drain began are answered, and told that the connection closes.
    assert [connection for _, connection in statuses[1::2]] == ["close"] * 100
    log = [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines()]
    assert any(line["event"] == "draining" for line in log) and log[-1]["event"].startswith("Finished server process")
