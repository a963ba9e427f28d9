"""The typed result of validation: frozen dataclasses with every default filled in.

Components receive these and never raw dicts. One `ModelSpec` / `PlatformSpec` describes one
spec *in one environment* (overrides applied). Durations are seconds, timestamps are UTC
`datetime`s, schedules are parsed `Schedule`s, S3 locations are `S3Uri`s; defaults come from
`schema.py` (`meta.default`), so the JSON Schema shown to editors and the values used here agree.

`from_document` builds them from a structurally valid, environment-merged document.
"""

from __future__ import annotations

import copyreg
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Callable, Mapping, Optional, Union

from . import parsers
from .parsers import S3Uri, Schedule
from .schema import MODEL_SCHEMA, PLATFORM_SCHEMA, default_of, schema_at


def read_only(items: dict) -> Mapping[str, Any]:
    """A mapping nobody can change (the typed specs' tags, hyperparameters, environments)."""
    return MappingProxyType(items)


# Typed specs travel to the processes that plan stacks in parallel: read-only mappings pickle as
# their items and come back read-only (Python does not know how to pickle them otherwise).
copyreg.pickle(MappingProxyType, lambda mapping: (read_only, (dict(mapping),)))


# --- the choices of the spec language, typed once (values as written in specs) ---------------------


class Target(StrEnum):
    """Where a deployment is served."""

    SAGEMAKER = "sagemaker"
    EKS = "eks"


class Backend(StrEnum):
    """Where training runs."""

    SAGEMAKER = "sagemaker"
    EKS = "eks"


class RolloutStrategy(StrEnum):
    ALL_AT_ONCE = "all_at_once"
    CANARY = "canary"
    LINEAR = "linear"


class ProblemType(StrEnum):
    BINARY_CLASSIFICATION = "binary_classification"
    MULTICLASS_CLASSIFICATION = "multiclass_classification"
    REGRESSION = "regression"


class DriftMethod(StrEnum):
    PSI = "psi"
    KS = "ks"
    JENSEN_SHANNON = "jensen_shannon"


class Trigger(StrEnum):
    """What starts a retraining."""

    SCHEDULE = "schedule"
    DRIFT = "drift"
    QUALITY = "quality"
    NEW_DATA = "new_data"


class Approval(StrEnum):
    MANUAL = "manual"
    AUTO = "auto"


class Egress(StrEnum):
    """How the platform's VPC workloads reach AWS APIs and image registries."""

    ENDPOINTS = "endpoints"  # interface endpoints only: no internet path at all
    NAT = "nat"  # a NAT gateway per zone


class Capacity(StrEnum):
    """How a node group's instances are bought."""

    ON_DEMAND = "on_demand"
    SPOT = "spot"


@dataclass(frozen=True)
class Bound:
    """A metric with its acceptable range; `min` and/or `max` is set."""

    metric: str
    min: Optional[float]
    max: Optional[float]


@dataclass(frozen=True)
class ModelCode:
    framework: str
    framework_version: str
    code: str
    entry_point: str
    inference_entry_point: str


@dataclass(frozen=True)
class DataSpec:
    training: Optional[S3Uri]
    validation: Optional[S3Uri]
    ground_truth: Optional[S3Uri]
    version: str

    @property
    def locations(self) -> tuple[S3Uri, ...]:
        """Every data location the model's jobs read: training, validation, ground truth."""
        return tuple(u for u in (self.training, self.validation, self.ground_truth) if u is not None)


@dataclass(frozen=True)
class TrainingSpec:
    backend: Backend
    instance_type: str
    instance_count: int
    volume_gb: int
    max_runtime_seconds: int
    max_wait_seconds: Optional[int]  # spot only; twice max_runtime unless given
    spot: bool  # sagemaker: managed spot training; eks: runs on a spot node group
    cluster: Optional[str]
    hyperparameters: Mapping[str, Union[str, int, float, bool]]
    evaluation: Optional[Bound]

    @property
    def processes_per_instance(self) -> int:
        """One training process per GPU (one on a CPU instance, or on a GPU type of unknown size)."""
        from .aws_catalog import gpus_per_instance

        return gpus_per_instance(self.instance_type) or 1

    @property
    def world_size(self) -> int:
        """The ranks of data-parallel training: instances x processes per instance."""
        return self.instance_count * self.processes_per_instance


