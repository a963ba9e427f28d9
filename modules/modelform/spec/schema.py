"""The structure of spec language v1, as cerberus schemas.

This file is the single source of truth for key names, types, allowed values, defaults and the
one-line description of every field: the validator checks documents against it, the typed layer
(`types.py`) takes its defaults from `meta.default`, and `modelform schema` turns it into a JSON
Schema for editors. Rules that relate several fields or several files live in `rules.py`.

Custom `check_with` names (`duration`, `schedule`, `s3_uri`, `email`, ...) are implemented by
`validator.SpecValidator` with the parsers in `parsers.py`.
"""

from __future__ import annotations

from typing import Any

SPEC_VERSION = 1

#: Model, deployment, variant, cluster and node group names become parts of AWS and Kubernetes
#: names, so they are DNS labels: lowercase letters, digits and inner hyphens.
NAME_PATTERN = r"^[a-z]([a-z0-9-]*[a-z0-9])?$"
MODEL_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$"
ENVIRONMENT_PATTERN = r"^[a-z][a-z0-9]{0,15}$"
KUBERNETES_VERSION_PATTERN = r"^1\.[0-9]{2}$"
ROLE_ARN_PATTERN = r"^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
ACCOUNT_ID_PATTERN = r"^[0-9]{12}$"

#: What each pattern means, in words; used in error messages instead of the regular expression.
PATTERN_HELP = {
    NAME_PATTERN: "lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen",
    MODEL_NAME_PATTERN: "2 to 32 lowercase letters, digits and hyphens, starting with a letter and "
    "not ending with a hyphen (derived AWS names must fit)",
    ENVIRONMENT_PATTERN: "up to 16 lowercase letters and digits, starting with a letter",
    KUBERNETES_VERSION_PATTERN: "a Kubernetes minor version such as '1.31'",
    ROLE_ARN_PATTERN: "an IAM role ARN such as 'arn:aws:iam::111122223333:role/deploy'",
    ACCOUNT_ID_PATTERN: "a 12-digit AWS account id, quoted (e.g. '111122223333')",
}

#: AWS's limits on numbers a spec sets (checked where they are written).
#: Application Auto Scaling and SageMaker carry capacities as 32-bit integers.
MAX_CAPACITY = 2_147_483_647
#: EKS managed node groups: at most 1,000 nodes per group (Amazon EKS service quotas).
MAX_NODES = 1000
#: SageMaker training jobs run at most 28 days (MaxRuntimeInSeconds).
MAX_TRAINING_RUNTIME = "28d"
#: A retraining takes longer than this; a shorter cooldown would let alarms start overlapping runs.
MIN_RETRAINING_COOLDOWN = "1h"

#: The retention periods CloudWatch Logs accepts (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

#: Environments every spec may override without declaring them; a Platform spec's
#: `environments` may add more (e.g. `qa: {}`).
DEFAULT_ENVIRONMENTS = ("dev", "staging", "prod")

PROBLEM_TYPES = ("binary_classification", "multiclass_classification", "regression")
DRIFT_METHODS = ("psi", "ks", "jensen_shannon")
RETRAINING_TRIGGERS = ("schedule", "drift", "quality", "new_data")
ROLLOUT_STRATEGIES = ("all_at_once", "canary", "linear")


# --- small constructors that keep the schema below readable -----------------------------------


def _field(kind: str | list[str], description: str, default: Any = None, **rules: Any) -> dict:
    meta: dict[str, Any] = {"description": description}
    if default is not None:
        meta["default"] = default
    return {"type": kind, "meta": meta, **rules}


def string(description: str, default: Any = None, **rules: Any) -> dict:
    return _field("string", description, default, empty=False, **rules)


def integer(description: str, default: Any = None, **rules: Any) -> dict:
    return _field("integer", description, default, **rules)


def number(description: str, default: Any = None, **rules: Any) -> dict:
    return _field("number", description, default, **rules)


def boolean(description: str, default: Any = None, **rules: Any) -> dict:
    return _field("boolean", description, default, **rules)


def mapping(description: str, fields: dict, default: Any = None, **rules: Any) -> dict:
    return _field("dict", description, default, schema=fields, **rules)


def list_of(description: str, item: dict, default: Any = None, **rules: Any) -> dict:
    return _field("list", description, default, schema=item, **rules)


