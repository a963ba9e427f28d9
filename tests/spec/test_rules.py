"""Every rule of the spec language ("Rules beyond types"), each with a bad spec whose problem is pinned:
file, line, column, field path and message.

Given a small spec (HEADER lines 1-6, DEPLOYMENT lines 7-11), when one thing is wrong, then
exactly that problem is reported, where the user wrote it.
"""

from __future__ import annotations

import pytest

from tests.conftest import DEPLOYMENT, HEADER, PLATFORM, problems_of

F = "specs/m.yaml"


def test_the_small_spec_is_valid(repo):
    assert problems_of(repo, HEADER + DEPLOYMENT) == []


# --- unknown keys ---------------------------------------------------------------------------------


def test_unknown_top_level_key_suggests_the_near_miss(repo):
    assert problems_of(repo, HEADER + DEPLOYMENT + "retrainng: {triggers: [schedule]}\n") == [
        f"{F}:12:1: retrainng: unknown field 'retrainng' (did you mean 'retraining'?)"
    ]


def test_unknown_nested_key_points_at_the_key(repo):
    text = HEADER + DEPLOYMENT.replace("    instance_type: ml.m5.large\n", "    instance_typ: ml.m5.large\n")
    assert problems_of(repo, text) == [
        f"{F}:10:5: deployments[0].instance_typ: unknown field 'instance_typ' (did you mean 'instance_type'?)"
    ]


def test_unknown_key_without_a_near_miss_has_no_suggestion(repo):
    assert problems_of(repo, HEADER + DEPLOYMENT + "colour: blue\n") == [f"{F}:12:1: colour: unknown field 'colour'"]


# --- duplicate keys and safe YAML --------------------------------------------------------------------


def test_duplicate_key_is_reported_at_the_second_occurrence(repo):
    text = HEADER + "team: fraud\n" + DEPLOYMENT
    assert problems_of(repo, text) == [
        f"{F}:7:1: team: duplicate key 'team' (first defined at line 5); YAML loaders silently keep the last one"
    ]


def test_python_tags_are_refused_and_never_run(repo, tmp_path):
    marker = tmp_path / "pwned"
    text = HEADER + DEPLOYMENT + f"description: !!python/object/apply:os.system ['touch {marker}']\n"
    assert problems_of(repo, text) == [
        f"{F}:12:14: (root): YAML tag '!!python/object/apply:os.system' is not allowed; spec files use plain YAML "
        "(strings, numbers, booleans, null, mappings, lists)"
    ]
    assert not marker.exists()


# --- names unique where they name things ---------------------------------------------------------------


def test_duplicate_deployment_names(repo):
    text = HEADER + DEPLOYMENT + DEPLOYMENT.replace("deployments:\n", "")
    assert problems_of(repo, text) == [
        f"{F}:12:11: deployments[1].name: deployment name 'default' is used more than once"
    ]


def test_duplicate_variant_names(repo):
    text = HEADER + DEPLOYMENT.replace(
        "variants: [{name: current, model_version: 1}]",
        "variants: [{name: current, model_version: 1}, {name: current, model_version: 2}]",
    )
    assert problems_of(repo, text) == [
        f"{F}:11:58: deployments[0].variants[1].name: variant name 'current' is used more than once"
    ]


SCALING = """\
    autoscaling:
      min_instances: 1
      max_instances: 4
      scheduled:
        - {name: peak, start: "2026-11-27T00:00:00Z", end: "2026-11-28T00:00:00Z", min_instances: 2, max_instances: 8}
"""


def test_duplicate_scheduled_window_names(repo):
    second = (
        '        - {name: peak, start: "2026-12-27T00:00:00Z", end: "2026-12-28T00:00:00Z", '
        "min_instances: 2, max_instances: 8}\n"
    )
    assert problems_of(repo, HEADER + DEPLOYMENT + SCALING + second) == [
        f"{F}:17:18: deployments[0].autoscaling.scheduled[1].name: scheduled window name 'peak' is used more than once"
    ]


def test_duplicate_cluster_and_node_group_names(repo):
    platform = PLATFORM.replace("name: cpu-only", "name: serving").replace("name: system", "name: system") + (
        "      - {name: system, instance_types: [m6i.large], max: 2}\n"
    )
    assert problems_of(repo, HEADER + DEPLOYMENT, platform=platform) == [
        "specs/platform.yaml:10:11: clusters[1].name: cluster name 'serving' is used more than once",
        "specs/platform.yaml:14:16: clusters[1].node_groups[1].name: node group name 'system' is used more than once",
    ]