@dataclass(frozen=True)
class Variant:
    name: str
    model_version: Optional[int]
    artifact: Optional[S3Uri]
    weight: float


@dataclass(frozen=True)
class Shadow:
    """A candidate that receives a copy of `percent` % of a deployment's requests; its answers are
    captured, never returned."""

    name: str
    model_version: Optional[int]
    artifact: Optional[S3Uri]
    percent: int

    @property
    def variant(self) -> Variant:
        """The candidate as a variant (what it serves), weighted by the share of requests it sees."""
        return Variant(self.name, self.model_version, self.artifact, self.percent / 100)


@dataclass(frozen=True)
class ScheduledCapacity:
    """A known peak: from `start` to `end`, the deployment's floor is `floor` (shared by the
    variants by weight) and each variant's ceiling `ceiling` (instances on SageMaker, pods on EKS)."""

    name: str
    start: datetime
    end: datetime
    floor: int
    ceiling: int


@dataclass(frozen=True)
class SageMakerAutoscaling:
    min_instances: int
    max_instances: int
    target_invocations_per_instance: int
    scale_in_cooldown_seconds: int
    scale_out_cooldown_seconds: int
    scheduled: tuple[ScheduledCapacity, ...]


@dataclass(frozen=True)
class Rollout:
    strategy: RolloutStrategy
    step_percent: Optional[int]
    wait_seconds: int


class ApiAuth(StrEnum):
    """How callers of a deployment's API authenticate."""

    IAM = "iam"
    COGNITO = "cognito"
    JWT = "jwt"  # any OpenID Connect issuer's tokens (an HTTP API)


@dataclass(frozen=True)
class JwtIssuer:
    """The OpenID Connect issuer (its `iss` URL) and the audiences whose tokens an API accepts."""

    issuer: str
    audiences: tuple[str, ...]


@dataclass(frozen=True)
class ApiConsumer:
    name: str
    rate: float
    burst: int
    quota_per_day: Optional[int]


@dataclass(frozen=True)
class ApiDomain:
    name: str
    certificate_arn: str


@dataclass(frozen=True)
class ApiSpec:
    """A managed API (API Gateway) in front of a deployment's endpoint."""

    auth: ApiAuth
    cognito_user_pools: tuple[str, ...]
    consumers: tuple[ApiConsumer, ...]
    rate: float
    burst: int
    waf_rate_limit: int
    domain: Optional[ApiDomain]
    alarm_4xx_percent: float
    jwt: Optional[JwtIssuer] = None

    @property
    def http_api(self) -> bool:
        """An HTTP API (API Gateway v2): the only kind that verifies any OIDC issuer's JWTs."""
        return self.auth is ApiAuth.JWT


@dataclass(frozen=True)
class AsyncInference:
    """Asynchronous inference: requests and answers through S3, autoscaling on the backlog."""

    max_concurrent_invocations_per_instance: Optional[int]
    target_backlog_per_instance: int


@dataclass(frozen=True)
class ServerlessInference:
    """Serverless inference: containers per request; `scheduled` windows raise the provisioned
    concurrency (their `floor` and `ceiling` are both the window's provisioned concurrency)."""

    memory_mb: int
    max_concurrency: int
    provisioned_concurrency: Optional[int]
    scheduled: tuple[ScheduledCapacity, ...] = ()


@dataclass(frozen=True)
class SageMakerDeployment:
    name: str
    target: Target  # Target.SAGEMAKER
    instance_type: Optional[str]  # None for serverless deployments
    instance_count: int
    variants: tuple[Variant, ...]
    autoscaling: Optional[SageMakerAutoscaling]
    rollout: Rollout
    data_capture_percent: int
    #: Requests per second one instance (pod) serves at most; None when not measured.
    max_rps_per_instance: Optional[float] = None
    shadow: Optional[Shadow] = None
    asynchronous: Optional[AsyncInference] = None  # `async` in specs
    serverless: Optional[ServerlessInference] = None
    api: Optional[ApiSpec] = None

    @property
    def real_time(self) -> bool:
        """Instances answering requests as they come (neither asynchronous nor serverless)."""
        return self.asynchronous is None and self.serverless is None