def tags_field(description: str) -> dict:
    return _field(
        "dict",
        description,
        {},
        keysrules={"type": "string", "minlength": 1, "maxlength": 128, "check_with": "tag_key"},
        valuesrules={"type": "string", "maxlength": 256, "check_with": "tag_value"},
        maxlength=40,
    )


def environments_field(kind: str) -> dict:
    return _field(
        "dict",
        f"Per-environment overrides, deep-merged over this {kind} spec: mappings merge key by key, "
        "lists of named mappings merge by `name`, other lists replace, and null removes a key.",
        {},
        keysrules={"type": "string", "regex": ENVIRONMENT_PATTERN},
        valuesrules={"type": "dict", "nullable": True},
    )


def _bound_fields(what: str) -> dict:
    return {
        "metric": string(f"The {what} metric's name; must fit `monitoring.problem_type`.", required=True),
        "min": number(f"Lowest acceptable value of the {what} metric (scores such as auc, accuracy)."),
        "max": number(f"Highest acceptable value of the {what} metric (errors such as rmse, mae)."),
    }


def _header(kind: str) -> dict:
    return {
        "spec_version": integer(
            "Version of the spec language; this release reads 1.", required=True, allowed=[SPEC_VERSION]
        ),
        "kind": string("`Model` or `Platform`.", required=True, allowed=[kind]),
    }


# --- kind: Model -----------------------------------------------------------------------------

VARIANT = mapping(
    "A weighted production variant: exactly one of `model_version` (a model registry version) or `artifact`.",
    {
        "name": string("Variant name, unique within the deployment.", required=True, regex=NAME_PATTERN, maxlength=30),
        "model_version": integer("Model registry (model package group) version to serve.", min=1),
        "artifact": string("S3 URI of a model.tar.gz to serve instead of a registry version.", check_with="s3_uri"),
        "weight": number("Relative share of traffic; weights need not sum to 100.", 1, min=0),
    },
)

SHADOW = mapping(
    "A candidate served in the shadow of the deployment: it receives a copy of a share of the requests "
    "(SageMaker shadow variant; on EKS the serving pods mirror them), its answers are captured but never "
    "returned, and the monitoring job scores it on its own, so its quality is compared before promotion. "
    "Exactly one of `model_version` and `artifact`.",
    {
        "name": string(
            "Shadow variant name, unlike the deployment's variants.", required=True, regex=NAME_PATTERN, maxlength=30
        ),
        "model_version": integer("Model registry (model package group) version to test.", min=1),
        "artifact": string("S3 URI of a model.tar.gz to test instead of a registry version.", check_with="s3_uri"),
        "percent": integer("Percent of the production requests copied to the shadow.", 100, min=1, max=100),
    },
)

#: What names a scheduled window and when it is: shared by instance, replica and concurrency windows.
WINDOW_TIMES = {
    "name": string("Window name, unique within the deployment.", required=True, regex=NAME_PATTERN, maxlength=40),
    "start": string(
        "ISO 8601 timestamp with time zone, e.g. 2026-11-27T00:00:00Z.", required=True, check_with="timestamp"
    ),
    "end": string("ISO 8601 timestamp with time zone; after `start`.", required=True, check_with="timestamp"),
}

SCHEDULED_CAPACITY = mapping(
    "A known traffic peak: capacity is raised at `start` and restored at `end` (SageMaker: scheduled actions; "
    "EKS: the deployment's capacity scheduler, which sets the HPAs' bounds within a minute).",
    {
        **WINDOW_TIMES,
        "min_instances": integer(
            "SageMaker: fewest instances of the deployment during the window, shared by the variants by weight "
            "(rounded up, at least 1 each).",
            min=1,
            max=MAX_CAPACITY,
        ),
        "max_instances": integer("SageMaker: most instances per variant during the window.", min=1, max=MAX_CAPACITY),
        "min_replicas": integer(
            "EKS: fewest pods of the deployment during the window, shared by the variants by weight (rounded up, "
            "at least 1 each).",
            min=1,
            max=MAX_CAPACITY,
        ),
        "max_replicas": integer("EKS: most pods per variant during the window.", min=1, max=MAX_CAPACITY),
    },
)