# --- variants -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant, column, path, found",
    [
        ("{name: current, model_version: 1, artifact: s3://models-a/m.tar.gz}", 60, "variants[0].artifact", "both"),
        ("{name: current, weight: 1}", 16, "variants[0]", "neither"),
    ],
)
def test_a_variant_has_exactly_one_of_model_version_and_artifact(repo, variant, column, path, found):
    text = HEADER + DEPLOYMENT.replace("{name: current, model_version: 1}", variant)
    assert problems_of(repo, text) == [
        f"{F}:11:{column}: deployments[0].{path}: a variant has exactly one of model_version and artifact "
        f"(found {found})"
    ]


def test_negative_weight(repo):
    text = HEADER + DEPLOYMENT.replace("model_version: 1}", "model_version: 1, weight: -5}")
    assert problems_of(repo, text) == [f"{F}:11:58: deployments[0].variants[0].weight: must be at least 0 (got -5)"]


def test_weights_not_all_zero(repo):
    text = HEADER + DEPLOYMENT.replace("model_version: 1}", "model_version: 1, weight: 0}")
    assert problems_of(repo, text) == [
        f"{F}:11:15: deployments[0].variants: at least one variant needs a weight above 0, or no traffic is served"
    ]


# --- min <= max, start < end -------------------------------------------------------------------------------


def test_min_instances_above_max(repo):
    text = (
        HEADER
        + DEPLOYMENT
        + SCALING.replace("max_instances: 4", "max_instances: 0")
        .replace("min_instances: 1\n", "min_instances: 9\n")
        .replace("max_instances: 0", "max_instances: 3")
    )
    assert problems_of(repo, text) == [
        f"{F}:13:22: deployments[0].autoscaling.min_instances: min_instances (9) is greater than max_instances (3)"
    ]


def test_scheduled_window_min_above_max_and_end_before_start(repo):
    text = (
        HEADER
        + DEPLOYMENT
        + SCALING.replace(
            'end: "2026-11-28T00:00:00Z", min_instances: 2', 'end: "2026-11-26T00:00:00Z", min_instances: 20'
        )
    )
    assert problems_of(repo, text) == [
        f"{F}:16:60: deployments[0].autoscaling.scheduled[0].end: must be after start",
        f"{F}:16:99: deployments[0].autoscaling.scheduled[0].min_instances: min_instances (20) is greater "
        "than max_instances (8)",
    ]


def test_overlapping_scheduled_windows(repo):
    second = (
        '        - {name: later, start: "2026-11-27T12:00:00Z", end: "2026-11-29T00:00:00Z", '
        "min_instances: 2, max_instances: 8}\n"
    )
    assert problems_of(repo, HEADER + DEPLOYMENT + SCALING + second) == [
        f"{F}:17:32: deployments[0].autoscaling.scheduled[1].start: window 'later' overlaps window 'peak'; "
        "the restore at the end of one would cut the other short"
    ]


EKS = """\
deployments:
  - name: default
    target: eks
    cluster: serving
    variants: [{name: current, model_version: 1}]
    autoscaling: {min_replicas: 5, max_replicas: 2}
"""


def test_min_replicas_above_max(repo):
    assert problems_of(repo, HEADER + EKS) == [
        f"{F}:12:33: deployments[0].autoscaling.min_replicas: min_replicas (5) is greater than max_replicas (2)"
    ]


EKS_WINDOW = """\
      scheduled:
        - {name: peak, start: "2026-11-27T00:00:00Z", end: "2026-11-28T00:00:00Z", min_replicas: 6, max_replicas: 12}
"""
EKS_SCALING = EKS.replace(
    "autoscaling: {min_replicas: 5, max_replicas: 2}\n", "autoscaling:\n      min_replicas: 1\n      max_replicas: 4\n"
)


def test_eks_deployments_schedule_peaks_in_replicas(repo):
    assert problems_of(repo, HEADER + EKS_SCALING + EKS_WINDOW) == []


def test_a_window_speaks_its_targets_units(repo):
    eks_in_instances = EKS_WINDOW.replace("min_replicas: 6, max_replicas: 12", "min_instances: 6, max_instances: 12")
    assert problems_of(repo, HEADER + EKS_SCALING + eks_in_instances) == [
        f"{F}:16:11: deployments[0].autoscaling.scheduled[0].max_replicas: required in a scheduled window for "
        "target eks",
        f"{F}:16:11: deployments[0].autoscaling.scheduled[0].min_replicas: required in a scheduled window for "
        "target eks",
        f"{F}:16:99: deployments[0].autoscaling.scheduled[0].min_instances: does not apply to target eks",
        f"{F}:16:117: deployments[0].autoscaling.scheduled[0].max_instances: does not apply to target eks",
    ]
    sagemaker_in_replicas = SCALING.replace("min_instances: 2, max_instances: 8", "min_replicas: 2, max_instances: 8")
    assert problems_of(repo, HEADER + DEPLOYMENT + sagemaker_in_replicas) == [
        f"{F}:16:11: deployments[0].autoscaling.scheduled[0].min_instances: required in a scheduled window for "
        "target sagemaker",
        f"{F}:16:98: deployments[0].autoscaling.scheduled[0].min_replicas: does not apply to target sagemaker",
    ]