@dataclass(frozen=True)
class EksAutoscaling:
    min_replicas: int
    max_replicas: int
    target_cpu_percent: int
    scheduled: tuple[ScheduledCapacity, ...] = ()


@dataclass(frozen=True)
class PodResources:
    cpu: Decimal  # cores
    memory: Decimal  # bytes
    cpu_text: str  # as written, for manifests
    memory_text: str
    gpu: int


@dataclass(frozen=True)
class EksDeployment:
    name: str
    target: Target  # Target.EKS
    cluster: str
    namespace: str
    variants: tuple[Variant, ...]
    autoscaling: EksAutoscaling  # without `autoscaling` in the spec: one pod per variant
    resources: PodResources
    data_capture_percent: int
    #: Requests per second one instance (pod) serves at most; None when not measured.
    max_rps_per_instance: Optional[float] = None
    shadow: Optional[Shadow] = None
    api: Optional[ApiSpec] = None


Deployment = Union[SageMakerDeployment, EksDeployment]


def served_variants(deployment: Deployment) -> tuple[Variant, ...]:
    """Everything a deployment serves: its variants, and its shadow's candidate."""
    shadow = () if deployment.shadow is None else (deployment.shadow.variant,)
    return deployment.variants + shadow


@dataclass(frozen=True)
class BatchSpec:
    """Scheduled batch scoring of `input` by a pinned model version."""

    schedule: Schedule
    input: S3Uri
    model_version: Optional[int]
    artifact: Optional[S3Uri]
    instance_type: Optional[str]  # SageMaker
    instance_count: int  # SageMaker
    max_payload_mb: int  # SageMaker
    target: Target = Target.SAGEMAKER
    cluster: Optional[str] = None  # EKS
    namespace: str = "models"  # EKS
    resources: Optional["PodResources"] = None  # EKS

    @property
    def variant(self) -> Variant:
        """What scores, as a variant (the same model container as an endpoint's)."""
        return Variant("batch", self.model_version, self.artifact, 1.0)


@dataclass(frozen=True)
class DriftSpec:
    method: DriftMethod
    threshold: float
    features: Optional[tuple[str, ...]]  # None means all features


@dataclass(frozen=True)
class MonitoringSpec:
    schedule: Schedule
    problem_type: ProblemType
    quality: tuple[Bound, ...]
    drift: Optional[DriftSpec]
    latency_p99_ms: int
    error_rate_percent: float
    notify: tuple[str, ...]


@dataclass(frozen=True)
class RetrainingSpec:
    triggers: tuple[Trigger, ...]
    schedule: Optional[Schedule]
    cooldown_seconds: int
    approval: Approval


@dataclass(frozen=True)
class EndpointAlarms:
    """Thresholds of every endpoint's latency and 5xx alarms: `monitoring`'s, or its defaults
    when the spec has no `monitoring` (endpoints are always guarded)."""

    latency_p99_ms: int
    error_rate_percent: float


@dataclass(frozen=True)
class ModelSpec:
    name: str
    environment: str
    source: str  # the spec file, as given on the command line
    owner: str
    team: str
    description: str
    tags: Mapping[str, str]
    protect: bool
    decommission: bool
    model: ModelCode
    data: Optional[DataSpec]
    training: Optional[TrainingSpec]
    deployments: tuple[Deployment, ...]
    monitoring: Optional[MonitoringSpec]
    retraining: Optional[RetrainingSpec]
    endpoint_alarms: EndpointAlarms
    batch: Optional[BatchSpec] = None

    protect_setting: Optional[bool] = None  # `protect` as written; None: the environment decides

    @property
    def stack_name(self) -> str:
        return f"{self.name}.{self.environment}"

    @property
    def approval(self) -> Approval:
        """How a newly trained version is registered: `retraining.approval`, else manual."""
        return self.retraining.approval if self.retraining is not None else Approval.MANUAL


@dataclass(frozen=True)
class NodeGroup:
    name: str
    instance_types: tuple[str, ...]
    min: int
    max: int
    gpu: bool
    capacity: Capacity
    disk_gb: int


