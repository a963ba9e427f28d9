"""The spec cache: a valid spec that did not change is not validated again, and nothing it depends
on (its bytes, the Platform spec, the validator, the code folder, the clock) can change unseen."""

from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest

import modelform.spec.loader as loader
from modelform.spec import load_specs
from tests.conftest import DEPLOYMENT, HEADER, PLATFORM, SpecRepo

WINDOW = """\
    autoscaling:
      min_instances: 1
      max_instances: 4
      scheduled:
        - {name: peak, start: "2030-11-27T00:00:00Z", end: "2030-11-28T00:00:00Z", min_instances: 2, max_instances: 8}
"""


@pytest.fixture
def cached_repo(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELFORM_SPEC_CACHE", "on")
    repo = SpecRepo(tmp_path)
    repo.write("platform.yaml", PLATFORM)
    repo.write("a.yaml", HEADER.replace("name: fraud", "name: alpha") + DEPLOYMENT + WINDOW)
    repo.write("b.yaml", HEADER.replace("name: fraud", "name: beta") + DEPLOYMENT)
    return repo


@pytest.fixture
def validated(monkeypatch):
    """The files each load validates (parses and checks), in order."""
    seen: list[str] = []
    original = loader._validate_document
    monkeypatch.setattr(
        loader, "_validate_document", lambda d, *a: seen.append(os.path.basename(d.file)) or original(d, *a)
    )
    return seen


def load(repo: SpecRepo):
    return load_specs([str(repo.root / "specs")], root=str(repo.root))


def test_an_unchanged_valid_spec_is_not_validated_again(cached_repo, validated):
    first = load(cached_repo)
    assert first.errors == [] and sorted(validated) == ["a.yaml", "b.yaml", "platform.yaml"]
    validated.clear()
    second = load(cached_repo)
    assert validated == ["platform.yaml"]  # the Platform spec is always validated
    assert second.models("prod") == first.models("prod") and second.models("dev") == first.models("dev")
    assert second.warnings == first.warnings and second.errors == []


def test_a_changed_spec_is_validated_again_and_only_it(cached_repo, validated):
    load(cached_repo)
    validated.clear()
    cached_repo.write(
        "b.yaml", HEADER.replace("name: fraud", "name: beta") + DEPLOYMENT.replace("ml.m5.large", "ml.m5.xlarge")
    )
    specs = load(cached_repo)
    assert sorted(validated) == ["b.yaml", "platform.yaml"]
    assert specs.model("beta", "prod").deployments[0].instance_type == "ml.m5.xlarge"


def test_a_platform_change_validates_every_spec(cached_repo, validated):
    load(cached_repo)
    validated.clear()
    cached_repo.write("platform.yaml", PLATFORM.replace("region: us-east-1", "region: eu-west-1"))
    load(cached_repo)
    assert sorted(validated) == ["a.yaml", "b.yaml", "platform.yaml"]


def test_the_filesystem_is_checked_every_time(cached_repo):
    assert load(cached_repo).errors == []
    (cached_repo.root / "model_code" / "train.py").unlink()
    (cached_repo.root / "model_code").rmdir()
    assert [e.path for e in load(cached_repo).errors] == ["model.code", "model.code"]


def test_a_window_ending_since_brings_its_warning(cached_repo, monkeypatch):
    assert load(cached_repo).warnings == []

    class Later(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2030, 12, 1, tzinfo=timezone.utc)

    monkeypatch.setattr(loader, "datetime", Later)
    (warning,) = load(cached_repo).warnings
    assert warning.file.endswith("a.yaml") and "window 'peak' ended at 2030-11-28T00:00:00Z" in warning.message


def test_invalid_specs_are_never_cached(cached_repo, validated):
    cached_repo.write("b.yaml", HEADER.replace("name: fraud", "name: beta") + DEPLOYMENT + "retrainng: {}\n")
    first = load(cached_repo)
    validated.clear()
    second = load(cached_repo)
    assert "b.yaml" in validated and second.errors == first.errors != []


def test_an_unreadable_entry_is_a_miss(cached_repo, validated):
    load(cached_repo)
    for folder, _, names in os.walk(cached_repo.root / ".modelform" / "cache" / "specs"):
        for name in names:
            with open(os.path.join(folder, name), "wb") as handle:
                handle.write(b"not a pickle")
    validated.clear()
    specs = load(cached_repo)
    assert sorted(validated) == ["a.yaml", "b.yaml", "platform.yaml"] and specs.errors == []


def test_a_name_taken_twice_is_reported_even_when_both_were_valid_alone(cached_repo):
    load(cached_repo)
    cached_repo.write("c.yaml", HEADER.replace("name: fraud", "name: beta") + DEPLOYMENT)
    (error,) = load(cached_repo).errors
    assert error.path == "name" and "model 'beta' is also defined in" in error.message


def test_the_cache_can_be_turned_off(cached_repo, monkeypatch, validated):
    monkeypatch.setenv("MODELFORM_SPEC_CACHE", "off")
    load(cached_repo)
    load(cached_repo)
    assert validated.count("a.yaml") == 2
    assert not (cached_repo.root / ".modelform" / "cache").exists()


def test_entries_expire_at_the_first_window_end_to_come(cached_repo):
    from modelform.spec.cache import valid_until

    specs = load(cached_repo)
    alpha = {env: specs.model("alpha", env) for env in specs.environments}
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert valid_until(alpha, now) == datetime(2030, 11, 28, tzinfo=timezone.utc)
    assert valid_until(alpha, datetime(2030, 11, 28, tzinfo=timezone.utc)) is None  # over: nothing more to come
    assert valid_until({env: specs.model("beta", env) for env in specs.environments}, now) is None
