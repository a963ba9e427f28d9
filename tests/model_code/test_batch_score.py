"""The EKS batch scorer: every CSV object under the input prefix scored with the serving code, one
prediction per row, written KMS-encrypted under the run's folder; failures reported to the inbox
(S3 and SQS emulated by moto)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import boto3
import numpy as np
import pytest
from moto import mock_aws

from model_code import batch_score
from model_code.serve.model import ServedModel
from tests.model_code.synthetic import write_channels
from tests.model_code.test_serve import model_dir  # noqa: F401 - fixture

KEY = "arn:aws:kms:us-east-1:123456789012:key/0f4a8c2e-5d1b-4e39-9a77-3c2d1e0b6a51"
#: A CronJob's Job for the run scheduled at 2026-11-30T01:30:00Z: <cronjob>-<minutes since the epoch>.
JOB = f"car-damage-estimator-batch-{int(datetime(2026, 11, 30, 1, 30, tzinfo=timezone.utc).timestamp()) // 60}"


def test_the_scheduled_time_comes_from_the_jobs_name():
    assert batch_score.scheduled_time(JOB) == datetime(2026, 11, 30, 1, 30, tzinfo=timezone.utc)
    assert batch_score.folder_name(batch_score.scheduled_time(JOB)) == "2026-11-30T01:30:00Z"
    # Started by hand (no CronJob suffix): this minute.
    now = datetime(2026, 11, 30, 9, 41, 17, tzinfo=timezone.utc).timestamp()
    assert batch_score.scheduled_time("manual-run", now) == datetime(2026, 11, 30, 9, 41, tzinfo=timezone.utc)


@pytest.fixture
def s3_input(tmp_path):
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in ("claims-data", "artifacts"):
            client.create_bucket(Bucket=bucket)
        channels = write_channels(tmp_path / "data", "binary_classification", rows=240)
        rows = sorted((tmp_path / "data" / "test").glob("*.csv"))
        text = rows[0].read_text().splitlines()
        header, body = text[0], text[1:]
        label = header.split(",").index("label")
        features = [",".join(v for i, v in enumerate(line.split(",")) if i != label) for line in body]
        client.put_object(Bucket="claims-data", Key="scoring/day-1/a.csv", Body="\n".join(features[:25]) + "\n")
        client.put_object(Bucket="claims-data", Key="scoring/day-1/b.csv", Body="\n".join(features[25:40]) + "\n")
        client.put_object(Bucket="claims-data", Key="scoring/empty.csv", Body="")
        client.put_object(Bucket="claims-data", Key="scoring/folder/", Body="")
        yield client, features, channels


def test_every_object_is_scored_row_by_row_into_the_runs_folder(model_dir, s3_input):  # noqa: F811
    client, features, _ = s3_input
    model = ServedModel(model_dir)
    summary = batch_score.run(
        model,
        client,
        input_uri="s3://claims-data/scoring/",
        output_uri="s3://artifacts/car-damage-estimator/batch/",
        kms_key=KEY,
        moment=batch_score.scheduled_time(JOB),
        rows_per_request=10,  # more requests than objects: answers are joined in order
    )
    folder = "car-damage-estimator/batch/2026-11-30T01:30:00Z/"
    assert summary == {"objects": 2, "rows": 40, "output": f"s3://artifacts/{folder}"}
    listed = sorted(o["Key"] for o in client.list_objects_v2(Bucket="artifacts")["Contents"])
    assert listed == [f"{folder}day-1/a.csv.out", f"{folder}day-1/b.csv.out"]
    written = client.get_object(Bucket="artifacts", Key=f"{folder}day-1/a.csv.out")
    assert written["ServerSideEncryption"] == "aws:kms" and written["SSEKMSKeyId"] == KEY
    lines = written["Body"].read().decode().splitlines()
    assert len(lines) == 25
    # The same predictions the EKS serving container gives for those rows.
    rows = model.codec.decode(("\n".join(features[:25]) + "\n").encode(), "text/csv")
    expected = model.predict(rows.numeric, rows.categorical)
    assert np.allclose([float(line) for line in lines], expected, atol=1e-6)


def test_a_row_the_model_refuses_fails_the_run_and_is_reported(model_dir, s3_input, monkeypatch, caplog):  # noqa: F811
    client, _, _ = s3_input
    client.put_object(Bucket="claims-data", Key="scoring/day-2/bad.csv", Body="not,a,row\n")
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="car-damage-estimator-batch-failures")["QueueUrl"]
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    code = batch_score.main(
        [
            "--model-dir",
            model_dir,
            "--input",
            "s3://claims-data/scoring/day-2/",
            "--output",
            "s3://artifacts/car-damage-estimator/batch/",
            "--kms-key",
            KEY,
            "--failures",
            queue,
            "--job-name",
            JOB,
        ]
    )
    assert code == 1
    (message,) = sqs.receive_message(QueueUrl=queue)["Messages"]
    body = json.loads(message["Body"])
    assert body["job"] == JOB and body["input"] == "s3://claims-data/scoring/day-2/"
    assert body["reason"].startswith("s3://claims-data/scoring/day-2/bad.csv: ")
    assert "batch scoring failed: s3://claims-data/scoring/day-2/bad.csv" in caplog.text


def test_an_empty_input_is_a_failure_not_an_empty_success(model_dir, s3_input):  # noqa: F811
    client, _, _ = s3_input
    with pytest.raises(batch_score.ScoringError, match="holds no objects to score"):
        batch_score.run(
            ServedModel(model_dir),
            client,
            input_uri="s3://claims-data/nothing-here/",
            output_uri="s3://artifacts/m/batch/",
            kms_key=KEY,
            moment=batch_score.scheduled_time(JOB),
        )


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--rows-per-request", "0"], "--rows-per-request must be in 1..10000"),
        (["--rows-per-request", "20000"], "--rows-per-request must be in 1..10000"),
    ],
)
def test_bad_arguments_are_one_line(capsys, arguments, message):
    with pytest.raises(SystemExit) as stopped:
        batch_score.parse_args(["--input", "s3://b/p/", "--output", "s3://b/o/", "--kms-key", KEY, *arguments])
    assert stopped.value.code == 2 and message in capsys.readouterr().err