@dataclass(frozen=True)
class Cluster:
    name: str
    kubernetes_version: str
    node_groups: tuple[NodeGroup, ...]
    namespaces: tuple[str, ...] = ()
    public_api_cidrs: tuple[str, ...] = ()

    def node_group(self, name: str) -> Optional[NodeGroup]:
        return next((g for g in self.node_groups if g.name == name), None)

    def training_node_group(self, instance_type: str, spot: bool) -> Optional[NodeGroup]:
        """The node group an EKS training Job lands on: it offers the instance type, bought the
        way the spec asks (`training.spot`)."""
        capacity = Capacity.SPOT if spot else Capacity.ON_DEMAND
        return next((g for g in self.node_groups if instance_type in g.instance_types and g.capacity == capacity), None)

    @property
    def has_gpu_nodes(self) -> bool:
        return any(g.gpu for g in self.node_groups)


@dataclass(frozen=True)
class Network:
    vpc_cidr: str
    availability_zones: int
    egress: Egress = Egress.ENDPOINTS


@dataclass(frozen=True)
class Retention:
    """Days the platform keeps what it collects."""

    log_groups: int
    data_capture: int
    access_logs: int
    noncurrent_versions: int


@dataclass(frozen=True)
class Account:
    """Where an environment's stacks deploy: the account, and the role assumed in it (if any)."""

    id: str
    assume_role: Optional[str] = None


@dataclass(frozen=True)
class PlatformSpec:
    name: str
    environment: str
    source: str
    region: str
    tags: Mapping[str, str]
    network: Network
    clusters: tuple[Cluster, ...]
    environments: tuple[str, ...]  # every environment name this platform knows
    retention: Retention
    deploy_role_arn: Optional[str] = None
    account: Optional[Account] = None

    def cluster(self, name: str) -> Optional[Cluster]:
        return next((c for c in self.clusters if c.name == name), None)

    @property
    def protect(self) -> bool:
        """Data-bearing platform resources are protected and retained in prod."""
        return protects(self.environment, None)


def protects(environment: str, setting: Optional[bool]) -> bool:
    """Nothing lost: prod protects data-bearing resources unless the spec says otherwise."""
    return environment == "prod" if setting is None else setting


def in_environment(spec: Union[ModelSpec, PlatformSpec], environment: str) -> Union[ModelSpec, PlatformSpec]:
    """The same spec as it stands in `environment` (for environments without an override)."""
    if isinstance(spec, ModelSpec):
        return replace(spec, environment=environment, protect=protects(environment, spec.protect_setting))
    return replace(spec, environment=environment)


# --- building from a validated document --------------------------------------------------------


class _Reader:
    """Reads fields of one mapping of a validated document, falling back to schema defaults."""

    def __init__(self, document: Mapping[str, Any], schema: dict, path: tuple):
        self.document = document
        self.schema = schema
        self.path = path

    def __call__(self, key: str) -> Any:
        value = self.document.get(key, _ABSENT)
        return _default(self.schema, self.path + (key,)) if value is _ABSENT else value

    def child(self, key: str, index: Optional[int] = None) -> Optional["_Reader"]:
        value = self.document.get(key)
        path = self.path + (key,)
        if index is not None:
            value, path = value[index], path + (index,)
        return None if value is None else _Reader(value, self.schema, path)

    def children(self, key: str) -> list["_Reader"]:
        return [self.child(key, i) for i in range(len(self.document.get(key) or ()))]  # type: ignore[misc]


_ABSENT = object()
#: Defaults by (schema, path as read): a typed spec reads some eighty of them.
_DEFAULTS: dict[tuple[int, tuple], Any] = {}


def _default(schema: dict, path: tuple) -> Any:
    """The schema's default at `path`, looked up once per field and path (list indexes all lead
    to the same item rules)."""
    key = (id(schema), path)
    try:
        return _DEFAULTS[key]
    except KeyError:
        pass
    rules_path = tuple(0 if isinstance(element, int) else element for element in path)
    default = _DEFAULTS[key] = default_of(schema_at(schema, rules_path))
    return default


def _frozen(mapping: Optional[Mapping]) -> Mapping:
    return MappingProxyType(dict(sorted((mapping or {}).items())))


