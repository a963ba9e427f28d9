"""Environment overrides: deep merge rules, validated after the merge, errors at the override's line."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import yaml
from hypothesis import given
from hypothesis import strategies as st

from modelform.spec import rules
from modelform.spec.located import to_plain
from modelform.spec.merge import apply_environment
from modelform.spec.yaml_loader import parse_document
from modelform.spec.types import in_environment
from tests.conftest import DEPLOYMENT, HEADER, REPO, problems_of

F = "specs/m.yaml"


def merged(text: str, environment: str):
    return to_plain(apply_environment(parse_document(text, "s.yaml"), environment))


BASE = """\
name: m
deployments:
  - name: default
    instance_type: ml.g5.xlarge
    autoscaling: {min_instances: 2, max_instances: 40, scheduled: [{name: bf, min_instances: 20}]}
    variants: [{name: current, weight: 90}, {name: candidate, weight: 10}]
  - name: eu
    instance_type: ml.m5.large
retraining: {triggers: [schedule, drift], cooldown: 24h}
"""


def test_named_lists_merge_by_name_and_mappings_merge_by_key():
    text = (
        BASE
        + """\
environments:
  dev:
    deployments:
      - name: default
        instance_type: ml.m5.large
        autoscaling: {min_instances: 1}
        variants: [{name: candidate, weight: 0}]
"""
    )
    result = merged(text, "dev")
    assert result["deployments"][0] == {
        "name": "default",
        "instance_type": "ml.m5.large",
        "autoscaling": {"min_instances": 1, "max_instances": 40, "scheduled": [{"name": "bf", "min_instances": 20}]},
        "variants": [{"name": "current", "weight": 90}, {"name": "candidate", "weight": 0}],
    }
    assert result["deployments"][1] == {"name": "eu", "instance_type": "ml.m5.large"}


def test_other_lists_replace_and_empty_lists_clear():
    text = (
        BASE
        + """\
environments:
  dev:
    deployments: [{name: default, autoscaling: {scheduled: []}}]
    retraining: {triggers: [schedule]}
"""
    )
    result = merged(text, "dev")
    assert result["retraining"] == {"triggers": ["schedule"], "cooldown": "24h"}
    assert result["deployments"][0]["autoscaling"]["scheduled"] == []


def test_new_named_items_are_appended_and_null_removes_a_key():
    text = (
        BASE
        + """\
environments:
  prod:
    deployments: [{name: apac, instance_type: ml.c5.large}, {name: default, autoscaling: null}]
"""
    )
    result = merged(text, "prod")
    assert [d["name"] for d in result["deployments"]] == ["default", "eu", "apac"]
    assert "autoscaling" not in result["deployments"][0]


def test_environments_without_an_override_get_the_base():
    result = merged(BASE + "environments: {dev: {name: other}}\n", "prod")
    assert result == merged(BASE, "prod") and "environments" not in result


_scalars = st.one_of(st.integers(-5, 5), st.text("abc", max_size=3), st.booleans())
_trees = st.recursive(
    _scalars,
    lambda inner: st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), _trees, max_size=4))
def test_an_empty_override_changes_nothing(base):
    text = yaml.safe_dump({**base, "environments": {"dev": {}}})
    assert merged(text, "dev") == base


@given(
    st.dictionaries(st.sampled_from(["a", "b", "c"]), _trees, max_size=3),
    st.dictionaries(st.sampled_from(["a", "b", "c"]), _scalars, max_size=3),
)
def test_scalar_overrides_win_and_other_keys_survive(base, override):
    text = yaml.safe_dump({**base, "environments": {"dev": override}})
    result = merged(text, "dev")
    assert {k: result[k] for k in override} == override
    assert {k: v for k, v in result.items() if k not in override} == {
        k: v for k, v in base.items() if k not in override
    }


# --- validated after the merge, reported at the override's line -----------------------------------------------------


def test_invalid_override_value_points_at_the_override(repo):
    text = (
        HEADER
        + DEPLOYMENT
        + """\
environments:
  dev:
    deployments:
      - name: default
        instance_type: ml.m5.larg
