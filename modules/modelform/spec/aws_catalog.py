"""What AWS accepts, read from botocore's bundled service models (offline, no credentials).

botocore ships the API models AWS publishes; their enums are the authoritative lists of SageMaker
training and hosting instance types and of EC2 instance types. Reading them (~0.25 s) happens
once, on first use, so validating specs that name no instance type costs nothing.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Optional

import botocore.session


@lru_cache(maxsize=None)
def _service_model(service: str):
    return botocore.session.get_session().get_service_model(service)


@lru_cache(maxsize=None)
def sagemaker_training_instance_types() -> frozenset[str]:
    return frozenset(_service_model("sagemaker").shape_for("TrainingInstanceType").enum)


@lru_cache(maxsize=None)
def sagemaker_hosting_instance_types() -> frozenset[str]:
    return frozenset(_service_model("sagemaker").shape_for("ProductionVariantInstanceType").enum)


@lru_cache(maxsize=None)
def sagemaker_transform_instance_types() -> frozenset[str]:
    return frozenset(_service_model("sagemaker").shape_for("TransformInstanceType").enum)


@lru_cache(maxsize=None)
def ec2_instance_types() -> frozenset[str]:
    return frozenset(_service_model("ec2").shape_for("InstanceType").enum)


@lru_cache(maxsize=None)
def sagemaker_regions() -> frozenset[str]:
    session = botocore.session.get_session()
    return frozenset(session.get_available_regions("sagemaker"))


# GPU families: P (training-class) and G (graphics/inference-class) instances carry NVIDIA or AMD
# GPUs; `gr6` is G with more memory. Inferentia/Trainium (inf*, trn*) are accelerators that the
# NVIDIA device plugin cannot schedule, so they do not count as GPU node groups.
_GPU_FAMILY = re.compile(r"(ml\.)?(p[0-9]+[a-z]*|g[0-9]+[a-z]*|gr[0-9]+[a-z]*)\.")


def is_gpu_instance_type(instance_type: str) -> bool:
    return bool(_GPU_FAMILY.match(instance_type))


@lru_cache(maxsize=None)
def _gpu_counts() -> dict[str, int]:
    """GPUs per instance type, from the catalogue the sagemaker SDK bundles (AWS's own data for
    the training and hosting instance types, per region; the same count everywhere)."""
    import json
    from importlib.util import find_spec

    # Found, not imported: importing `sagemaker.core` costs seconds, and validation needs one file.
    (package,) = find_spec("sagemaker").submodule_search_locations
    path = Path(package, "core", "image_uri_config", "instance_gpu_info.json")
    counts: dict[str, int] = {}
    for per_region in json.loads(path.read_text(encoding="utf-8")).values():
        for instance_type, info in per_region.items():
            counts[instance_type] = int(info["Count"])
    return counts


def gpus_per_instance(instance_type: str) -> Optional[int]:
    """How many GPUs one instance of `instance_type` (SageMaker `ml.` or EC2) has: 0 for CPU
    instances, None for a GPU type the catalogue does not know."""
    if not is_gpu_instance_type(instance_type):
        return 0
    name = instance_type if instance_type.startswith("ml.") else f"ml.{instance_type}"
    return _gpu_counts().get(name)
