"""The serving application in-process (ASGI calls, no sockets): statuses and reasons, the batcher
that cannot die, health, the queue bound, the deadline, metrics, and data capture to S3 (moto) in
the format the monitoring job reads."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import boto3
import numpy as np
import pytest

from model_code.monitoring import job
from model_code.serve import codec
from model_code.serve.app import Limits, ServingApp
from model_code.serve.batcher import Batcher
from model_code.serve.capture import Capture, CaptureTarget
from model_code.tabular import FeatureSchema

ROW = b"510,0.3,north\n"
SCHEMA = FeatureSchema(
    label="label",
    problem_type="binary_classification",
    features=["amount", "age", "region"],
    numeric=["amount", "age"],
    numeric_mean=[500.0, 0.0],
    numeric_std=[100.0, 1.0],
    categorical={"region": ["north", "south"]},
    classes=[0, 1],
)


class FakeModel:
    """The model interface of `ServedModel`: a codec and a batch predict, behaviour swappable."""

    device = "cpu"

    def __init__(self, predict=None):
        self.schema = SCHEMA
        self.codec = codec.Codec(SCHEMA)
        self.calls: list[int] = []
        self.behaviour = predict or (lambda numeric, categorical: np.full(len(numeric), 0.25, dtype=np.float32))

    def predict(self, numeric, categorical):
        self.calls.append(len(numeric))
        return self.behaviour(numeric, categorical)


async def call(app, method="POST", path="/invocations", body=ROW, headers=None, chunks=None):
    headers = {"content-type": "text/csv", **(headers or {})}
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    messages = (
        [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
        if (chunks)
        else [{"type": "http.request", "body": body, "more_body": False}]
    )
    sent = []

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    if not sent:
        return None
    return sent[0]["status"], {k.decode(): v.decode() for k, v in sent[0]["headers"]}, sent[1]["body"]


async def started(model=None, limits=Limits(), **kwargs) -> ServingApp:
    model = model or FakeModel()
    app = ServingApp("unused", limits, load=lambda _: model, **kwargs)
    await app.startup()
    for _ in range(200):
        if app.model is not None:
            break
        await asyncio.sleep(0.01)
    return app


def run(coroutine):
    """Run on a private loop: `asyncio.run` would leave the thread without an event loop, which
    the Pulumi mock runtime of later tests expects to find."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def test_ping_is_503_while_loading_then_200():
    gate = threading.Event()

    async def scenario():
        app = ServingApp("unused", load=lambda _: (gate.wait(10), FakeModel())[1])
        await app.startup()
        loading = await call(app, "GET", "/ping")
        refused = await call(app)
        gate.set()
        for _ in range(200):
            if app.model is not None:
                break
            await asyncio.sleep(0.01)
        ready = await call(app, "GET", "/ping")
        await app.shutdown()
        return loading, refused, ready

    loading, refused, ready = run(scenario())
    assert loading[0] == 503 and json.loads(loading[2]) == {"error": "the model is loading"}
    assert refused[0] == 503 and refused[1]["retry-after"] == "1"
    assert ready[0] == 200


def test_a_model_that_cannot_load_makes_the_server_exit():
    reasons = []

    async def scenario():
        app = ServingApp("/nowhere", load=lambda path: (_ for _ in ()).throw(FileNotFoundError(path)))
        app.on_fatal = reasons.append
        await app.startup()
        await asyncio.sleep(0.2)

    run(scenario())
    assert reasons and "/nowhere cannot be loaded" in reasons[0]


@pytest.mark.parametrize(
    "accept, content_type, body",
    [
        ("text/csv", "text/csv", b"0.25\n"),
        ("application/json, text/plain, */*", "application/json", b'{"predictions":[0.25]}'),
    ],
)
def test_ordinary_accept_headers_are_answered_and_the_pod_stays_healthy(accept, content_type, body):
    async def scenario():
        app = await started()
        answers = [await call(app, headers={"accept": accept}) for _ in range(3)]
        answers.append(await call(app, "GET", "/ping"))
        answers.append(await call(app))
        await app.shutdown()
        return answers

    answers = run(scenario())
    assert [a[0] for a in answers] == [200] * 5
    assert answers[0][1]["content-type"] == content_type and answers[0][2] == body


def test_refusals_have_status_and_one_line_reason():
    async def scenario():
        app = await started(limits=Limits(max_body_bytes=1000))
        answers = {
            "accept": await call(app, headers={"accept": "image/png"}),
            "type": await call(app, headers={"content-type": "text/plain"}),
            "declared": await call(app, headers={"content-length": "2000000000"}),
            "chunked": await call(app, chunks=[ROW * 50, ROW * 50]),
            "bad length": await call(app, headers={"content-length": "abc"}),
            "malformed": await call(app, body=b"1,2\n"),
            "path": await call(app, "GET", "/nope"),
            "method": await call(app, "GET", "/invocations"),
        }
        await app.shutdown()
        return answers

    answers = run(scenario())
    statuses = {name: answer[0] for name, answer in answers.items()}
    assert statuses == {
        "accept": 406,
        "type": 415,
        "declared": 413,
        "chunked": 413,
        "bad length": 400,
        "malformed": 400,
        "path": 404,
        "method": 405,
    }
    for name, (_, headers, body) in answers.items():
        reason = json.loads(body)["error"]
        assert reason and "\n" not in reason and headers["content-type"] == "application/json", name
    # A body left unread cannot be followed by another request on the same connection.
    assert answers["declared"][1]["connection"] == "close" and answers["chunked"][1]["connection"] == "close"
    assert answers["method"][1]["allow"] == "POST"


