"""Training on small synthetic data in seconds on the CPU: quality well above chance for every
problem type, checkpoints that resume, and the evaluation report the pipeline's gate reads."""

from __future__ import annotations

import json

import pytest
import torch

from model_code import evaluate, train
from model_code.tabular import DataError, FeatureSchema, fit_schema
from tests.model_code.synthetic import make, write_channels

#: Chance levels: AUC 0.5; 3 balanced-ish classes ~0.33 accuracy; r2 0 for the mean.
QUALITY = {
    "binary_classification": ("auc", 0.9),
    "multiclass_classification": ("accuracy", 0.8),
    "regression": ("r2", 0.8),
}


def run_training(tmp_path, problem_type: str, epochs: int = 8, *extra: str, parquet: bool = False) -> tuple[dict, dict]:
    channels = (
        write_channels(tmp_path / "data", problem_type, parquet=parquet)
        if not (tmp_path / "data").exists()
        else {split: str(tmp_path / "data" / split) for split in ("train", "validation", "test")}
    )
    args = [
        "--epochs",
        str(epochs),
        "--lr",
        "0.003",
        "--batch_size",
        "256",
        "--problem_type",
        problem_type,
        "--train",
        channels["train"],
        "--validation",
        channels["validation"],
        "--model-dir",
        str(tmp_path / "model"),
        "--output-dir",
        str(tmp_path / "output"),
        "--checkpoint-dir",
        str(tmp_path / "checkpoints"),
        "--hidden",
        "64",
        *extra,
    ]
    summary = train.train(train.parse_args(args))
    return summary, channels


@pytest.mark.parametrize("problem_type", sorted(QUALITY))
def test_trains_well_above_chance_and_evaluates(tmp_path, problem_type):
    summary, channels = run_training(tmp_path, problem_type)
    metric, floor = QUALITY[problem_type]
    assert summary["history"][-1][f"validation_{metric}"] > floor
    assert (tmp_path / "model" / "model.pt").is_file() and (tmp_path / "model" / "feature_schema.json").is_file()
    assert json.loads((tmp_path / "output" / "training_metrics.json").read_text())["input_pipeline"] == "host"
    assert (
        evaluate.main(
            ["--model-dir", str(tmp_path / "model"), "--test", channels["test"], "--output-dir", str(tmp_path / "eval")]
        )
        == 0
    )
    report = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert report["problem_type"] == problem_type and report["rows"] == 750
    assert report["metrics"][metric] > floor


def test_parquet_channels_and_unused_hyperparameters(tmp_path):
    summary, _ = run_training(tmp_path, "binary_classification", 3, "--sagemaker_program", "train.py", parquet=True)
    assert summary["history"][-1]["validation_auc"] > 0.85


def test_resumes_from_the_checkpoint_and_loses_no_finished_epoch(tmp_path):
    first, _ = run_training(tmp_path, "binary_classification", 2)
    assert [h["epoch"] for h in first["history"]] == [1, 2] and first["resumed_from_epoch"] == 0
    # A spot interruption after epoch 2: the restarted job continues at epoch 3.
    second, _ = run_training(tmp_path, "binary_classification", 4)
    assert second["resumed_from_epoch"] == 2
    assert [h["epoch"] for h in second["history"]] == [1, 2, 3, 4]
    assert second["history"][:2] == first["history"]


def test_a_checkpoint_for_other_data_is_not_reused(tmp_path):
    run_training(tmp_path, "binary_classification", 1)
    summary, _ = run_training(tmp_path, "binary_classification", 1, "--hidden", "64", "--label", "label")
    assert summary["resumed_from_epoch"] == 1  # same data: resumed (nothing left to do)
    other = tmp_path / "other"
    other.mkdir()
    summary, _ = run_training(other, "regression", 1, "--checkpoint-dir", str(tmp_path / "checkpoints"))
    assert summary["resumed_from_epoch"] == 0


def test_profile_reports_the_data_wait_fraction(tmp_path, caplog):
    caplog.set_level("INFO", logger="modelform.train")
    summary, _ = run_training(tmp_path, "regression", 1, "--profile")
    record = summary["history"][0]
    assert 0 <= record["data_wait_fraction"] < 1 and record["samples_per_second"] > 0
    assert "profile: epoch 1 waited for data" in caplog.text


def test_schema_types_and_bad_data():
    frame = make("binary_classification", 50)
    schema = fit_schema(frame, "label", "binary_classification")
    assert schema.features == ["amount", "age", "score", "tenure", "region"]
    assert schema.numeric == ["amount", "age", "score", "tenure"] and schema.categorical == {
        "region": ["east", "north", "south", "west"]
    }
    assert schema.classes == [0, 1]
    assert FeatureSchema.from_json(schema.to_json()) == schema
    with pytest.raises(DataError, match="label column 'target' is not in the data"):
        fit_schema(frame, "target", "binary_classification")
    with pytest.raises(DataError, match="binary classification needs exactly 2 label values"):
        fit_schema(make("multiclass_classification", 50), "label", "binary_classification")
    with pytest.raises(DataError, match="regression needs a numeric label"):
        fit_schema(make("multiclass_classification", 50), "label", "regression")


def test_training_data_problems_exit_2_with_a_message(tmp_path, caplog):
    (tmp_path / "train").mkdir()
    assert train.main(["--train", str(tmp_path / "train"), "--checkpoint-dir", str(tmp_path / "c")]) == 2
    assert f"training data problem: {tmp_path / 'train'} holds no .csv or .parquet files" in caplog.text


def test_batches_cover_every_row_once_per_epoch_in_a_new_order():
    numeric = torch.arange(10, dtype=torch.float32).reshape(10, 1)
    categorical = torch.zeros((10, 0), dtype=torch.int64)
    target = torch.arange(10, dtype=torch.float32)
    batches = train.Batches((numeric, categorical, target), 4, torch.device("cpu"), seed=3)
    assert (batches.strategy, len(batches)) == ("host", 3)
    epochs = [[int(v) for n, _, _ in batches for v in n[:, 0]] for _ in range(2)]
    assert [sorted(e) for e in epochs] == [list(range(10))] * 2 and epochs[0] != epochs[1]
    assert batches.wait_seconds > 0
