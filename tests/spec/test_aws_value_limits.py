"""Values AWS would refuse (or that make no sense) are refused where they are written, with the
limit in the message: capacities, training runtime, retraining cooldown, tag characters, and code
paths that leave the repository."""

from __future__ import annotations

import os

from tests.conftest import DEPLOYMENT, HEADER, problems_of

F = "specs/m.yaml"
TRAINING = "training:\n  instance_type: ml.g5.2xlarge\n"
DATA = "data: {training: s3://acme-data/t/, version: '1'}\n"


def test_capacities_beyond_what_aws_can_carry(repo):
    text = HEADER + DEPLOYMENT + "    autoscaling: {min_instances: 1, max_instances: 100000000000000000000}\n"
    (problem,) = problems_of(repo, text)
    assert problem.startswith(f"{F}:12:52: deployments[0].autoscaling.max_instances: must be at most 2147483647")
    assert "2147483647" in problem


def test_training_runtime_is_at_most_28_days_on_sagemaker(repo):
    assert problems_of(repo, HEADER + DEPLOYMENT + TRAINING + "  max_runtime: 400d\n") == [
        f"{F}:14:16: training.max_runtime: 34560000 s is more than SageMaker allows a training job (28d)"
    ]
    assert problems_of(repo, HEADER + DEPLOYMENT + TRAINING + "  max_runtime: 28d\n") == []


def test_retraining_cooldown_has_a_floor(repo):
    text = HEADER + DEPLOYMENT + TRAINING + DATA + "retraining: {triggers: [new_data], cooldown: 0s}\n"
    assert problems_of(repo, text) == [
        f"{F}:15:46: retraining.cooldown: at least 1h: a retraining takes longer, and the guard lets one start "
        "per cooldown"
    ]


def test_tag_values_use_only_characters_aws_accepts(repo):
    text = HEADER.replace("team: risk\n", "team: risk\ntags: {cost-center: '44#11', owner-name: 'Zoë Müller'}\n")
    assert problems_of(repo, text + DEPLOYMENT) == [
        f"{F}:6:21: tags.cost-center: '44#11' has characters AWS tags do not allow ('#'); use letters, digits, "
        "spaces and _ . : / = + - @"
    ]


def test_entry_points_stay_inside_the_code_folder(repo):
    (repo.root / "outside.py").write_text("print('not shipped')\n")
    os.symlink(repo.root / "outside.py", repo.root / "model_code" / "link.py")
    header = HEADER.replace(
        "code: model_code}", "code: model_code, entry_point: ../../../../etc/passwd, inference_entry_point: link.py}"
    )
    found = problems_of(repo, header + DEPLOYMENT + TRAINING)
    assert found == [
        f"{F}:6:66: model.entry_point: '../../../../etc/passwd' must be a file inside model_code/ (the code is "
        "shipped from there)",
        f"{F}:6:113: model.inference_entry_point: 'link.py' must be a file inside model_code/ (the code is shipped "
        "from there)",
    ]
