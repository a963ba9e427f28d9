"""The serving container's HTTP server on loopback: /ping only when loaded, CSV and JSON
invocations, 400 for malformed requests, 503 + Retry-After when the queue is full, batching,
and draining in-flight requests on SIGTERM."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from model_code import inference, train
from model_code.serve import server as serving
from tests.conftest import REPO
from tests.model_code.synthetic import write_channels

ROW = "510.0,0.3,-0.2,1.1,north"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    channels = write_channels(folder / "data", "binary_classification", rows=600)
    train.train(
        train.parse_args(
            [
                "--epochs",
                "1",
                "--train",
                channels["train"],
                "--validation",
                channels["validation"],
                "--model-dir",
                str(folder / "model"),
                "--output-dir",
                str(folder / "out"),
                "--checkpoint-dir",
                str(folder / "ckpt"),
                "--hidden",
                "16",
            ]
        )
    )
    return str(folder / "model")


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(port: int, method: str, path: str, body: bytes = b"", content_type: str = "text/csv"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(method, path, body=body, headers={"Content-Type": content_type})
    response = connection.getresponse()
    result = (response.status, dict(response.getheaders()), response.read().decode())
    connection.close()
    return result


@pytest.fixture
def running(model_dir):
    """The server in a thread of this process (so tests can slow the model down)."""
    port = _port()
    server, batcher = serving.build_server(
        model_dir, port, "127.0.0.1", max_batch_rows=64, max_delay_ms=20, queue_size=4
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    batcher.start()
    assert batcher.loaded.wait(30)
    yield port, server, batcher
    serving.drain(server, batcher)
    thread.join(10)
    server.server_close()


def test_ping_invocations_and_errors(running):
    port, _, _ = running
    assert request(port, "GET", "/ping")[0] == 200
    status, _, body = request(port, "POST", "/invocations", f"{ROW}\n{ROW}\n".encode())
    assert status == 200 and len(json.loads(body)["predictions"]) == 2
    record = {"amount": 510, "age": 0.3, "score": -0.2, "tenure": 1.1, "region": "north"}
    status, headers, body = request(
        port, "POST", "/invocations", json.dumps({"instances": [record]}).encode(), "application/json"
    )
    assert (
        status == 200 and headers["Content-Type"] == "application/json" and 0 <= json.loads(body)["predictions"][0] <= 1
    )
    status, _, body = request(port, "POST", "/invocations", b"1,2\n")
    assert (status, json.loads(body)) == (
        400,
        {"error": "each row needs 5 values in this order: amount, age, score, tenure, region (got 2)"},
    )
    assert request(port, "POST", "/invocations", b"{", "application/json")[0] == 400
    assert request(port, "GET", "/nope")[0] == 404


def test_concurrent_requests_are_batched(running):
    port, _, batcher = running
    before = batcher.batches
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(request(port, "POST", "/invocations", f"{ROW}\n".encode())[0]))
        for _ in range(40)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(results)) in ([200], [200, 503])
    assert batcher.batches - before < results.count(200)  # fewer forward passes than answered requests


def test_a_full_queue_answers_503_with_retry_after(running, monkeypatch):
    port, _, _ = running
    original = inference.predict_prepared
    monkeypatch.setattr(inference, "predict_prepared", lambda data, model: (time.sleep(0.5), original(data, model))[1])
    answers = []
    threads = [
        threading.Thread(target=lambda: answers.append(request(port, "POST", "/invocations", f"{ROW}\n".encode())))
        for _ in range(30)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = [a[0] for a in answers]
    assert set(statuses) == {200, 503} and len(statuses) == 30
    busy = [a for a in answers if a[0] == 503][0]
    assert busy[1]["Retry-After"] == "1" and "queue is full" in json.loads(busy[2])["error"]


def test_ping_is_503_until_the_model_is_loaded(model_dir):
    port = _port()
    server, batcher = serving.build_server(model_dir, port, "127.0.0.1")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        assert request(port, "GET", "/ping")[0] == 503
        assert request(port, "POST", "/invocations", f"{ROW}\n".encode())[0] == 503
        batcher.start()
        assert batcher.loaded.wait(30) and request(port, "GET", "/ping")[0] == 200
    finally:
        serving.drain(server, batcher)
        thread.join(10)
        server.server_close()


def test_sigterm_drains_in_flight_requests(model_dir):
    port = _port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "model_code.serve",
            "--model-dir",
            model_dir,
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--max-delay-ms",
            "300",
            "--max-batch-rows",
            "100000",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for _ in range(300):
            try:
                if request(port, "GET", "/ping")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        answers = []
        # These wait in the 300 ms batching window while SIGTERM arrives: they must still be answered.
        threads = [
            threading.Thread(
                target=lambda: answers.append(request(port, "POST", "/invocations", f"{ROW}\n".encode())[0])
            )
            for _ in range(10)
        ]
        for thread in threads:
            thread.start()
        time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(30)
        assert answers == [200] * 10
        assert process.wait(timeout=30) == 0
        with pytest.raises(OSError):
            request(port, "GET", "/ping")
    finally:
        if process.poll() is None:
            process.kill()
        output = process.stdout.read() if process.stdout else ""
    assert "draining in-flight requests" in output and "Traceback" not in output
