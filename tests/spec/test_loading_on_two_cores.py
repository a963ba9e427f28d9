"""A fleet's specs validated by this process and a forked copy of it give exactly the answer of one
process: the same typed specs in the same order, the same errors and warnings, the same cache
entries; and any failure of the copy only costs time (how much time two cores save is measured by
bench/validate_scale.py)."""

from __future__ import annotations

import os
import signal
import threading

import pytest

import modelform.spec.forked as forked
import modelform.spec.loader as loader
from modelform.spec import load_specs
from tests.conftest import PLATFORM
from tests.spec.test_fleet_loading import model, write

FLEET = 12


def fleet(tmp_path, *, broken: bool = True) -> str:
    """A Platform spec and FLEET model specs, with an error and a warning in each half when `broken`."""
    (tmp_path / "model_code").mkdir(exist_ok=True)
    write(tmp_path, "platform.yaml", PLATFORM)
    for i in range(FLEET):
        text = model(f"model-{i:02d}")
        if broken and i in (2, 9):  # one in each core's share: an unknown field
            text += "colour: blue\n"
        if broken and i in (3, 10):  # and a scheduled window that is over: a warning
            text = text.replace("variants:", AUTOSCALING + "    variants:")
        write(tmp_path, f"model-{i:02d}.yaml", text)
    return str(tmp_path / "specs")


AUTOSCALING = (
    "autoscaling:\n      min_instances: 1\n      max_instances: 2\n      scheduled:\n"
    "        - {name: launch, start: '2020-01-01T00:00:00Z', end: '2020-01-02T00:00:00Z',"
    " min_instances: 2, max_instances: 4}\n"
)


@pytest.fixture
def two_cores(monkeypatch):
    """The two-core path from FLEET specs on (it starts at 100), and a count of the copies forked."""
    monkeypatch.setattr(loader, "TWO_CORES_FROM", 4)
    # This test process may hold idle threads of earlier tests (the executors of in-process Pulumi
    # runs), which `can_fork` rightly refuses for the command; what the copy runs here takes no
    # lock those threads could hold. The rule itself has its own test below.
    monkeypatch.setattr(forked, "can_fork", lambda: True)
    copies: list[int] = []
    real = forked.Forked

    class Counted(real):
        def __init__(self, function):
            super().__init__(function)
            copies.append(self.pid)

    monkeypatch.setattr(forked, "Forked", Counted)
    return copies