API_CONSUMER = mapping(
    "A caller of the API with its own key and usage plan.",
    {
        "name": string("Consumer name, unique within the API.", required=True, regex=NAME_PATTERN, maxlength=30),
        "rate": number("Steady requests per second allowed.", required=True, min=0.1, max=10000),
        "burst": integer("Requests allowed at once above the rate.", required=True, min=1, max=5000),
        "quota_per_day": integer("Requests allowed per day (UTC); unlimited without it.", min=1),
    },
)

API = mapping(
    "A managed API in front of the deployment: API Gateway calls the SageMaker runtime directly, or an EKS "
    "deployment's load balancer through a VPC link (no Lambda in the path); every request is authenticated (IAM "
    "signatures, Cognito user pool tokens, or on EKS any OIDC issuer's JWTs); per-consumer API keys carry usage "
    "plans; access logs go to a KMS-encrypted log group; a WAF web ACL with a rate-based rule guards it in prod; "
    "its 4xx, 5xx and latency alarms join the model's alert topic. With `auth: jwt` it is an HTTP API: no API "
    "keys, usage plans or WAF (API Gateway offers none for HTTP APIs); the stage's `rate` and `burst` throttle it.",
    {
        "auth": string(
            "iam (callers sign with SigV4 and need execute-api:Invoke) | cognito (a Cognito user pool token) | jwt "
            "(EKS deployments: a JWT that `jwt.issuer` signed for one of `jwt.audiences`).",
            "iam",
            allowed=["iam", "cognito", "jwt"],
        ),
        "cognito_user_pools": list_of(
            "cognito: ARNs of the user pools whose tokens are accepted.",
            string("A user pool ARN.", regex=r"^arn:aws[a-z-]*:cognito-idp:[a-z0-9-]+:[0-9]{12}:userpool/.+$"),
        ),
        "jwt": mapping(
            "jwt: the OpenID Connect issuer whose tokens are accepted (its discovery document and keys are read "
            "by API Gateway).",
            {
                "issuer": string(
                    "The issuer URL, as tokens name it in `iss`, e.g. https://login.acme.example/oauth2/default.",
                    required=True,
                    regex=r"^https://[^\s/]+(/\S*)?$",
                    maxlength=2048,
                ),
                "audiences": list_of(
                    "Accepted `aud` (or `client_id`) values; a token must name one of them.",
                    string("An audience.", maxlength=256),
                    required=True,
                    minlength=1,
                    maxlength=50,
                ),
            },
        ),
        "consumers": list_of(
            "Callers with an API key and a usage plan each; with any, a key is required.", API_CONSUMER, []
        ),
        "rate": number("Requests per second for the whole API (the stage's throttle).", 100, min=1, max=10000),
        "burst": integer("Requests at once for the whole API.", 200, min=1, max=5000),
        "waf_rate_limit": integer(
            "prod: requests per client IP per 5 minutes before the web ACL blocks it.", 2000, min=10, max=2000000000
        ),
        "domain": mapping(
            "A custom domain (a regional ACM certificate); the API's own endpoint is then disabled.",
            {
                "name": string("The domain name, e.g. fraud.api.acme.example.", required=True, maxlength=253),
                "certificate_arn": string(
                    "ACM certificate for the name, in the Platform's region.",
                    required=True,
                    regex=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$",
                ),
            },
        ),
        "alarm_4xx_percent": number("Alarm when this percent of requests are refused (4xx).", 5, min=0, max=100),
    },
)

ASYNC = mapping(
    "SageMaker asynchronous inference: clients put requests in S3 and call InvokeEndpointAsync; answers go "
    "to `<artifacts>/<model>/async/<deployment>/output/` (failures to `.../failures/`), KMS-encrypted, and SNS "
    "topics `<model>-<deployment>-async-success` / `-async-errors` announce them. Autoscaling tracks the backlog "
    "per instance and may scale to zero (`autoscaling.min_instances: 0`). One variant, no shadow.",
    {
        "max_concurrent_invocations_per_instance": integer(
            "Requests one instance works on at once. Defaults to SageMaker's choice.", min=1, max=1000
        ),
        "target_backlog_per_instance": integer("Autoscaling target: queued requests per instance.", 5, min=1),
    },
)

SERVERLESS_WINDOW = mapping(
    "A known peak: provisioned concurrency is raised at `start` and restored at `end`.",
    {
        **WINDOW_TIMES,
        "provisioned_concurrency": integer("Warm concurrency during the window.", required=True, min=1, max=200),
    },
)