def test_eks_window_rules_are_the_sagemaker_ones(repo):
    overlapping = EKS_WINDOW + (
        '        - {name: later, start: "2026-11-27T12:00:00Z", end: "2026-11-26T00:00:00Z", '
        "min_replicas: 20, max_replicas: 8}\n"
    )
    assert problems_of(repo, HEADER + EKS_SCALING + overlapping) == [
        f"{F}:17:32: deployments[0].autoscaling.scheduled[1].start: window 'later' overlaps window 'peak'; the "
        "restore at the end of one would cut the other short",
        f"{F}:17:61: deployments[0].autoscaling.scheduled[1].end: must be after start",
        f"{F}:17:99: deployments[0].autoscaling.scheduled[1].min_replicas: min_replicas (20) is greater than "
        "max_replicas (8)",
    ]


def test_node_group_min_above_max(repo):
    platform = PLATFORM.replace(
        "{name: system, instance_types: [m6i.large], max: 4}",
        "{name: system, instance_types: [m6i.large], min: 6, max: 4}",
    )
    assert problems_of(repo, HEADER + DEPLOYMENT, platform=platform) == [
        "specs/platform.yaml:13:58: clusters[1].node_groups[0].min: min (6) is greater than max (4)"
    ]


# --- instance types --------------------------------------------------------------------------------------

TRAINING = """\
training:
  instance_type: ml.g5.2xlarge
"""


def test_training_instance_type_must_be_a_training_type(repo):
    text = HEADER + DEPLOYMENT + TRAINING.replace("ml.g5.2xlarge", "ml.c5d.large")
    assert problems_of(repo, text) == [
        f"{F}:13:18: training.instance_type: 'ml.c5d.large' is a SageMaker hosting instance type; "
        "SageMaker training does not offer it"
    ]


def test_hosting_instance_type_must_be_a_hosting_type(repo):
    text = HEADER + DEPLOYMENT.replace("ml.m5.large", "ml.c5n.xlarge")
    assert problems_of(repo, text) == [
        f"{F}:10:20: deployments[0].instance_type: 'ml.c5n.xlarge' is a SageMaker training instance type; "
        "SageMaker hosting does not offer it"
    ]


def test_misspelt_instance_type_suggests_the_real_one(repo):
    text = HEADER + DEPLOYMENT.replace("ml.m5.large", "ml.m5.larg")
    assert problems_of(repo, text) == [
        f"{F}:10:20: deployments[0].instance_type: 'ml.m5.larg' is not a SageMaker hosting instance type "
        "(did you mean 'ml.m5.large'?)"
    ]


def test_inferentia_and_trainium_instances_are_refused(repo):
    text = HEADER + DEPLOYMENT.replace("ml.m5.large", "ml.inf2.xlarge")
    assert problems_of(repo, text) == [
        f"{F}:10:20: deployments[0].instance_type: 'ml.inf2.xlarge' is an AWS Inferentia/Trainium instance, "
        "which runs Neuron builds of PyTorch; the AWS PyTorch images modelform runs are for CPU and NVIDIA GPU "
        "instances"
    ]
    training = HEADER + DEPLOYMENT + TRAINING.replace("ml.g5.2xlarge", "ml.trn1.2xlarge")
    assert [p.split(": ", 2)[1] for p in problems_of(repo, training)] == ["training.instance_type"]


@pytest.mark.parametrize(
    "version, scope",
    [("2.8", "inference"), ("1.13", "training"), ("3.0", "training")],
)
def test_framework_version_needs_aws_images(repo, version, scope):
    from modelform.spec.aws_catalog import pytorch_versions

    text = HEADER.replace('framework_version: "2.6"', f'framework_version: "{version}"') + DEPLOYMENT
    assert problems_of(repo, text) == [
        f"{F}:6:28: model.framework_version: no AWS PyTorch {scope} image for version {version}: modelform runs "
        f"PyTorch 2 on AWS's images, whose {scope} images exist for {', '.join(pytorch_versions(scope))}"
    ]


def test_every_published_version_is_accepted_in_both_forms(repo):
    for version in ("2.0", "2.5", "2.5.1", "2.6.0"):
        text = HEADER.replace('framework_version: "2.6"', f'framework_version: "{version}"') + DEPLOYMENT
        assert problems_of(repo, text) == [], version


