"""The spec layer: YAML spec files in, typed frozen specs (or every problem, with positions) out.

Imports no Pulumi. Entry point: `load_specs(paths, root=None) -> SpecSet`.
"""

from .errors import SpecError, SpecErrors
from .loader import SpecSet, load_spec_texts, load_specs
from .types import (
    Approval,
    Backend,
    Bound,
    Capacity,
    Cluster,
    DataSpec,
    Deployment,
    DriftMethod,
    DriftSpec,
    EksAutoscaling,
    EksDeployment,
    EndpointAlarms,
    ModelCode,
    ModelSpec,
    MonitoringSpec,
    Network,
    NodeGroup,
    PlatformSpec,
    PodResources,
    ProblemType,
    RetrainingSpec,
    Rollout,
    RolloutStrategy,
    SageMakerAutoscaling,
    SageMakerDeployment,
    ScheduledCapacity,
    Target,
    TrainingSpec,
    Trigger,
    Variant,
)

__all__ = [
    "Approval", "Backend", "Bound", "Capacity", "Cluster", "DataSpec", "Deployment", "DriftMethod", "DriftSpec",
    "EksAutoscaling", "EksDeployment", "EndpointAlarms", "ModelCode", "ModelSpec", "MonitoringSpec", "Network",
    "NodeGroup", "PlatformSpec", "PodResources", "ProblemType", "RetrainingSpec", "Rollout", "RolloutStrategy",
    "SageMakerAutoscaling", "SageMakerDeployment", "ScheduledCapacity", "SpecError", "SpecErrors", "SpecSet",
    "Target", "TrainingSpec", "Trigger", "Variant", "load_spec_texts", "load_specs",
]