def _optional(value: Any, parse) -> Any:
    return None if value is None else parse(value)


def _bound(read: Optional[_Reader]) -> Optional[Bound]:
    if read is None:
        return None
    return Bound(read("metric"), _optional(read("min"), float), _optional(read("max"), float))


def _variants(read: _Reader) -> tuple[Variant, ...]:
    return tuple(
        Variant(v("name"), v("model_version"), _optional(v("artifact"), parsers.parse_s3_uri), float(v("weight")))
        for v in read.children("variants")
    )


def _shadow(read: _Reader) -> Optional[Shadow]:
    shadow = read.child("shadow")
    if shadow is None:
        return None
    return Shadow(
        shadow("name"),
        shadow("model_version"),
        _optional(shadow("artifact"), parsers.parse_s3_uri),
        shadow("percent"),
    )


def _api(read: _Reader) -> Optional[ApiSpec]:
    api = read.child("api")
    if api is None:
        return None
    domain, jwt = api.child("domain"), api.child("jwt")
    return ApiSpec(
        auth=ApiAuth(api("auth")),
        cognito_user_pools=tuple(api("cognito_user_pools") or ()),
        consumers=tuple(
            ApiConsumer(c("name"), float(c("rate")), c("burst"), c("quota_per_day")) for c in api.children("consumers")
        ),
        rate=float(api("rate")),
        burst=api("burst"),
        waf_rate_limit=api("waf_rate_limit"),
        domain=None if domain is None else ApiDomain(domain("name"), domain("certificate_arn")),
        alarm_4xx_percent=float(api("alarm_4xx_percent")),
        jwt=None if jwt is None else JwtIssuer(jwt("issuer"), tuple(jwt("audiences"))),
    )


def _asynchronous(read: _Reader) -> Optional[AsyncInference]:
    settings = read.child("async")
    if settings is None:
        return None
    return AsyncInference(settings("max_concurrent_invocations_per_instance"), settings("target_backlog_per_instance"))


def _serverless(read: _Reader) -> Optional[ServerlessInference]:
    settings = read.child("serverless")
    if settings is None:
        return None
    return ServerlessInference(
        settings("memory_mb"),
        settings("max_concurrency"),
        settings("provisioned_concurrency"),
        tuple(
            ScheduledCapacity(
                w("name"),
                parsers.parse_timestamp(w("start")),
                parsers.parse_timestamp(w("end")),
                w("provisioned_concurrency"),
                w("provisioned_concurrency"),
            )
            for w in settings.children("scheduled")
        ),
    )


def _sagemaker_deployment(read: _Reader) -> SageMakerDeployment:
    scaling = read.child("autoscaling")
    rollout = read.child("rollout") or _Reader({}, read.schema, read.path + ("rollout",))
    return SageMakerDeployment(
        name=read("name"),
        target=Target.SAGEMAKER,
        instance_type=read("instance_type"),
        instance_count=read("instance_count"),
        variants=_variants(read),
        autoscaling=None
        if scaling is None
        else SageMakerAutoscaling(
            min_instances=scaling("min_instances"),
            max_instances=scaling("max_instances"),
            target_invocations_per_instance=scaling("target_invocations_per_instance"),
            scale_in_cooldown_seconds=parsers.parse_duration(scaling("scale_in_cooldown")),
            scale_out_cooldown_seconds=parsers.parse_duration(scaling("scale_out_cooldown")),
            scheduled=_windows(scaling, "instances"),
        ),
        rollout=Rollout(
            RolloutStrategy(rollout("strategy")), rollout("step_percent"), parsers.parse_duration(rollout("wait"))
        ),
        data_capture_percent=read("data_capture_percent"),
        max_rps_per_instance=read("max_rps_per_instance"),
        shadow=_shadow(read),
        api=_api(read),
        asynchronous=_asynchronous(read),
        serverless=_serverless(read),
    )


def _windows(scaling: _Reader, unit: str) -> tuple[ScheduledCapacity, ...]:
    return tuple(
        ScheduledCapacity(
            s("name"),
            parsers.parse_timestamp(s("start")),
            parsers.parse_timestamp(s("end")),
            s(f"min_{unit}"),
            s(f"max_{unit}"),
        )
        for s in scaling.children("scheduled")
    )