def test_framework_images_must_exist_in_the_platforms_region(repo, monkeypatch):
    from modelform.spec import aws_catalog

    # AWS publishes every image in every SageMaker region today; a new region gets them later.
    published = aws_catalog.pytorch_image_regions
    monkeypatch.setattr(
        aws_catalog,
        "pytorch_image_regions",
        lambda scope, version: published(scope, version) - ({"us-east-1"} if scope == "inference" else set()),
    )
    count = len(published("inference", "2.6")) - 1
    assert problems_of(repo, HEADER + DEPLOYMENT) == [
        f"{F}:6:28: model.framework_version: AWS publishes PyTorch 2.6 inference images in {count} regions, "
        "not in us-east-1, the region of platform 'acme-ml'"
    ]


def test_gpu_pods_need_a_gpu_node_group(repo):
    text = HEADER + EKS.replace("cluster: serving", "cluster: cpu-only").replace(
        "    autoscaling: {min_replicas: 5, max_replicas: 2}\n", "    resources: {gpu: 1}\n"
    )
    assert problems_of(repo, text) == [
        f"{F}:12:22: deployments[0].resources.gpu: requests GPUs, but cluster 'cpu-only' "
        "has no node group with gpu: true"
    ]


def test_gpu_node_group_needs_gpu_instances(repo):
    platform = PLATFORM.replace("[g5.xlarge]", "[g5.xlarge, m6i.large]")
    assert problems_of(repo, HEADER + DEPLOYMENT, platform=platform) == [
        "specs/platform.yaml:9:49: clusters[0].node_groups[0].instance_types[1]: 'm6i.large' "
        "has no GPU, but the node group says gpu: true"
    ]


def test_node_group_instance_types_are_real_ec2_types(repo):
    platform = PLATFORM.replace("[m6i.large]", "[m6i.larg]")
    assert problems_of(repo, HEADER + DEPLOYMENT, platform=platform) == [
        "specs/platform.yaml:13:41: clusters[1].node_groups[0].instance_types[0]: 'm6i.larg' "
        "is not an EC2 instance type (did you mean 'm6i.large'?)"
    ]


# --- clusters exist ------------------------------------------------------------------------------------------


def test_eks_deployment_cluster_must_exist(repo):
    text = HEADER + EKS.replace("cluster: serving", "cluster: servng").replace("min_replicas: 5", "min_replicas: 1")
    assert problems_of(repo, text) == [
        f"{F}:10:14: deployments[0].cluster: cluster 'servng' is not a cluster of platform 'acme-ml' "
        "(did you mean 'serving'?) (clusters: serving, cpu-only)"
    ]


def test_eks_deployment_without_a_platform_spec(repo):
    text = HEADER + EKS.replace("min_replicas: 5", "min_replicas: 1")
    assert problems_of(repo, text, platform=None) == [
        f"{F}:10:14: deployments[0].cluster: cluster 'serving' needs a Platform spec (kind: Platform) "
        "among the specs validated together"
    ]


def test_eks_training_cluster_must_exist_and_offer_the_instance_type(repo):
    training = "training: {backend: eks, cluster: serving, instance_type: p4d.24xlarge}\n"
    assert problems_of(repo, HEADER + DEPLOYMENT + training) == [
        f"{F}:12:59: training.instance_type: 'p4d.24xlarge' is not an instance type of cluster 'serving' "
        "(offers g5.xlarge)"
    ]
    training = "training: {backend: eks, cluster: training, instance_type: p4d.24xlarge}\n"
    assert problems_of(repo, HEADER + DEPLOYMENT + training) == [
        f"{F}:12:35: training.cluster: cluster 'training' is not a cluster of platform 'acme-ml' "
        "(clusters: serving, cpu-only)"
    ]


def test_target_specific_fields(repo):
    text = HEADER + EKS.replace("    cluster: serving\n", "    instance_type: ml.m5.large\n").replace(
        "min_replicas: 5", "min_instances: 1"
    )
    assert problems_of(repo, text) == [
        f"{F}:8:5: deployments[0].cluster: required for target eks",
        f"{F}:10:20: deployments[0].instance_type: does not apply to target eks",
        f"{F}:12:18: deployments[0].autoscaling.min_replicas: required in autoscaling for target eks",
        f"{F}:12:34: deployments[0].autoscaling.min_instances: does not apply to target eks",
    ]


