"""`modelform preview|up|destroy`: without a Pulumi CLI, one line and exit 2; prod is guarded."""

from __future__ import annotations

import pytest

from modelform import deploy
from modelform.cli import main
from tests.conftest import REPO


@pytest.mark.parametrize("command", ["preview", "up", "destroy"])
def test_without_the_pulumi_cli_exit_2_with_one_line(command, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.chdir(REPO)
    assert main([command, "--env", "dev"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"modelform {command}: the Pulumi CLI is not installed")


def test_destroy_order_and_prod_guard(sample_specs):
    stacks = deploy._stacks(sample_specs, "dev", None)
    assert [s[1] for s in stacks] == [
        "acme-ml.dev",
        "car-damage-estimator.dev",
        "demand-forecaster.dev",
        "fraud-detector.dev",
    ]
    order = deploy._destroy_order(stacks, sample_specs, "dev", whole_environment=True)
    assert [s[1] for s in order] == [
        "fraud-detector.dev",
        "demand-forecaster.dev",
        "car-damage-estimator.dev",
        "acme-ml.dev",
    ]
    only = deploy._destroy_order(
        deploy._stacks(sample_specs, "dev", ["fraud-detector"]), sample_specs, "dev", whole_environment=False
    )
    assert [s[1] for s in only] == ["fraud-detector.dev"]
    with pytest.raises(
        deploy.DeployError, match="refusing to destroy prod stack fraud-detector.prod: set `decommission: true`"
    ):
        deploy._destroy_order(
            deploy._stacks(sample_specs, "prod", ["fraud-detector"]), sample_specs, "prod", whole_environment=False
        )
    with pytest.raises(deploy.DeployError, match="no spec defines model\\(s\\) nope"):
        deploy._stacks(sample_specs, "dev", ["nope"])


def test_up_with_model_leaves_the_platform_alone_unless_asked(sample_specs):
    assert [s[1] for s in deploy._stacks(sample_specs, "dev", ["fraud-detector"])] == ["fraud-detector.dev"]
    with_platform = deploy._stacks(sample_specs, "dev", ["fraud-detector"], with_platform=True)
    assert [s[1] for s in with_platform] == ["acme-ml.dev", "fraud-detector.dev"]
    assert [s[1] for s in deploy._stacks(sample_specs, "dev", None, platform_only=True)] == ["acme-ml.dev"]


class _Input:
    def __init__(self, tty: bool):
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_up_and_destroy_ask_unless_yes():
    deploy.confirm("up", yes=True, stdin=_Input(False))  # CI passes --yes
    deploy.confirm("preview", yes=False, stdin=_Input(False))  # a preview changes nothing
    with pytest.raises(deploy.DeployError, match="pass --yes when no one is at a terminal") as refused:
        deploy.confirm("up", yes=False, stdin=_Input(False))
    assert refused.value.exit_code == 2
    deploy.confirm("destroy", yes=False, stdin=_Input(True), answer=lambda prompt: "yes")
    with pytest.raises(deploy.DeployError, match="destroy cancelled; nothing changed"):
        deploy.confirm("destroy", yes=False, stdin=_Input(True), answer=lambda prompt: "y")


class FakeStack:
    """What `deploy.run` uses of a Pulumi Automation API stack: it records the calls."""

    def __init__(self, log: list, name: str, fail: str = ""):
        self.log, self.name, self.fail = log, name, fail

    def _operation(self, action: str, on_output) -> None:
        self.log.append((action, self.name))
        on_output(f"{action} {self.name}\n")
        if self.fail == action:
            from pulumi.automation._cmd import CommandResult
            from pulumi.automation.errors import CommandError

            raise CommandError(CommandResult(stdout="", stderr="error: AccessDenied: not authorized", code=255))

    def preview(self, on_output):
        self._operation("preview", on_output)

    def up(self, on_output):
        self._operation("up", on_output)

    def destroy(self, on_output):
        self._operation("destroy", on_output)


@pytest.fixture
def engine(monkeypatch):
    """The real-engine path against a fake Automation API (no Pulumi CLI, no AWS)."""
    from pulumi import automation

    log: list = []
    failing: dict = {}
    monkeypatch.setattr(deploy, "require_pulumi_cli", lambda: "/usr/bin/pulumi")
    monkeypatch.setattr(
        automation,
        "create_or_select_stack",
        lambda stack_name, **kwargs: FakeStack(log, stack_name, failing.get(stack_name, "")),
    )
    return log, failing


def test_up_with_yes_runs_the_platform_first_then_the_models(engine, sample_specs):
    log, _ = engine
    assert deploy.run("up", sample_specs, "dev", yes=True) == 0
    assert log == [
        ("up", "acme-ml.dev"),
        ("up", "car-damage-estimator.dev"),
        ("up", "demand-forecaster.dev"),
        ("up", "fraud-detector.dev"),
    ]


def test_up_of_one_model_never_touches_the_platform(engine, sample_specs):
    log, _ = engine
    assert deploy.run("up", sample_specs, "dev", ["fraud-detector"], yes=True) == 0
    assert log == [("up", "fraud-detector.dev")]


def test_destroy_of_one_model_never_touches_the_platform(engine, sample_specs):
    log, _ = engine
    assert deploy.run("destroy", sample_specs, "dev", ["fraud-detector"], yes=True) == 0
    assert log == [("destroy", "fraud-detector.dev")]


def test_up_without_yes_previews_then_refuses_without_a_terminal(engine, sample_specs, monkeypatch):
    log, _ = engine
    monkeypatch.setattr("sys.stdin", _Input(False))
    with pytest.raises(deploy.DeployError, match="pass --yes"):
        deploy.run("up", sample_specs, "dev", ["fraud-detector"])
    assert log == [("preview", "fraud-detector.dev")]  # previewed, nothing applied


def test_an_engine_error_is_one_line(engine, sample_specs):
    log, failing = engine
    failing["demand-forecaster.dev"] = "up"
    with pytest.raises(deploy.DeployError) as failed:
        deploy.run("up", sample_specs, "dev", yes=True)
    assert str(failed.value).startswith("the Pulumi engine failed: ") and "\n" not in str(failed.value)
    assert "AccessDenied" in str(failed.value)
    assert log[-1] == ("up", "demand-forecaster.dev") and ("up", "fraud-detector.dev") not in log  # stops there
