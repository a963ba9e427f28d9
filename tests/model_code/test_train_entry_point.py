"""train.py as SageMaker and the EKS Job start it (`python train.py ...` inside the code folder):
the exit status says what happened, every line of output arrives, and the process leaves without
the interpreter's teardown, which can abort a distributed run that has already succeeded."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO
from tests.model_code.synthetic import write_channels

CODE = REPO / "model_code"
#: As a container runs it: output to a pipe is block-buffered, so nothing arrives unless flushed.
BUFFERED = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}


def script(*arguments: str, cwd=CODE) -> subprocess.CompletedProcess:
    environment = {**BUFFERED, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "train.py", *arguments], cwd=cwd, env=environment, capture_output=True, text=True, timeout=300
    )


def entry_point(body: str) -> subprocess.CompletedProcess:
    """`run()` around a `main` that does `body`, imported as the package is."""
    program = f"import model_code.train as train\ndef main(argv=None):\n    {body}\ntrain.main = main\ntrain.run()\n"
    environment = {**BUFFERED, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", program], env=environment, capture_output=True, text=True, timeout=120)


def test_a_finished_training_exits_0_with_every_line_of_its_log(tmp_path):
    data = write_channels(tmp_path / "data", "binary_classification", rows=600)
    result = script(
        "--epochs", "3", "--batch_size", "128", "--hidden", "16", "--train", data["train"],
        "--validation", data["validation"], "--model-dir", str(tmp_path / "model"),
        "--output-dir", str(tmp_path / "output"), "--checkpoint-dir", str(tmp_path / "checkpoints"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # The last epoch's line arrives only if it is flushed before the process leaves.
    assert [line.split()[0] for line in result.stdout.splitlines() if line.startswith("epoch=")] == [
        "epoch=1",
        "epoch=2",
        "epoch=3",
    ]
    assert json.loads((tmp_path / "output" / "training_metrics.json").read_text())["history"][-1]["epoch"] == 3
    assert (tmp_path / "model" / "model.pt").is_file()


def test_a_data_problem_exits_2_with_its_message(tmp_path):
    (tmp_path / "train").mkdir()
    result = script("--train", str(tmp_path / "train"), "--checkpoint-dir", str(tmp_path / "c"))
    assert result.returncode == 2
    assert f"training data problem: {tmp_path / 'train'} holds no .csv or .parquet files" in result.stdout
    assert "Traceback" not in result.stderr


def test_help_exits_0_and_a_bad_argument_exits_2_with_argparse_s_message():
    shown = script("--help")
    assert shown.returncode == 0 and "--checkpoint-dir" in shown.stdout
    refused = script("--epochs", "many")
    assert refused.returncode == 2
    assert "argument --epochs: invalid int value: 'many'" in refused.stderr


def test_an_unexpected_failure_exits_1_with_its_traceback():
    result = entry_point("raise RuntimeError('the disk went away')")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: the disk went away" in result.stderr


def test_an_exit_with_a_message_exits_1_and_prints_it():
    result = entry_point("raise SystemExit('no GPU where one was asked for')")
    assert (result.returncode, result.stderr) == (1, "no GPU where one was asked for\n")


def test_the_status_main_returns_is_the_process_s_status():
    assert entry_point("return 2").returncode == 2
    assert entry_point("return 0").returncode == 0


def test_the_process_leaves_without_the_interpreter_s_teardown():
    # atexit handlers run during that teardown; `run` must not reach it, and output printed just
    # before leaving (buffered, to a pipe) must still arrive.
    result = entry_point("import atexit; atexit.register(print, 'torn down'); print('trained'); return 0")
    assert result.returncode == 0
    assert result.stdout == "trained\n"