def one_core(specs: str, root: str, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(loader, "TWO_CORES_FROM", 10**9)
        return load_specs([specs], root=root)


def assert_same(ours, reference) -> None:
    assert list(ours._models.items()) == list(reference._models.items())
    assert ours.errors == reference.errors
    assert ours.warnings == reference.warnings
    assert (ours.files, ours.indexed, ours.environments, ours.root) == (
        reference.files,
        reference.indexed,
        reference.environments,
        reference.root,
    )


def test_two_cores_give_exactly_one_cores_answer(tmp_path, monkeypatch, two_cores):
    specs = fleet(tmp_path)
    ours = load_specs([specs], root=str(tmp_path))
    assert len(two_cores) == 1
    reference = one_core(specs, str(tmp_path), monkeypatch)
    assert_same(ours, reference)
    # Each core's share had a problem of each kind, and every valid model is there.
    assert sorted(e.file.rsplit("/", 1)[-1] for e in ours.errors) == ["model-02.yaml", "model-09.yaml"]
    assert {w.file.rsplit("/", 1)[-1] for w in ours.warnings} == {"model-03.yaml", "model-10.yaml"}
    assert len(ours.models("dev")) == FLEET - 2


def test_the_second_core_takes_a_little_under_half_of_the_model_specs(tmp_path, monkeypatch, two_cores):
    specs = fleet(tmp_path, broken=False)
    files, _ = loader.find_spec_files([specs])
    raws = {file: loader.read_bytes(file) for file in files}
    names = {file: loader.model_name_of(raw) for file, raw in raws.items()}
    share = loader._second_share(files, raws, names, loader.Counter())
    assert len(share) == FLEET // 2 and all(names[file] for file in share)
    assert share == [file for file in files if names[file]][-len(share) :]  # the last ones
    assert loader.SECOND_SHARE == 0.46  # 6 of 12 here; 460 of 1,000
    monkeypatch.setattr(loader, "TWO_CORES_FROM", FLEET + 2)  # too few to be worth a copy
    assert loader._second_share(files, raws, names, loader.Counter()) == []


@pytest.mark.parametrize(
    "odd",
    [
        pytest.param({"model-05.yaml": model("model-07")}, id="a name twice"),
        pytest.param({"odd.yaml": "{kind: Model, name: odd}\n"}, id="a spec whose name needs parsing"),
    ],
)
def test_what_one_core_must_see_whole_is_validated_by_one(tmp_path, monkeypatch, two_cores, odd):
    # A name twice is reported on the later file only, and a name that needs parsing may be
    # anyone's: only one process that sees every file answers exactly.
    specs = fleet(tmp_path, broken=False)
    for name, text in odd.items():
        write(tmp_path, name, text)
    ours = load_specs([specs], root=str(tmp_path))
    assert two_cores == []
    assert ours.errors and ours.errors == one_core(specs, str(tmp_path), monkeypatch).errors


def test_a_copy_that_fails_costs_time_not_the_answer(tmp_path, monkeypatch, two_cores):
    specs = fleet(tmp_path)
    parent, real = os.getpid(), loader._validated

    def failing_in_the_copy(*args, **kwargs):
        if os.getpid() != parent:
            raise RuntimeError("the copy fails")
        return real(*args, **kwargs)

    monkeypatch.setattr(loader, "_validated", failing_in_the_copy)
    ours = load_specs([specs], root=str(tmp_path))
    assert len(two_cores) == 1
    monkeypatch.setattr(loader, "_validated", real)
    assert_same(ours, one_core(specs, str(tmp_path), monkeypatch))


def test_an_interrupted_load_leaves_no_copy_running(tmp_path, monkeypatch, two_cores):
    specs = fleet(tmp_path)
    parent, real = os.getpid(), loader._validated

    def interrupted_here(*args, **kwargs):
        if os.getpid() == parent:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(loader, "_validated", interrupted_here)
    with pytest.raises(KeyboardInterrupt):
        load_specs([specs], root=str(tmp_path))
    (copy,) = two_cores
    with pytest.raises(ChildProcessError):  # killed and reaped: no such child any more
        os.waitpid(copy, os.WNOHANG)


def test_each_core_writes_the_cache_entries_of_its_share(tmp_path, monkeypatch, two_cores):
    monkeypatch.setenv("MODELFORM_SPEC_CACHE", "on")
    specs = fleet(tmp_path)
    first = load_specs([specs], root=str(tmp_path))
    entries = [p for p in (tmp_path / ".modelform" / "cache" / "specs").rglob("*") if p.is_file()]
    assert len(entries) == FLEET - 2  # every valid model spec; the two with errors are never cached
    validated: list[str] = []
    real = loader._validated
    monkeypatch.setattr(loader, "_validated", lambda *a, **k: validated.extend(a[2]) or real(*a, **k))
    again = load_specs([specs], root=str(tmp_path))
    assert sorted(f.rsplit("/", 1)[-1] for f in validated) == ["model-02.yaml", "model-09.yaml", "platform.yaml"]
    assert again.errors == first.errors and again.warnings == first.warnings
    assert {k: v for k, v in again._models.items()} == first._models


def test_the_copy_answers_and_leaves(tmp_path):
    copy = forked.Forked(lambda: {"pid": os.getpid(), "value": [1, 2, 3]})
    answer = copy.result()
    assert answer["value"] == [1, 2, 3] and answer["pid"] not in (None, os.getpid())
    assert forked.Forked(lambda: 1 / 0).result() is None  # an exception: no answer, no traceback
    killed = forked.Forked(lambda: os.kill(os.getpid(), signal.SIGKILL))
    assert killed.result() is None


def test_only_a_process_with_one_thread_forks():
    assert forked.can_fork() == (threading.active_count() == 1)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not forked.can_fork()
    finally:
        stop.set()
        other.join()
