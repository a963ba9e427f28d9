"""Data-parallel training on this machine's CPUs: two ranks launched by torchrun (gloo), as
SageMaker's torch_distributed launcher and the EKS training Job launch them on GPUs (NCCL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from model_code import train
from tests.conftest import REPO
from tests.model_code.synthetic import write_channels


def torchrun(tmp_path, ranks: int, epochs: int, *extra: str, data=None) -> subprocess.CompletedProcess:
    channels = data or write_channels(tmp_path / "data", "binary_classification", rows=4000)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1"]
    command += ["--nproc-per-node", str(ranks), "-m", "model_code.train"]
    command += ["--epochs", str(epochs), "--lr", "0.003", "--batch_size", "256", "--hidden", "64", "--seed", "3"]
    command += ["--train", channels["train"], "--validation", channels["validation"], "--device", "cpu"]
    command += ["--model-dir", str(tmp_path / "model"), "--output-dir", str(tmp_path / "output")]
    command += ["--checkpoint-dir", str(tmp_path / "checkpoints"), *extra]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=600)


def metrics(tmp_path) -> dict:
    return json.loads((tmp_path / "output" / "training_metrics.json").read_text())


def single_process(tmp_path, epochs: int, data) -> dict:
    arguments = ["--epochs", str(epochs), "--lr", "0.003", "--batch_size", "256", "--hidden", "64", "--seed", "3"]
    arguments += ["--train", data["train"], "--validation", data["validation"], "--device", "cpu"]
    arguments += ["--model-dir", str(tmp_path / "model"), "--output-dir", str(tmp_path / "output")]
    arguments += ["--checkpoint-dir", str(tmp_path / "checkpoints")]
    return train.train(train.parse_args(arguments))


def test_two_ranks_train_as_well_as_one(tmp_path):
    data = write_channels(tmp_path / "data", "binary_classification", rows=4000)
    one = single_process(tmp_path / "one", 6, data)
    result = torchrun(tmp_path / "two", 2, 6, "--world-size", "2", data=data)
    assert result.returncode == 0, result.stderr[-2000:]
    two = metrics(tmp_path / "two")
    assert two["world_size"] == 2 and one["world_size"] == 1
    # The same global batch (128 rows per rank), the same learning rate: the same quality.
    auc_one, auc_two = one["history"][-1]["validation_auc"], two["history"][-1]["validation_auc"]
    assert auc_one > 0.9 and auc_two > 0.9 and abs(auc_one - auc_two) < 0.02
    # Every row of every rank is counted: 4,000 rows a epoch (2 x 2,000), whatever the world size.
    assert [h["samples_per_second"] * h["seconds"] for h in two["history"]] == pytest.approx([4000] * 6)
    # Only rank 0 writes: one model, one log line per epoch.
    assert (tmp_path / "two" / "model" / "model.pt").is_file()
    assert result.stdout.count("epoch=6 ") == 1


def test_a_restart_restores_every_rank_from_the_checkpoint(tmp_path):
    data = write_channels(tmp_path / "data", "binary_classification", rows=2000)
    first = torchrun(tmp_path, 2, 2, data=data)
    assert first.returncode == 0, first.stderr[-2000:]
    before = metrics(tmp_path)
    # A spot interruption after epoch 2: the restarted job continues at epoch 3 on both ranks.
    second = torchrun(tmp_path, 2, 4, data=data)
    assert second.returncode == 0, second.stderr[-2000:]
    after = metrics(tmp_path)
    assert after["resumed_from_epoch_by_rank"] == [2, 2]
    assert [h["epoch"] for h in after["history"]] == [1, 2, 3, 4]
    assert after["history"][:2] == before["history"]


def test_a_launch_with_another_number_of_ranks_fails_at_once(monkeypatch, caplog):
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun would set it for 2 processes
    assert train.main(["--world-size", "16", "--epochs", "1"]) == 2
    assert "launched with 2 process(es), but this training runs on 16 ranks" in caplog.text


def test_the_batch_must_split_evenly_over_the_ranks(tmp_path):
    arguments = train.parse_args(["--batch_size", "255", "--checkpoint-dir", str(tmp_path)])
    with pytest.raises(train.LaunchError, match="batch_size 255 is not divisible by the 2 ranks"):
        train._train(arguments, train.Ranks(0, 0, 2), torch.device("cpu"))


def test_shards_cover_every_row_and_are_equal():
    rows = (torch.arange(7),)
    shards = [train.shard(rows, train.Ranks(rank, rank, 3))[0].tolist() for rank in range(3)]
    assert shards == [[0, 3, 6], [1, 4, 0], [2, 5, 1]]  # padded with the first rows, as DistributedSampler
    unpadded = [train.shard(rows, train.Ranks(rank, rank, 3), pad=False)[0].tolist() for rank in range(3)]
    assert sorted(sum(unpadded, [])) == list(range(7))