# --- triggers need what they use ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "trigger, message",
    [
        ("drift", "trigger 'drift' needs monitoring.drift"),
        ("quality", "trigger 'quality' needs monitoring.quality"),
        ("schedule", "trigger 'schedule' needs retraining.schedule"),
        ("new_data", "trigger 'new_data' needs data.training"),
    ],
)
def test_each_trigger_needs_its_source(repo, trigger, message):
    text = HEADER + DEPLOYMENT + TRAINING + f"retraining: {{triggers: [{trigger}]}}\n"
    assert problems_of(repo, text) == [f"{F}:14:25: retraining.triggers[0]: {message}"]


def test_quality_trigger_needs_ground_truth(repo):
    text = (
        HEADER
        + DEPLOYMENT
        + TRAINING
        + (
            "data: {training: s3://acme-data/train/, version: v1}\n"
            "monitoring: {problem_type: binary_classification, quality: [{metric: auc, min: 0.8}]}\n"
            "retraining: {triggers: [quality]}\n"
        )
    )
    assert problems_of(repo, text) == [
        f"{F}:15:60: monitoring.quality: quality monitoring compares predictions with labels: set data.ground_truth",
        f"{F}:16:25: retraining.triggers[0]: trigger 'quality' needs data.ground_truth",
    ]


def test_retraining_needs_training(repo):
    text = HEADER + DEPLOYMENT + "retraining: {triggers: [schedule], schedule: rate(7 days)}\n"
    assert problems_of(repo, text) == [
        f"{F}:12:13: retraining: retraining needs a training section to know how to train"
    ]


# --- metrics fit the problem type ----------------------------------------------------------------------------------


def _monitoring(problem_type: str, bound: str) -> str:
    return (
        "data: {ground_truth: s3://acme-data/labels/, version: v1}\n"
        f"monitoring:\n  problem_type: {problem_type}\n  quality:\n    - {bound}\n"
    )


@pytest.mark.parametrize(
    "problem_type, bound, column, path, message",
    [
        (
            "regression",
            "{metric: auc, min: 0.8}",
            16,
            "metric",
            "'auc' is not a regression metric; it is a binary classification metric (use one of rmse, mae, "
            "mse, mape, r2)",
        ),
        (
            "binary_classification",
            "{metric: rmse, max: 3}",
            16,
            "metric",
            "'rmse' is not a binary classification metric; it is a regression metric "
            "(use one of auc, pr_auc, accuracy, precision, recall, f1, log_loss)",
        ),
        (
            "regression",
            "{metric: rmse, min: 10}",
            27,
            "min",
            "'rmse' is an error metric (lower is better): bound it with max",
        ),
        (
            "binary_classification",
            "{metric: auc, max: 0.99}",
            26,
            "max",
            "'auc' is a score (higher is better): bound it with min",
        ),
        ("binary_classification", "{metric: auc, min: 85}", 26, "min", "'auc' lies between 0 and 1 (got 85)"),
        (
            "binary_classification",
            "{metric: recal, min: 0.5}",
            16,
            "metric",
            "'recal' is not a binary classification metric (did you mean 'recall'?) "
            "(use one of auc, pr_auc, accuracy, precision, recall, f1, log_loss)",
        ),
        ("regression", "{metric: r2, min: 0.9, max: 0.5}", 25, "min", "min (0.9) is greater than max (0.5)"),
        ("regression", "{metric: r2}", 7, "", "the bound on 'r2' needs min and/or max"),
    ],
)
def test_quality_metrics_fit_the_problem_type(repo, problem_type, bound, column, path, message):
    text = HEADER + DEPLOYMENT + _monitoring(problem_type, bound)
    where = "monitoring.quality[0]" + (f".{path}" if path else "")
    assert problems_of(repo, text) == [f"{F}:16:{column}: {where}: {message}"]


def test_evaluation_gate_metric_fits_the_problem_type(repo):
    text = (
        HEADER
        + DEPLOYMENT
        + TRAINING
        + "  evaluation: {metric: rmse, max: 10}\n"
        + ("monitoring: {problem_type: binary_classification}\n")
    )
    assert problems_of(repo, text) == [
        f"{F}:14:24: training.evaluation.metric: 'rmse' is not a binary classification metric; "
        "it is a regression metric "
        "(use one of auc, pr_auc, accuracy, precision, recall, f1, log_loss)"
    ]


def test_drift_threshold_above_one_for_bounded_scores(repo):
    text = HEADER + DEPLOYMENT + "monitoring: {problem_type: regression, drift: {method: ks, threshold: 2}}\n"
    assert problems_of(repo, text) == [
        f"{F}:12:71: monitoring.drift.threshold: the ks score lies between 0 and 1, so threshold 2 never alarms"
    ]