def test_a_failing_batch_fails_its_requests_and_the_batcher_lives_on():
    failures = [True]

    def flaky(numeric, categorical):
        if failures.pop() if failures else False:
            raise RuntimeError("CUDA error: an illegal memory access")
        return np.full(len(numeric), 0.25, dtype=np.float32)

    async def scenario():
        app = await started(FakeModel(flaky))
        first = await call(app)
        second = await call(app)
        ping = await call(app, "GET", "/ping")
        await app.shutdown()
        return first, second, ping

    first, second, ping = run(scenario())
    assert first[0] == 500 and json.loads(first[2])["error"].startswith("prediction failed: RuntimeError: CUDA error")
    assert second[0] == 200 and ping[0] == 200


def test_a_non_finite_prediction_is_a_500_with_a_reason_never_nan_in_a_body():
    async def scenario():
        app = await started(FakeModel(lambda numeric, categorical: np.full(len(numeric), np.nan)))
        answer = await call(app)
        await app.shutdown()
        return answer

    status, _, body = run(scenario())
    assert status == 500 and json.loads(body) == {"error": "the model produced a non-finite prediction for row 1"}


def test_ping_turns_503_when_the_worker_is_gone_or_stalled():
    async def scenario():
        app = await started()
        app.batcher._task.cancel()
        await asyncio.sleep(0.01)
        gone = await call(app, "GET", "/ping")
        await app.shutdown()
        stalled_app = await started(
            FakeModel(lambda numeric, categorical: (time.sleep(0.5), np.zeros(len(numeric)))[1]),
            Limits(stall_seconds=0.1),
        )
        pending = asyncio.ensure_future(call(stalled_app))
        await asyncio.sleep(0.3)
        stalled = await call(stalled_app, "GET", "/ping")
        await pending
        recovered = await call(stalled_app, "GET", "/ping")
        await stalled_app.shutdown()
        return gone, stalled, recovered

    gone, stalled, recovered = run(scenario())
    assert gone[0] == 503 and json.loads(gone[2]) == {"error": "the model worker is unhealthy"}
    assert stalled[0] == 503 and recovered[0] == 200


def test_concurrent_requests_share_a_batch():
    async def scenario():
        model = FakeModel()
        app = await started(model, Limits(max_delay=0.05))
        answers = await asyncio.gather(*(call(app) for _ in range(40)))
        await app.shutdown()
        return model, answers

    model, answers = run(scenario())
    assert [a[0] for a in answers] == [200] * 40
    assert sum(model.calls) == 40 and len(model.calls) < 40


def test_batches_hold_at_most_max_batch_rows_and_a_big_request_waits_whole():
    async def scenario():
        model = FakeModel()
        app = await started(model, Limits(max_batch_rows=10, max_delay=0.05))
        answers = await asyncio.gather(*(call(app, body=ROW * 4) for _ in range(5)))
        await app.shutdown()
        return model, answers

    model, answers = run(scenario())
    assert all(a[0] == 200 and len(json.loads(a[2])["predictions"]) == 4 for a in answers)
    assert max(model.calls) <= 10 and sum(model.calls) == 20


def test_a_full_queue_answers_503_with_retry_after():
    async def scenario():
        slow = FakeModel(lambda numeric, categorical: (time.sleep(0.3), np.zeros(len(numeric)))[1])
        app = await started(slow, Limits(queue_size=2, max_delay=0))
        answers = await asyncio.gather(*(call(app) for _ in range(10)))
        await app.shutdown()
        return answers

    answers = run(scenario())
    statuses = sorted(a[0] for a in answers)
    assert set(statuses) == {200, 503}
    busy = next(a for a in answers if a[0] == 503)
    assert busy[1]["retry-after"] == "1" and "queue is full" in json.loads(busy[2])["error"]


def test_the_request_deadline_covers_the_model_wait_and_skipped_requests_never_run():
    async def scenario():
        slow = FakeModel(lambda numeric, categorical: (time.sleep(0.4), np.zeros(len(numeric)))[1])
        app = await started(slow, Limits(request_timeout=0.2, max_delay=0))
        answers = await asyncio.gather(*(call(app) for _ in range(3)))
        await asyncio.sleep(0.6)
        await app.shutdown()
        return slow, answers

    slow, answers = run(scenario())
    assert [a[0] for a in answers] == [503] * 3
    assert json.loads(answers[0][2])["error"] == "the model did not answer within 0.2 s"
    assert len(slow.calls) == 1  # the two that gave up while queued were skipped


