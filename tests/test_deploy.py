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
