"""The whole plan of the sample specs in every environment, as reviewed snapshots.

Every resource name, type, parent, option and input is pinned here; a change to a component or a
sample spec shows up in review as a diff of tests/snapshots/plan-<env>.json. Regenerate them
deliberately with `make snapshots` and review the diff like code. (The code version, which
changes with every edit of model_code/, appears as `<code-version>`.)
"""

from __future__ import annotations

import pytest

from tests.conftest import REPO
from tests.snapshots.update import plan_text


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_plan_matches_the_reviewed_snapshot(env):
    expected = (REPO / "tests" / "snapshots" / f"plan-{env}.json").read_text()
    assert plan_text(env) == expected, f"plan of {env} changed: review it, then run `make snapshots`"