def test_draining_answers_close_the_connection_and_ping_is_503():
    async def scenario():
        app = await started()
        app.draining = True
        answers = await call(app), await call(app, "GET", "/ping")
        await app.shutdown()
        return answers

    answer, ping = run(scenario())
    assert answer[0] == 200 and answer[1]["connection"] == "close"
    assert ping[0] == 503 and json.loads(ping[2]) == {"error": "shutting down"}


def test_metrics_expose_requests_latency_queue_depth_and_batch_size():
    async def scenario():
        app = await started()
        await call(app)
        await call(app, body=b"1,2\n")
        answer = await call(app, "GET", "/metrics")
        await app.shutdown()
        return answer

    status, headers, body = run(scenario())
    text = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'modelform_requests_total{path="/invocations",status="200"} 1.0' in text
    assert 'modelform_requests_total{path="/invocations",status="400"} 1.0' in text
    assert 'modelform_request_seconds_bucket{le="0.25",path="/invocations"} 2.0' in text
    assert "modelform_queue_depth 0.0" in text
    assert "modelform_batch_rows_count 1.0" in text and "modelform_batch_requests_count 1.0" in text


def test_the_batcher_survives_when_every_batch_fails():
    async def scenario():
        batcher = Batcher(lambda numeric, categorical: 1 / 0, max_delay=0)
        batcher.start()
        rows = codec.Codec(SCHEMA).decode(ROW, codec.CSV)
        outcomes = []
        for _ in range(3):
            try:
                await batcher.submit(rows)
            except ZeroDivisionError as error:
                outcomes.append(type(error).__name__)
        healthy = batcher.healthy
        await batcher.stop()
        return outcomes, healthy

    assert run(scenario()) == (["ZeroDivisionError"] * 3, True)


# --- data capture --------------------------------------------------------------------------------


def test_captured_exchanges_land_in_s3_in_the_format_the_monitoring_job_reads(aws, tmp_path):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="acme-ml-capture")
    target = CaptureTarget.from_uri("s3://acme-ml-capture/fraud-detector/prod/fraud-detector-prod-a/", "arn:aws:kms:k")
    capture = Capture(target, 100, flush_seconds=3600)

    async def scenario():
        app = await started(capture=capture)
        await call(app, body=b"510,0.3,north\n520,0.1,south\n")
        await call(app, body=b'{"instances": [[530, 0.2, "north"]]}', headers={"content-type": "application/json"})
        await call(app, body=b"1,2\n")  # refused: not captured
        await app.shutdown()  # flushes

    run(scenario())
    listed = s3.list_objects_v2(Bucket="acme-ml-capture")["Contents"]
    assert len(listed) == 1
    key = listed[0]["Key"]
    assert key.startswith("fraud-detector/prod/fraud-detector-prod-a/") and key.endswith(".jsonl")
    stored = s3.get_object(Bucket="acme-ml-capture", Key=key)
    assert stored["ServerSideEncryption"] == "aws:kms" and stored["SSEKMSKeyId"] == "arn:aws:kms:k"
    records = [json.loads(line) for line in stored["Body"].read().splitlines()]
    assert len(records) == 2
    first = records[0]
    assert first["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv",
        "mode": "INPUT",
        "data": "510,0.3,north\n520,0.1,south\n",
        "encoding": "CSV",
    }
    assert first["captureData"]["endpointOutput"]["data"] == '{"predictions":[0.25,0.25]}'
    assert first["eventVersion"] == "0" and len(first["eventMetadata"]["eventId"]) == 36
    folder = tmp_path / "current"
    folder.mkdir()
    (folder / "capture.jsonl").write_bytes(s3.get_object(Bucket="acme-ml-capture", Key=key)["Body"].read())
    frame, counts = job.read_capture(str(folder), SCHEMA.features)
    assert counts == {"read": 2, "skipped": 0, "ragged_instances": 0}
    assert frame["amount"].tolist() == ["510", "520", 530] and frame["prediction"].tolist() == [0.25] * 3


def test_capture_samples_and_never_blocks_or_fails_a_request():
    class Unreachable:
        def put_object(self, **kwargs):
            raise ConnectionError("S3 is unreachable")

    outcomes = []
    draws = iter([0.05, 0.5, 0.05])
    capture = Capture(
        CaptureTarget("b", "p/", "k"),
        10,
        client=Unreachable(),
        sample=lambda: next(draws),
        max_buffered=1,
        on_outcome=lambda outcome, n: outcomes.append((outcome, n)),
    )
    assert capture.offer(b"1", "text/csv", b"2", "text/csv") is True  # 0.05 < 10 %
    assert capture.offer(b"1", "text/csv", b"2", "text/csv") is False  # not sampled
    assert capture.offer(b"1", "text/csv", b"2", "text/csv") is False  # buffer full: dropped, counted
    assert capture.flush() == 0  # S3 down: kept for the next try (room for 1), nothing raised
    assert outcomes == [("dropped", 1)]


def test_capture_location_must_be_s3():
    with pytest.raises(ValueError, match="s3://bucket/prefix/"):
        CaptureTarget.from_uri("/tmp/capture", "k")
    assert CaptureTarget.from_uri("s3://b/m/d", "k").prefix == "m/d/"
