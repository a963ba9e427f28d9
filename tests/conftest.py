"""Shared helpers: write specs into a throwaway repository and validate them."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from hypothesis import settings

from modelform.spec import load_spec_texts, load_specs


# Property tests replay the same examples in every run: a red CI is a regression, never chance.
# `make fuzz` runs them randomised and far longer (MODELFORM_HYPOTHESIS_PROFILE=fuzz).
settings.register_profile("deterministic", derandomize=True, database=None, max_examples=250, deadline=None)
settings.register_profile("fuzz", derandomize=False, max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("MODELFORM_HYPOTHESIS_PROFILE", "deterministic"))

# The spec cache is exercised by its own tests (tests/spec/test_spec_cache.py); everywhere else each
# load validates, so that a test that changes a rule never reads an entry made before the change.
os.environ.setdefault("MODELFORM_SPEC_CACHE", "off")
# Likewise the plan caches (SDK results, stack plans: tests/plan/test_plan_cache.py): a test that
# patches a component must see its own program run, not a plan kept from an unpatched one.
os.environ.setdefault("MODELFORM_CACHE", "off")

REPO = Path(__file__).resolve().parents[1]
#: The sample specs the tests plan and pin: a copy of specs/ at the time the snapshots were made,
#: so that a user editing or adding specs in specs/ never changes what the tests expect.
SPECS = REPO / "tests" / "fixtures" / "specs"

#: Lines 1-6 of every small test spec.
HEADER = """\
spec_version: 1
kind: Model
name: fraud
owner: ml@acme.example
team: risk
model: {framework_version: "2.6", code: model_code}
"""

#: Lines 7-11: one SageMaker deployment serving a registry version.
DEPLOYMENT = """\
deployments:
  - name: default
    target: sagemaker
    instance_type: ml.m5.large
    variants: [{name: current, model_version: 1}]
"""

PLATFORM = """\
spec_version: 1
kind: Platform
name: acme-ml
region: us-east-1
clusters:
  - name: serving
    kubernetes_version: "1.31"
    node_groups:
      - {name: gpu, instance_types: [g5.xlarge], max: 4, gpu: true}
  - name: cpu-only
    kubernetes_version: "1.31"
    node_groups:
      - {name: system, instance_types: [m6i.large], max: 4}
"""


class SpecRepo:
    """A temporary repository root with specs/ and model_code/."""

    def __init__(self, root: Path):
        self.root = root
        (root / "specs").mkdir()
        (root / "model_code").mkdir()
        (root / "model_code" / "train.py").write_text("print('a training entry point')\n")

    def write(self, name: str, text: str) -> Path:
        path = self.root / "specs" / name
        path.write_text(textwrap.dedent(text))
        return path

    def validate(self, *paths: str):
        cwd = os.getcwd()
        os.chdir(self.root)
        try:
            return load_specs(list(paths) or ["specs"])
        finally:
            os.chdir(cwd)

    def problems(self, *paths: str) -> list[str]:
        return [str(e) for e in self.validate(*paths).errors]


@pytest.fixture
def repo(tmp_path: Path) -> SpecRepo:
    return SpecRepo(tmp_path)


def problems_of(repo: SpecRepo, model_text: str, *, platform: str | None = PLATFORM) -> list[str]:
    """Validate one model spec (specs/m.yaml), with the test platform beside it by default."""
    repo.write("m.yaml", model_text)
    if platform is not None:
        repo.write("platform.yaml", platform)
    return repo.problems()


@pytest.fixture(scope="session")
def sample_specs():
    specs = load_specs([str(SPECS)], root=str(REPO))
    assert specs.errors == []
    return specs


@pytest.fixture(scope="session")
def sample_plans(sample_specs):
    """The plan document of the sample specs in every environment, computed once."""
    from modelform.plan import plan_environment

    return {env: plan_environment(sample_specs, env, progress=False) for env in sample_specs.environments}


def specs_with(name: str, *edits: str):
    """The sample specs with `name` edited: pairs of (old, new) texts, each old found exactly once."""
    samples = {path.name: path.read_text() for path in SPECS.glob("*.yaml")}
    text = samples[name]
    for old, new in zip(edits[::2], edits[1::2]):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    texts = [(f"specs/{n}", t) for n, t in samples.items() if n != name] + [(f"specs/{name}", text)]
    return load_spec_texts(texts, root=str(REPO))


def resources_of(plan: dict, stack: str, type_: str | None = None) -> dict[str, dict]:
    """The resources of one stack of a plan, by name (optionally only one type)."""
    (found,) = [s for s in plan["stacks"] if s["stack"] == stack]
    return {r["name"]: r for r in found["resources"] if type_ is None or r["type"] == type_}
