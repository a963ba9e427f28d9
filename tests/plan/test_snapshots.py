"""The whole plan of the sample specs in every environment, as reviewed snapshots.

Every resource name, type, parent, option and input is pinned here; a change to a component or a
sample spec shows up in review as a diff of tests/snapshots/plan-<env>.json. Regenerate them
deliberately with `make snapshots` and review the diff like code.
"""

from __future__ import annotations

import pytest

from modules.plan import plan_environment, plan_json
from modules.spec import load_specs
from tests.conftest import REPO


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_plan_matches_the_reviewed_snapshot(env, monkeypatch):
    monkeypatch.chdir(REPO)
    actual = plan_json(plan_environment(load_specs(["specs"]), env, progress=False))
    expected = (REPO / "tests" / "snapshots" / f"plan-{env}.json").read_text()
    assert actual == expected, f"plan of {env} changed: review it, then run `make snapshots`"