def _pod_resources(read: _Reader) -> PodResources:
    resources = read.child("resources") or _Reader({}, read.schema, read.path + ("resources",))
    return PodResources(
        cpu=parsers.parse_quantity(resources("cpu")),
        memory=parsers.parse_quantity(resources("memory")),
        cpu_text=str(resources("cpu")),
        memory_text=str(resources("memory")),
        gpu=resources("gpu"),
    )


def _eks_deployment(read: _Reader) -> EksDeployment:
    scaling = read.child("autoscaling")
    return EksDeployment(
        name=read("name"),
        target=Target.EKS,
        cluster=read("cluster"),
        namespace=read("namespace"),
        variants=_variants(read),
        autoscaling=EksAutoscaling(
            scaling("min_replicas"),
            scaling("max_replicas"),
            scaling("target_cpu_percent"),
            _windows(scaling, "replicas"),
        )
        if scaling is not None
        else EksAutoscaling(1, 1, _Reader({}, read.schema, read.path + ("autoscaling",))("target_cpu_percent")),
        resources=_pod_resources(read),
        data_capture_percent=read("data_capture_percent"),
        max_rps_per_instance=read("max_rps_per_instance"),
        shadow=_shadow(read),
        api=_api(read),
    )


class Sections:
    """Typed sections of one spec file, by the mapping each was built from. The document of an
    environment shares with the base every section its override leaves alone (the very objects),
    so those are built once per file instead of once per environment."""

    def __init__(self) -> None:
        self._built: dict[int, tuple[Any, Any]] = {}

    def built(self, source: Any, build: Callable[[], Any]) -> Any:
        entry = self._built.get(id(source))
        if entry is not None and entry[0] is source:  # the same object, still alive: same section
            return entry[1]
        value = build()
        self._built[id(source)] = (source, value)
        return value


def model_from_document(
    document: Mapping[str, Any], environment: str, source: str, sections: Optional[Sections] = None
) -> ModelSpec:
    sections = sections or Sections()
    read = _Reader(document, MODEL_SCHEMA, ())
    code = read.child("model")
    data = read.child("data")
    training = read.child("training")
    monitoring = read.child("monitoring")
    retraining = read.child("retraining")
    batch = read.child("batch")
    protect = read("protect")
    alarms = monitoring or _Reader({}, MODEL_SCHEMA, ("monitoring",))  # defaults without monitoring
    return ModelSpec(
        name=read("name"),
        environment=environment,
        source=source,
        owner=read("owner"),
        team=read("team"),
        description=read("description").strip(),
        tags=_frozen(read("tags")),
        protect=protects(environment, protect),
        protect_setting=protect,
        decommission=read("decommission"),
        model=sections.built(code.document, lambda: _model_code(code)),  # type: ignore[union-attr]
        data=None if data is None else sections.built(data.document, lambda: _data(data)),
        training=None if training is None else sections.built(training.document, lambda: _training(training)),
        deployments=tuple(sections.built(d.document, lambda d=d: _deployment(d)) for d in read.children("deployments")),
        monitoring=None if monitoring is None else sections.built(monitoring.document, lambda: _monitoring(monitoring)),
        retraining=None if retraining is None else sections.built(retraining.document, lambda: _retraining(retraining)),
        endpoint_alarms=EndpointAlarms(alarms("latency_p99_ms"), float(alarms("error_rate_percent"))),
        batch=None if batch is None else sections.built(batch.document, lambda: _batch(batch)),
    )


def _model_code(code: _Reader) -> ModelCode:
    return ModelCode(
        code("framework"),
        code("framework_version"),
        code("code"),
        code("entry_point"),
        code("inference_entry_point"),
    )  # type: ignore[misc]


def _data(data: _Reader) -> DataSpec:
    return DataSpec(
        _optional(data("training"), parsers.parse_s3_uri),
        _optional(data("validation"), parsers.parse_s3_uri),
        _optional(data("ground_truth"), parsers.parse_s3_uri),
        str(data("version")),
    )