# --- values are parsed ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, column, path, message",
    [
        (
            "training: {instance_type: ml.g5.2xlarge, max_runtime: 4 hours}",
            55,
            "training.max_runtime",
            "'4 hours' is not a duration; write <integer><unit> with unit s, m, h or d (e.g. '10m')",
        ),
        (
            "training: {instance_type: ml.g5.2xlarge, max_runtime: 4w}",
            55,
            "training.max_runtime",
            "'4w': unknown duration unit 'w'; use s, m, h or d",
        ),
        (
            "monitoring: {problem_type: regression, schedule: rate(1 hours)}",
            50,
            "monitoring.schedule",
            "'rate(1 hours)': EventBridge requires 'rate(1 hour)'",
        ),
        (
            "monitoring: {problem_type: regression, schedule: cron(0 25 * * ? *)}",
            50,
            "monitoring.schedule",
            "'cron(0 25 * * ? *)': hours value 25 is outside 0-23",
        ),
        (
            "monitoring: {problem_type: regression, schedule: 'cron(0 6 * * *)'}",
            50,
            "monitoring.schedule",
            "'cron(0 6 * * *)': an EventBridge cron has 6 fields (minutes hours day-of-month month "
            "day-of-week year), found 5",
        ),
        (
            "monitoring: {problem_type: regression, schedule: 'cron(0 6 * * MON *)'}",
            50,
            "monitoring.schedule",
            "'cron(0 6 * * MON *)': exactly one of day-of-month and day-of-week must be '?'",
        ),
        (
            "data: {training: 'http://acme/x', version: v1}",
            18,
            "data.training",
            "'http://acme/x' is not an S3 URI; write s3://<bucket>/<key or prefix>",
        ),
        (
            "data: {training: 's3://ab/x', version: v1}",
            18,
            "data.training",
            "'s3://ab/x': bucket 'ab' must be 3 to 63 characters long",
        ),
        (
            "monitoring: {problem_type: regression, notify: [oncall@acme]}",
            49,
            "monitoring.notify[0]",
            "'oncall@acme' is not an e-mail address (expected local-part@domain.tld)",
        ),
        (
            "monitoring: {problem_type: regression, notify: ['a b@acme.example']}",
            49,
            "monitoring.notify[0]",
            "'a b@acme.example' is not an e-mail address",
        ),
    ],
)
def test_values_are_parsed_not_pattern_guessed(repo, line, column, path, message):
    assert problems_of(repo, HEADER + DEPLOYMENT + line + "\n") == [f"{F}:12:{column}: {path}: {message}"]


def test_timestamps_need_a_time_zone(repo):
    text = HEADER + DEPLOYMENT + SCALING.replace('start: "2026-11-27T00:00:00Z"', "start: 2026-11-27T00:00:00")
    assert problems_of(repo, text) == [
        f"{F}:16:31: deployments[0].autoscaling.scheduled[0].start: '2026-11-27T00:00:00' has no time zone; "
        "add 'Z' for UTC or an offset such as '+01:00'"
    ]


# --- types, required fields, headers ---------------------------------------------------------------------------------


def test_type_errors_name_the_expected_type_and_suggest_quoting(repo):
    text = (
        HEADER.replace('framework_version: "2.6"', "framework_version: 2.6")
        + DEPLOYMENT
        + "tags: {cost-center: 4411}\n"
    )
    assert problems_of(repo, text) == [
        f"{F}:6:28: model.framework_version: must be a string (got number 2.6); quote it: '2.6'",
        f"{F}:12:21: tags.cost-center: must be a string (got integer 4411); quote it: '4411'",
    ]


def test_booleans_are_not_integers(repo):
    text = HEADER + DEPLOYMENT.replace("model_version: 1}", "model_version: true}")
    assert problems_of(repo, text) == [
        f"{F}:11:47: deployments[0].variants[0].model_version: must be an integer (got boolean true)"
    ]


def test_missing_required_fields_point_at_the_enclosing_mapping(repo):
    text = HEADER.replace("owner: ml@acme.example\n", "") + DEPLOYMENT.replace("    target: sagemaker\n", "")
    assert problems_of(repo, text) == [
        f"{F}:1:1: owner: required field is missing",
        f"{F}:7:5: deployments[0].target: required field is missing",
    ]


def test_unknown_enum_value_suggests_the_near_miss(repo):
    text = HEADER + DEPLOYMENT.replace("target: sagemaker", "target: sagmaker")
    assert problems_of(repo, text) == [
        f"{F}:9:13: deployments[0].target: must be one of sagemaker, eks "
        "(got string 'sagmaker') (did you mean 'sagemaker'?)"
    ]


