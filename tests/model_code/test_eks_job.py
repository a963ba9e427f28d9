"""The EKS training Jobs' steps (model_code/eks_job.py) and the serving pods' model fetch
(model_code/serve/fetch_model.py), against S3 and SageMaker emulated by moto in-process."""

from __future__ import annotations

import io
import json
import sys
import tarfile

import boto3
import pytest
from moto import mock_aws

from model_code import eks_job
from model_code.serve import fetch_model


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="art")
        client.create_bucket(Bucket="data")
        yield client


def _archive(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_fetch_unpacks_the_code_and_every_channel(s3, tmp_path):
    s3.put_object(Bucket="art", Key="m/code/v1/sourcedir.tar.gz", Body=_archive({"train.py": "print(1)\n"}))
    s3.put_object(Bucket="data", Key="fraud/train/part-1.csv", Body=b"a,label\n1,0\n")
    s3.put_object(Bucket="data", Key="fraud/train/2026/part-2.csv", Body=b"a,label\n2,1\n")
    s3.put_object(Bucket="data", Key="fraud/training-old/x.csv", Body=b"not this prefix's folder\n")
    code, train = tmp_path / "code", tmp_path / "train"
    eks_job.fetch(
        s3,
        "s3://art/m/code/v1/sourcedir.tar.gz",
        [f"train=s3://data/fraud/train/={train}"],
        str(code),
        scratch=str(tmp_path),
    )
    assert (code / "train.py").read_text() == "print(1)\n"
    assert sorted(p.relative_to(train).as_posix() for p in train.rglob("*.csv")) == ["2026/part-2.csv", "part-1.csv"]


def test_fetch_refuses_bad_channels_and_empty_prefixes(s3, tmp_path):
    s3.put_object(Bucket="art", Key="c.tar.gz", Body=_archive({"a.py": ""}))
    with pytest.raises(eks_job.JobError, match="is not name=s3://bucket/prefix=folder"):
        eks_job.fetch(s3, "s3://art/c.tar.gz", ["train"], str(tmp_path / "c"), scratch=str(tmp_path))
    with pytest.raises(eks_job.JobError, match="nothing under s3://data/none/"):
        eks_job.fetch(
            s3, "s3://art/c.tar.gz", [f"t=s3://data/none/={tmp_path / 't'}"], str(tmp_path / "c"), scratch=str(tmp_path)
        )


def test_keys_name_the_execution_or_fail_without_it():
    assert eks_job.expand("m/models/eks/train-{execution}/model.tar.gz", {"EXECUTION": "e-1"}) == (
        "m/models/eks/train-e-1/model.tar.gz"
    )
    assert eks_job.expand("plain/key", {}) == "plain/key"
    with pytest.raises(eks_job.JobError, match="EXECUTION is not set"):
        eks_job.expand("m/{execution}", {})


def test_train_then_evaluate_round_trip_through_s3(s3, tmp_path, monkeypatch):
    """train runs train.py with the hyperparameters and uploads the packed model; evaluate gets
    that model back by the same execution and uploads the report of evaluate.py."""
    monkeypatch.setenv("EXECUTION", "run-7")
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(
        "import os, sys\nos.makedirs(sys.argv[-1], exist_ok=True)\n"
        "open(os.path.join(sys.argv[-1], 'model.pt'), 'w').write(' '.join(sys.argv[1:-1]))\n"
    )
    (code / "evaluate.py").write_text(
        "import json, os, sys\nargs = dict(zip(sys.argv[1::2], sys.argv[2::2]))\n"
        "seen = open(os.path.join(args['--model-dir'], 'model.pt')).read()\n"
        "report = os.path.join(args['--output-dir'], 'evaluation.json')\n"
        "json.dump({'metrics': {'auc': 0.9}, 'seen': seen}, open(report, 'w'))\n"
    )
    model_dir, output = tmp_path / "model", tmp_path / "output"
    output.mkdir()
    key = eks_job.train(
        s3,
        "art",
        "m/models/eks/train-{execution}/model.tar.gz",
        ["--epochs", "3", str(model_dir)],
        code_dir=str(code),
        model_dir=str(model_dir),
        scratch=str(tmp_path),
    )
    assert key == "m/models/eks/train-run-7/model.tar.gz"
    (model_dir / "model.pt").unlink()
    report = eks_job.evaluate(
        s3,
        "art",
        "m/models/eks/train-{execution}/model.tar.gz",
        "m/evaluations/eks/evaluate-{execution}/evaluation.json",
        str(tmp_path),
        code_dir=str(code),
        model_dir=str(model_dir),
        output_dir=str(output),
        scratch=str(tmp_path),
    )
    body = json.loads(s3.get_object(Bucket="art", Key=report)["Body"].read())
    assert report == "m/evaluations/eks/evaluate-run-7/evaluation.json"
    assert body == {"metrics": {"auc": 0.9}, "seen": "--epochs 3"}


def test_a_failing_script_fails_the_step(tmp_path):
    (tmp_path / "train.py").write_text("raise SystemExit(3)\n")
    with pytest.raises(eks_job.JobError, match="train.py exited with 3"):
        eks_job.run([sys.executable, "train.py"], cwd=str(tmp_path))


def test_main_answers_a_job_error_with_exit_1_and_one_line(monkeypatch, caplog):
    monkeypatch.delenv("EXECUTION", raising=False)
    monkeypatch.setattr(eks_job, "_client", lambda: None)
    assert eks_job.main(["fetch", "--code", "not-s3", "--code-dir", "/tmp/x"]) == 1
    assert "'not-s3' is not an S3 location" in caplog.text


def test_fetch_model_resolves_a_registry_version_and_unpacks_it(s3, tmp_path):
    s3.put_object(
        Bucket="art", Key="m/models/v4/model.tar.gz", Body=_archive({"model.pt": "w", "code/inference.py": ""})
    )

    class Registry:
        def describe_model_package(self, ModelPackageName):
            assert ModelPackageName == "arn:aws:sagemaker:us-east-1:1:model-package/m/4"
            return {"InferenceSpecification": {"Containers": [{"ModelDataUrl": "s3://art/m/models/v4/model.tar.gz"}]}}

    url = fetch_model.model_data_url(Registry(), "arn:aws:sagemaker:us-east-1:1:model-package/m/4")
    assert fetch_model.download_and_unpack(s3, url, str(tmp_path / "model")) == ["code", "model.pt"]


def test_fetch_model_refuses_a_package_without_data_and_archives_that_escape(s3, tmp_path):
    class Empty:
        def describe_model_package(self, ModelPackageName):
            return {"InferenceSpecification": {"Containers": [{}]}}

    with pytest.raises(fetch_model.FetchError, match="has no ModelDataUrl"):
        fetch_model.model_data_url(Empty(), "arn:p")
    s3.put_object(Bucket="art", Key="evil.tar.gz", Body=_archive({"../outside.txt": "x"}))
    with pytest.raises(tarfile.TarError):
        fetch_model.download_and_unpack(s3, "s3://art/evil.tar.gz", str(tmp_path / "model"))
    assert not (tmp_path / "outside.txt").exists()