SERVERLESS = mapping(
    "SageMaker serverless inference: no instances; SageMaker runs the container per request (CPU only, cold "
    "starts unless provisioned). Serverless endpoints take no instance type, autoscaling, data capture, shadow, "
    "VPC or network isolation (AWS's feature exclusions), and one variant.",
    {
        "memory_mb": integer(
            "Memory of each invocation's container: 1024, 2048, 3072, 4096, 5120 or 6144.",
            required=True,
            allowed=[1024, 2048, 3072, 4096, 5120, 6144],
        ),
        "max_concurrency": integer("Most concurrent invocations.", 20, min=1, max=200),
        "provisioned_concurrency": integer(
            "Invocations kept warm (no cold start), at most max_concurrency.", min=1, max=200
        ),
        "scheduled": list_of("Known peaks with raised provisioned concurrency.", SERVERLESS_WINDOW, []),
    },
)

AUTOSCALING = mapping(
    "Autoscaling. SageMaker deployments use *_instances, target_invocations_per_instance and cooldowns; "
    "EKS deployments use *_replicas and target_cpu_percent; both may schedule known peaks.",
    {
        "min_instances": integer(
            "SageMaker: fewest instances of the deployment, shared by the variants by weight (rounded up, at least "
            "1 each); a new fleet starts at the highest floor, as its share. 0 only for `async` deployments "
            "(scale to zero).",
            min=0,
            max=MAX_CAPACITY,
        ),
        "max_instances": integer("SageMaker: most instances per variant.", min=1, max=MAX_CAPACITY),
        "target_invocations_per_instance": integer(
            "SageMaker: target of the invocations-per-instance tracking policy (per minute).", 1000, min=1
        ),
        "scale_in_cooldown": string("SageMaker: wait after a scale-in before the next.", "5m", check_with="duration"),
        "scale_out_cooldown": string("SageMaker: wait after a scale-out before the next.", "1m", check_with="duration"),
        "scheduled": list_of("Known peaks with raised capacity.", SCHEDULED_CAPACITY, []),
        "min_replicas": integer(
            "EKS: fewest pods of the deployment, shared by the variants by weight (rounded up, at least 1 each).",
            min=1,
            max=MAX_CAPACITY,
        ),
        "max_replicas": integer("EKS: most pods per variant.", min=1, max=MAX_CAPACITY),
        "target_cpu_percent": integer("EKS: HPA target CPU utilisation, percent of the request.", 70, min=1, max=1000),
    },
)

ROLLOUT = mapping(
    "Blue/green update policy of a SageMaker endpoint.",
    {
        "strategy": string("all_at_once | canary | linear.", "all_at_once", allowed=list(ROLLOUT_STRATEGIES)),
        "step_percent": integer("canary/linear: percent of capacity shifted per step.", min=1, max=99),
        "wait": string(
            "Bake time per step; auto-rollback if an alarm fires meanwhile (at most 1h).", "10m", check_with="duration"
        ),
    },
)

RESOURCES = mapping(
    "EKS: requests (and limits) of each serving pod.",
    {
        "cpu": _field(
            ["string", "number"], "CPU cores, a Kubernetes quantity such as 2 or 500m.", "1", check_with="quantity"
        ),
        "memory": _field(
            ["string", "number"], "Memory, a Kubernetes quantity such as 8Gi.", "2Gi", check_with="quantity"
        ),
        "gpu": integer("NVIDIA GPUs per pod; needs a `gpu: true` node group in the cluster.", 0, min=0, max=16),
    },
)

DEPLOYMENT = mapping(
    "Where and how the model is served.",
    {
        "name": string("Deployment name, unique within the model.", required=True, regex=NAME_PATTERN, maxlength=30),
        "target": string("sagemaker | eks.", required=True, allowed=["sagemaker", "eks"]),
        "instance_type": string("SageMaker: a hosting instance type such as ml.g5.xlarge."),
        "instance_count": integer(
            "SageMaker: instances per variant when there is no autoscaling.", 1, min=1, max=MAX_CAPACITY
        ),
        "cluster": string("EKS: a cluster of the Platform spec."),
        "namespace": string("EKS: Kubernetes namespace.", "models", regex=NAME_PATTERN, maxlength=63),
        "variants": list_of(
            "Weighted production variants (at most 10 on SageMaker).", VARIANT, required=True, minlength=1
        ),
        "shadow": SHADOW,
        "api": API,
        "async": ASYNC,
        "serverless": SERVERLESS,
        "autoscaling": AUTOSCALING,
        "rollout": ROLLOUT,
        "data_capture_percent": integer(
            "Percent of requests and responses captured to S3 (SageMaker's capture format, KMS) for drift and "
            "quality monitoring; on EKS the serving container captures them.",
            0,
            min=0,
            max=100,
        ),
        "resources": RESOURCES,
        "max_rps_per_instance": number(
            "Requests per second one instance (SageMaker) or pod (EKS) serves at most, as measured with "
            "bench/serve_load.py; `modelform simulate` replays traffic against it.",
            min=0.001,
        ),
    },
)