def test_model_name_pattern(repo):
    text = HEADER.replace("name: fraud", "name: Fraud_Detector") + DEPLOYMENT
    assert problems_of(repo, text) == [
        f"{F}:3:7: name: 'Fraud_Detector' must be 2 to 32 lowercase letters, digits and hyphens, "
        "starting with a letter "
        "and not ending with a hyphen (derived AWS names must fit)"
    ]


def test_derived_names_must_fit_aws_limits(repo):
    text = HEADER.replace("name: fraud", "name: a-very-long-model-name-for-fraud") + DEPLOYMENT.replace(
        "name: default", "name: europe-enterprise-tier"
    ).replace("name: current", "name: candidate-2026")
    assert problems_of(repo, text) == [
        f"{F}:11:23: deployments[0].variants[0].name: the derived resource name "
        "'a-very-long-model-name-for-fraud-europe-enterprise-tier-candidate-2026' has 70 characters; "
        "at most 54 fit (SageMaker allows 63 including a content hash): shorten the model, deployment or variant name"
    ]


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "spec_version: 1\nname: x\n",
            "specs/m.yaml:1:1: kind: required field is missing; write `kind: Model` or `kind: Platform`",
        ),
        (
            "spec_version: 1\nkind: Modle\n",
            "specs/m.yaml:2:7: kind: must be Model or Platform (got 'Modle') (did you mean 'Model'?)",
        ),
        (
            "spec_version: 2\nkind: Model\n",
            "specs/m.yaml:1:15: spec_version: this modelform reads spec_version 1, not 2; upgrade modelform",
        ),
    ],
)
def test_header(repo, text, expected):
    assert problems_of(repo, text, platform=None) == [expected]


def test_model_code_must_exist_inside_the_repository(repo):
    assert problems_of(repo, HEADER.replace("code: model_code", "code: src/model") + DEPLOYMENT) == [
        f"{F}:6:41: model.code: folder 'src/model' does not exist under the repository root {repo.root}"
    ]
    assert problems_of(repo, HEADER.replace("code: model_code", "code: ../elsewhere") + DEPLOYMENT) == [
        f"{F}:6:41: model.code: '../elsewhere' must be a folder inside the repository ({repo.root})"
    ]


def test_model_names_are_unique_across_files(repo):
    repo.write("a.yaml", HEADER + DEPLOYMENT)
    assert problems_of(repo, HEADER + DEPLOYMENT) == [
        f"{F}:3:7: name: model 'fraud' is also defined in specs/a.yaml; model names are unique"
    ]


def test_one_platform_per_spec_set(repo):
    repo.write("other-platform.yaml", PLATFORM)
    assert problems_of(repo, HEADER + DEPLOYMENT) == [
        "specs/platform.yaml:2:7: kind: only one Platform spec per spec set; specs/other-platform.yaml is already one"
    ]


def test_rollout_step_percent_belongs_to_canary_and_linear(repo):
    text = HEADER + DEPLOYMENT + "    rollout: {strategy: canary}\n"
    assert problems_of(repo, text) == [f"{F}:12:14: deployments[0].rollout.step_percent: required for strategy canary"]
    text = HEADER + DEPLOYMENT + "    rollout: {strategy: all_at_once, step_percent: 10}\n"
    assert problems_of(repo, text) == [
        f"{F}:12:52: deployments[0].rollout.step_percent: applies only to strategies canary and linear"
    ]
    text = HEADER + DEPLOYMENT + "    rollout: {strategy: linear, step_percent: 10, wait: 2h}\n"
    assert problems_of(repo, text) == [
        f"{F}:12:57: deployments[0].rollout.wait: SageMaker waits at most 1h between rollout steps"
    ]


def test_spot_settings(repo):
    text = HEADER + DEPLOYMENT + "training: {instance_type: ml.g5.2xlarge, max_runtime: 4h, spot: true, max_wait: 1h}\n"
    assert problems_of(repo, text) == [
        f"{F}:12:81: training.max_wait: must be at least max_runtime (spot waiting time includes the run)"
    ]
    text = HEADER + DEPLOYMENT + "training: {instance_type: ml.g5.2xlarge, max_wait: 1h}\n"
    assert problems_of(repo, text) == [f"{F}:12:52: training.max_wait: applies only with spot: true"]


def test_too_many_sagemaker_variants(repo):
    variants = ", ".join(f"{{name: v{i}, model_version: {i + 1}}}" for i in range(11))
    text = HEADER + DEPLOYMENT.replace("[{name: current, model_version: 1}]", f"[{variants}]")
    assert problems_of(repo, text) == [
        f"{F}:11:15: deployments[0].variants: SageMaker endpoints hold at most 10 variants (got 11)"
    ]