"""
    )
    assert problems_of(repo, text) == [
        f"{F}:16:24: deployments[0].instance_type: 'ml.m5.larg' is not a SageMaker hosting instance type "
        "(did you mean 'ml.m5.large'?) (environment dev)"
    ]


def test_unknown_key_in_an_override(repo):
    text = HEADER + DEPLOYMENT + "environments:\n  prod: {protekt: true}\n"
    assert problems_of(repo, text) == [
        f"{F}:13:10: protekt: unknown field 'protekt' (did you mean 'protect'?) (environment prod)"
    ]


def test_override_that_breaks_a_cross_field_rule_points_at_the_override(repo):
    text = (
        HEADER
        + DEPLOYMENT
        + """\
    autoscaling: {min_instances: 2, max_instances: 10}
environments:
  dev:
    deployments: [{name: default, autoscaling: {max_instances: 1}}]
"""
    )
    # The offending min_instances is the base's, but it is the override that made the pair wrong.
    assert problems_of(repo, text) == [
        f"{F}:15:48: deployments[0].autoscaling.min_instances: min_instances (2) is greater than "
        "max_instances (1) (environment dev)"
    ]


def test_override_removing_what_a_trigger_needs(repo):
    text = (
        HEADER
        + DEPLOYMENT
        + """\
training: {instance_type: ml.g5.2xlarge}
retraining: {triggers: [schedule], schedule: rate(7 days)}
environments:
  staging:
    retraining: {schedule: null}
"""
    )
    assert problems_of(repo, text) == [
        f"{F}:16:17: retraining.triggers[0]: trigger 'schedule' needs retraining.schedule (environment staging)"
    ]


def test_a_base_problem_is_reported_once_not_per_environment(repo):
    text = (
        HEADER
        + DEPLOYMENT.replace("ml.m5.large", "ml.m5.larg")
        + "environments:\n  dev: {description: dev}\n  prod: {protect: true}\n"
    )
    assert problems_of(repo, text) == [
        f"{F}:10:20: deployments[0].instance_type: 'ml.m5.larg' is not a SageMaker hosting instance type "
        "(did you mean 'ml.m5.large'?)"
    ]


def test_unknown_environment_names_are_errors(repo):
    text = HEADER + DEPLOYMENT + "environments:\n  prd: {protect: true}\n"
    assert problems_of(repo, text) == [
        f"{F}:13:3: environments.prd: unknown environment 'prd' (did you mean 'prod'?); known: dev, prod, staging "
        "(declare more under the Platform spec's environments)"
    ]


def test_platform_declares_more_environments(repo):
    from tests.conftest import PLATFORM

    text = HEADER + DEPLOYMENT + "environments:\n  qa: {protect: true}\n"
    specs_ok = problems_of(repo, text, platform=PLATFORM + "environments: {qa: {}}\n")
    assert specs_ok == []
    assert repo.validate().model("fraud", "qa").protect is True


class _Guarded:
    """A model spec that refuses to give the fields model rules must not read."""

    def __init__(self, spec):
        self._spec = spec

    def __getattr__(self, name):
        if name in rules.NOT_READ_BY_MODEL_RULES:
            raise AssertionError(f"a model rule read '{name}'")
        return getattr(self._spec, name)


def test_model_rules_read_neither_the_environment_nor_protection(sample_specs):
    """What lets an override that only changes protection (`prod: {protect: true}`) skip the model
    rules: their answers for it are the base's, already reported."""
    now = datetime(2026, 11, 28, tzinfo=timezone.utc)  # inside the samples' scheduled windows
    for environment in sample_specs.environments:
        for spec in sample_specs.models(environment):
            assert list(rules.model_problems(_Guarded(spec), str(REPO))) == []
            list(rules.model_warnings(_Guarded(spec), now))


def test_specs_are_the_same_for_model_rules_unless_a_field_they_read_differs(sample_specs):
    base = sample_specs.models("dev")[0]
    prod = in_environment(replace(base, protect_setting=True), "prod")
    assert rules.same_for_model_rules(prod, base)
    assert not rules.same_for_model_rules(replace(base, owner="someone@acme.example"), base)
    assert not rules.same_for_model_rules(replace(base, deployments=base.deployments[:0]), base)


def test_an_override_of_protection_alone_reports_the_bases_problems_once(repo):
    text = HEADER + DEPLOYMENT.replace("model_version: 1}", "model_version: 1, weight: 0}")
    text += "environments:\n  prod: {protect: true}\n  dev: {protect: false}\n"
    assert problems_of(repo, text) == [
        f"{F}:11:15: deployments[0].variants: at least one variant needs a weight above 0, or no traffic is served"
    ]