MODEL_SCHEMA: dict = {
    **_header("Model"),
    "name": string("Model name; prefix of every derived resource name.", required=True, regex=MODEL_NAME_PATTERN),
    "owner": string("E-mail address of the owning person or team.", required=True, check_with="email"),
    "team": string("Owning team.", required=True, maxlength=64),
    "description": _field("string", "What the model does, for auditors.", ""),
    "tags": tags_field("Tags merged into every resource's tags."),
    "protect": boolean("Protect and retain data-bearing resources. Defaults to true in prod, false elsewhere."),
    "decommission": boolean("Allow the model's stacks to be destroyed, prod endpoints included.", False),
    "model": mapping(
        "The model's code.",
        {
            "framework": string("ML framework; v1 supports pytorch.", "pytorch", allowed=["pytorch"]),
            "framework_version": string(
                "Framework version, e.g. '2.6' (quoted).", required=True, regex=r"^[0-9]+\.[0-9]+(\.[0-9]+)?$"
            ),
            "code": string("Repository-relative folder with the training and inference entry points.", required=True),
            "entry_point": string("Training script inside `code`.", "train.py"),
            "inference_entry_point": string(
                "Serving script inside `code` (SageMaker PyTorch contract).", "inference.py"
            ),
        },
        required=True,
    ),
    "data": mapping(
        "Where the data lives and which version the model was trained on.",
        {
            "training": string("S3 prefix of the training data.", check_with="s3_uri"),
            "validation": string("S3 prefix of the validation data.", check_with="s3_uri"),
            "ground_truth": string("S3 prefix of labels for quality monitoring.", check_with="s3_uri"),
            "version": _field(["string", "integer"], "Version label of the data trained on.", required=True),
        },
    ),
    "training": mapping(
        "How the model is (re)trained.",
        {
            "backend": string("sagemaker | eks.", "sagemaker", allowed=["sagemaker", "eks"]),
            "instance_type": string(
                "sagemaker: an ml.* training type; eks: an EC2 type of the cluster.", required=True
            ),
            "instance_count": integer("Instances (distributed training when > 1).", 1, min=1, max=100),
            "volume_gb": integer("Storage volume per instance, GB.", 50, min=1, max=16384),
            "max_runtime": string(
                f"Stop training after this long; at most {MAX_TRAINING_RUNTIME} on SageMaker.",
                "24h",
                check_with="duration",
            ),
            "max_wait": string(
                "spot: give up waiting for capacity after this long; >= max_runtime. Defaults to twice max_runtime.",
                check_with="duration",
            ),
            "spot": boolean(
                "sagemaker: managed spot training, with checkpoints; eks: run on a node group with "
                "capacity: spot offering instance_type (false: an on-demand one).",
                False,
            ),
            "cluster": string("eks backend: a cluster of the Platform spec."),
            "hyperparameters": _field(
                "dict",
                "Passed to the entry point as --name value.",
                {},
                keysrules={"type": "string", "regex": r"^[A-Za-z_][A-Za-z0-9_-]*$"},
                valuesrules={"type": ["string", "integer", "number", "boolean"]},
            ),
            "evaluation": mapping("Quality gate before a retrained model is registered.", _bound_fields("evaluation")),
        },
    ),
    "deployments": list_of("Where the model is served.", DEPLOYMENT, required=True, minlength=1),
    "batch": mapping(
        "Scheduled batch scoring: on `schedule`, every object under `input` is scored by a pinned model version "
        "and one prediction per input row is written, KMS-encrypted, under the model's "
        "`<artifacts>/<model>/batch/<scheduled time>/`. On SageMaker (`target: sagemaker`) a batch transform runs; "
        "on EKS (`target: eks`) a CronJob runs the serving image's scorer. A run that fails or cannot start raises "
        "an alarm. Exactly one of `model_version` and `artifact`.",
        {
            "target": string("sagemaker | eks: where the runs execute.", "sagemaker", allowed=["sagemaker", "eks"]),
            "schedule": string(
                "Schedule, UTC: rate(...) or cron(...); on EKS one a Kubernetes cron can express.",
                required=True,
                check_with="schedule",
            ),
            "input": string(
                "S3 prefix of the records to score: CSV files, one row per line, no header, the features in the "
                "model's order.",
                required=True,
                check_with="s3_uri",
            ),
            "model_version": integer("Model registry (model package group) version that scores.", min=1),
            "artifact": string(
                "S3 URI of a model.tar.gz that scores instead of a registry version.", check_with="s3_uri"
            ),
            "instance_type": string("SageMaker: a batch transform instance type such as ml.m5.xlarge."),
            "instance_count": integer("SageMaker: instances of each run.", 1, min=1, max=100),
            "max_payload_mb": integer(
                "SageMaker: most MB of records sent to the model in one request.", 6, min=1, max=100
            ),
            "cluster": string("EKS: a cluster of the Platform spec."),
            "namespace": string(
                "EKS: Kubernetes namespace of the CronJob.", "models", regex=NAME_PATTERN, maxlength=63
            ),
            "resources": RESOURCES,
        },
    ),
    "monitoring": mapping(
        "Quality and drift monitoring, and alarms.",
        {
            "schedule": string("EventBridge schedule of the monitoring job.", "rate(1 hour)", check_with="schedule"),
            "problem_type": string(
                "binary_classification | multiclass_classification | regression.",
                required=True,
                allowed=list(PROBLEM_TYPES),
            ),
            "quality": list_of(
                "Alarm bounds on quality metrics against ground truth.",
                mapping("A bound.", _bound_fields("quality")),
                [],
            ),
            "drift": mapping(
                "Feature drift against the training baseline.",
                {
                    "method": string("psi | ks | jensen_shannon.", "psi", allowed=list(DRIFT_METHODS)),
                    "threshold": number("Alarm when a feature's score exceeds this.", required=True, min=0),
                    "features": _field(
                        ["string", "list"], "`all` or a list of feature names.", "all", check_with="features"
                    ),
                },
            ),
            "latency_p99_ms": integer("Alarm when p99 model latency exceeds this many milliseconds.", 1000, min=1),
            "error_rate_percent": number("Alarm when the 5xx rate exceeds this percent.", 1.0, min=0, max=100),
            "notify": list_of(
                "E-mail addresses notified by every alarm.", string("An e-mail address.", check_with="email"), []
            ),
        },
    ),
    "retraining": mapping(
        "When the model is retrained.",
        {
            "triggers": list_of(
                "Any of schedule, drift, quality, new_data.",
                string("A trigger.", allowed=list(RETRAINING_TRIGGERS)),
                required=True,
                minlength=1,
            ),
            "schedule": string("EventBridge schedule for the `schedule` trigger.", check_with="schedule"),
            "cooldown": string(
                f"At most one retraining per cooldown; at least {MIN_RETRAINING_COOLDOWN}.",
                "24h",
                check_with="duration",
            ),
            "approval": string(
                "manual | auto registration of a model that passed the gate.", "manual", allowed=["manual", "auto"]
            ),
        },
    ),
    "environments": environments_field("Model"),
}