def _training(training: _Reader) -> TrainingSpec:
    spot_on_sagemaker = training("spot") and training("backend") == Backend.SAGEMAKER
    return TrainingSpec(
        backend=Backend(training("backend")),
        instance_type=training("instance_type"),
        instance_count=training("instance_count"),
        volume_gb=training("volume_gb"),
        max_runtime_seconds=parsers.parse_duration(training("max_runtime")),
        max_wait_seconds=(
            parsers.parse_duration(training("max_wait"))
            if training("max_wait") is not None
            else 2 * parsers.parse_duration(training("max_runtime"))
        )
        if spot_on_sagemaker
        else None,
        spot=training("spot"),
        cluster=training("cluster"),
        hyperparameters=_frozen(training("hyperparameters")),
        evaluation=_bound(training.child("evaluation")),
    )


def _deployment(deployment: _Reader) -> Deployment:
    if deployment("target") == Target.SAGEMAKER:
        return _sagemaker_deployment(deployment)
    return _eks_deployment(deployment)


def _monitoring(monitoring: _Reader) -> MonitoringSpec:
    drift = monitoring.child("drift")
    return MonitoringSpec(
        schedule=parsers.parse_schedule(monitoring("schedule")),
        problem_type=ProblemType(monitoring("problem_type")),
        quality=tuple(_bound(q) for q in monitoring.children("quality")),  # type: ignore[misc]
        drift=None
        if drift is None
        else DriftSpec(
            DriftMethod(drift("method")),
            float(drift("threshold")),
            None if drift("features") == "all" else tuple(drift("features")),
        ),
        latency_p99_ms=monitoring("latency_p99_ms"),
        error_rate_percent=float(monitoring("error_rate_percent")),
        notify=tuple(monitoring("notify")),
    )


def _retraining(retraining: _Reader) -> RetrainingSpec:
    return RetrainingSpec(
        triggers=tuple(Trigger(t) for t in retraining("triggers")),
        schedule=_optional(retraining("schedule"), parsers.parse_schedule),
        cooldown_seconds=parsers.parse_duration(retraining("cooldown")),
        approval=Approval(retraining("approval")),
    )


def _batch(batch: _Reader) -> BatchSpec:
    return BatchSpec(
        schedule=parsers.parse_schedule(batch("schedule")),
        input=parsers.parse_s3_uri(batch("input")),
        model_version=batch("model_version"),
        artifact=_optional(batch("artifact"), parsers.parse_s3_uri),
        instance_type=batch("instance_type"),
        instance_count=batch("instance_count"),
        max_payload_mb=batch("max_payload_mb"),
        target=Target(batch("target")),
        cluster=batch("cluster"),
        namespace=batch("namespace"),
        resources=_pod_resources(batch),
    )


def platform_from_document(
    document: Mapping[str, Any], environment: str, source: str, environments: tuple[str, ...]
) -> PlatformSpec:
    read = _Reader(document, PLATFORM_SCHEMA, ())
    network = read.child("network") or _Reader({}, PLATFORM_SCHEMA, ("network",))
    retention = read.child("retention") or _Reader({}, PLATFORM_SCHEMA, ("retention",))
    account = read.child("account")
    return PlatformSpec(
        account=None if account is None else Account(account("id"), account("assume_role")),
        name=read("name"),
        environment=environment,
        source=source,
        region=read("region"),
        tags=_frozen(read("tags")),
        network=Network(network("vpc_cidr"), network("availability_zones"), Egress(network("egress"))),
        deploy_role_arn=read("deploy_role_arn"),
        retention=Retention(
            retention("log_groups"),
            retention("data_capture"),
            retention("access_logs"),
            retention("noncurrent_versions"),
        ),
        clusters=tuple(
            Cluster(
                c("name"),
                c("kubernetes_version"),
                tuple(
                    NodeGroup(
                        g("name"),
                        tuple(g("instance_types")),
                        g("min"),
                        g("max"),
                        g("gpu"),
                        Capacity(g("capacity")),
                        g("disk_gb"),
                    )
                    for g in c.children("node_groups")
                ),
                tuple(c("namespaces")),
                tuple(c("public_api_cidrs")),
            )
            for c in read.children("clusters")
        ),
        environments=environments,
    )
