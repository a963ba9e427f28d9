"""The spec layer: YAML spec files in, typed frozen specs (or every problem, with positions) out.

Imports no Pulumi. Entry point: `load_specs(paths, root=None) -> SpecSet`.
"""

from .errors import SpecError, SpecErrors
from .loader import SpecSet, load_spec_texts, load_specs
from .types import (
    Bound,
    Cluster,
    DataSpec,
    Deployment,
    DriftSpec,
    EksAutoscaling,
    EksDeployment,
    ModelCode,
    ModelSpec,
    MonitoringSpec,
    Network,
    NodeGroup,
    PlatformSpec,
    PodResources,
    RetrainingSpec,
    Rollout,
    SageMakerAutoscaling,
    SageMakerDeployment,
    ScheduledCapacity,
    TrainingSpec,
    Variant,
)

__all__ = [
    "Bound", "Cluster", "DataSpec", "Deployment", "DriftSpec", "EksAutoscaling", "EksDeployment",
    "ModelCode", "ModelSpec", "MonitoringSpec", "Network", "NodeGroup", "PlatformSpec", "PodResources",
    "RetrainingSpec", "Rollout", "SageMakerAutoscaling", "SageMakerDeployment", "ScheduledCapacity",
    "SpecError", "SpecErrors", "SpecSet", "TrainingSpec", "Variant", "load_spec_texts", "load_specs",
]