# --- kind: Platform --------------------------------------------------------------------------

NODE_GROUP = mapping(
    "An EKS managed node group.",
    {
        "name": string("Node group name, unique within the cluster.", required=True, regex=NAME_PATTERN, maxlength=30),
        "instance_types": list_of(
            "EC2 instance types.",
            string("An EC2 instance type.", check_with="ec2_instance_type"),
            required=True,
            minlength=1,
        ),
        "min": integer("Fewest nodes.", 0, min=0, max=MAX_NODES),
        "max": integer("Most nodes.", required=True, min=1, max=MAX_NODES),
        "gpu": boolean("GPU nodes: GPU AMI and an nvidia.com/gpu taint.", False),
        "capacity": string("on_demand | spot.", "on_demand", allowed=["on_demand", "spot"]),
        "disk_gb": integer("Root volume per node, GB.", 100, min=20, max=16384),
    },
)

PLATFORM_SCHEMA: dict = {
    **_header("Platform"),
    "name": string("Platform name; prefix of shared resource names.", required=True, regex=MODEL_NAME_PATTERN),
    "region": string("AWS region.", required=True, check_with="region"),
    "tags": tags_field("Tags merged into every platform resource's tags."),
    "deploy_role_arn": string(
        "The IAM role `up` runs as (CI's deploy role): it gets an EKS access entry with cluster admin on every "
        "cluster, and the cluster creator gets none. Without it, the identity that creates a cluster is its only "
        "admin.",
        regex=ROLE_ARN_PATTERN,
    ),
    "account": mapping(
        "The AWS account the environment's stacks deploy into; override it per environment to keep dev, staging "
        "and prod in separate accounts. Every stack's provider refuses any other account and, with `assume_role`, "
        "assumes that role first.",
        {
            "id": string("The 12-digit account id (quoted).", required=True, regex=ACCOUNT_ID_PATTERN),
            "assume_role": string(
                "A role of that account the deployment assumes (e.g. its deploy role).", regex=ROLE_ARN_PATTERN
            ),
        },
    ),
    "retention": mapping(
        "How long the platform keeps what it collects, in days.",
        {
            "log_groups": integer(
                "Log groups modelform creates (guards, state machines, VPC flow logs); a period CloudWatch Logs "
                "offers.",
                365,
                allowed=list(LOG_RETENTION_DAYS),
            ),
            "data_capture": integer("Endpoint data capture objects, then they expire.", 365, min=1, max=36500),
            "access_logs": integer("S3 server access logs, then they expire.", 365, min=1, max=36500),
            "noncurrent_versions": integer(
                "Overwritten or deleted object versions in every bucket, then they expire.", 90, min=1, max=36500
            ),
        },
        {},
    ),
    "network": mapping(
        "The VPC shared by the platform's clusters and endpoints.",
        {
            "vpc_cidr": string("Private IPv4 block of the VPC, /16 to /24.", "10.0.0.0/16", check_with="cidr"),
            "availability_zones": integer("Availability zones to spread subnets over.", 3, min=2, max=6),
            "egress": string(
                "How workloads reach AWS APIs and registries: `endpoints` (no internet path; interface endpoints for "
                "every service the planned workloads call) or `nat` (public subnets and a NAT gateway per zone).",
                "endpoints",
                allowed=["endpoints", "nat"],
            ),
        },
        {},
    ),
    "clusters": list_of(
        "EKS clusters for serving and training.",
        mapping(
            "An EKS cluster.",
            {
                "name": string(
                    "Cluster name, unique within the platform.", required=True, regex=NAME_PATTERN, maxlength=40
                ),
                "kubernetes_version": string(
                    "Kubernetes minor version, e.g. '1.31' (quoted).", required=True, regex=KUBERNETES_VERSION_PATTERN
                ),
                "node_groups": list_of("Managed node groups.", NODE_GROUP, required=True, minlength=1),
                "namespaces": list_of(
                    "Namespaces created on the cluster (Pod Security `restricted`) for the models' deployments and "
                    "training Jobs; an object in any other namespace is a plan error.",
                    string("A namespace.", regex=NAME_PATTERN, maxlength=63),
                    [],
                ),
                "public_api_cidrs": list_of(
                    "Public IPv4 ranges that may reach the cluster's API (for `up` run outside the VPC); empty: the "
                    "API is private, reachable from inside the VPC only.",
                    string("A CIDR block.", check_with="allowlist_cidr"),
                    [],
                ),
            },
        ),
        [],
    ),
    "environments": environments_field("Platform"),
}

SCHEMAS = {"Model": MODEL_SCHEMA, "Platform": PLATFORM_SCHEMA}


def schema_at(schema: dict, path: tuple) -> dict | None:
    """The rules of the field at `path` (list indexes step into the item schema)."""
    rules: dict | None = {"type": "dict", "schema": schema}
    for element in path:
        if rules is None:
            return None
        inner = rules.get("schema")
        if isinstance(element, int):
            rules = inner if rules.get("type") == "list" else None
        elif isinstance(inner, dict) and rules.get("type") != "list":
            rules = inner.get(element)
        elif "valuesrules" in rules:
            rules = rules["valuesrules"]
        else:
            return None
    return rules


def default_of(rules: dict | None) -> Any:
    return (rules or {}).get("meta", {}).get("default")