@pytest.mark.parametrize("version", ["1.19", "1.29", "1.38"])
def test_kubernetes_version_supported(repo, version):
    platform = PLATFORM.replace('kubernetes_version: "1.31"', f'kubernetes_version: "{version}"', 1)
    assert problems_of(repo, HEADER + DEPLOYMENT, platform=platform) == [
        f"specs/platform.yaml:7:25: clusters[0].kubernetes_version: Kubernetes {version} is outside the supported "
        "1.30-1.37"
    ]


def test_platform_region_and_network(repo):
    platform = PLATFORM.replace("region: us-east-1", "region: us-east-9\nnetwork: {vpc_cidr: 8.8.0.0/16}")
    assert problems_of(repo, HEADER + DEPLOYMENT, platform=platform) == [
        "specs/platform.yaml:4:9: region: 'us-east-9' is not an AWS region with SageMaker (did you mean 'us-east-2'?)",
        "specs/platform.yaml:5:21: network.vpc_cidr: '8.8.0.0/16' is not a private (RFC 1918) range",
    ]


def test_platform_egress_deploy_role_and_api_allowlist(repo):
    platform = PLATFORM.replace(
        "region: us-east-1",
        "region: us-east-1\nnetwork: {egress: internet}\ndeploy_role_arn: deployer",
    ).replace(
        '  - name: cpu-only\n    kubernetes_version: "1.31"',
        '  - name: cpu-only\n    kubernetes_version: "1.31"\n'
        "    public_api_cidrs: [0.0.0.0/0, 10.0.0.0/8, 52.94.76.0/22]",
    )
    assert problems_of(repo, HEADER + DEPLOYMENT, platform=platform) == [
        "specs/platform.yaml:5:19: network.egress: must be one of endpoints, nat (got string 'internet')",
        "specs/platform.yaml:6:18: deploy_role_arn: 'deployer' must be an IAM role ARN such as "
        "'arn:aws:iam::111122223333:role/deploy'",
        "specs/platform.yaml:14:24: clusters[1].public_api_cidrs[0]: '0.0.0.0/0' opens the API to too much of the "
        "internet; allow /8 or narrower",
        "specs/platform.yaml:14:35: clusters[1].public_api_cidrs[1]: '10.0.0.0/8' is not a public range; callers "
        "inside the VPC use the private endpoint",
    ]


def test_training_needs_its_entry_point(repo):
    text = HEADER + DEPLOYMENT + TRAINING
    (repo.root / "model_code" / "train.py").unlink()
    assert problems_of(repo, text) == [
        f"{F}:6:8: model.entry_point: 'train.py' does not exist in model_code/ (training runs it)"
    ]
    (repo.root / "model_code" / "train.py").write_text("print('training')\n")
    assert problems_of(repo, text) == []


@pytest.mark.parametrize(
    "given, monitored, message",
    [
        (
            "regression",
            "binary_classification",
            "'regression' disagrees with monitoring.problem_type 'binary_classification': the model is trained for one "
            "and judged as the other",
        ),
        (
            "regresion",
            None,
            "'regresion' is not a problem type (use one of binary_classification, multiclass_classification, "
            "regression) (did you mean 'regression'?)",
        ),
    ],
)
def test_training_problem_type_agrees_with_monitoring(repo, given, monitored, message):
    text = HEADER + DEPLOYMENT + TRAINING + f"  hyperparameters: {{problem_type: {given}}}\n"
    if monitored:
        text += f"monitoring: {{problem_type: {monitored}}}\n"
    (found,) = problems_of(repo, text)
    assert found.endswith(f"training.hyperparameters.problem_type: {message}"), found
    assert found.startswith(f"{F}:14:")


def test_training_problem_type_that_agrees_is_valid(repo):
    text = HEADER + DEPLOYMENT + TRAINING + "  hyperparameters: {problem_type: regression}\n"
    assert problems_of(repo, text + "monitoring: {problem_type: regression}\n") == []


def test_a_zero_length_window_is_refused_and_equal_bounds_are_valid(repo):
    start = SCALING[SCALING.index('start: "') + 8 : SCALING.index('start: "') + 28]
    zero = SCALING.replace('end: "2026-11-28T00:00:00Z"', f'end: "{start}"')
    assert zero != SCALING
    assert problems_of(repo, HEADER + DEPLOYMENT + zero) == [
        f"{F}:16:60: deployments[0].autoscaling.scheduled[0].end: must be after start"
    ]
    equal = SCALING.replace(
        'end: "2026-11-28T00:00:00Z", min_instances: 2', 'end: "2026-11-28T00:00:00Z", min_instances: 8'
    )
    assert problems_of(repo, HEADER + DEPLOYMENT + equal) == []  # min == max: a fixed fleet for the window
