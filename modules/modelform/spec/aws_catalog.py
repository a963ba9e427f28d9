"""What AWS accepts: instance types, regions and GPU counts, from AWS's own published data.

botocore ships the API models AWS publishes; their enums are the authoritative lists of SageMaker
training, hosting and batch transform instance types and of EC2 instance types, and its endpoint
data lists the regions SageMaker runs in. The sagemaker SDK bundles AWS's GPU count per instance
type. Reading those takes ~0.4 s, so the lists this package validates against are kept in
`aws_catalog.json`, generated from the pinned botocore and sagemaker versions
(`python -m modelform.spec.aws_catalog`, `make catalog`); a test fails when the installed versions
say otherwise, so an upgrade regenerates it.
"""

from __future__ import annotations

import json
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

CATALOG = Path(__file__).with_name("aws_catalog.json")


@lru_cache(maxsize=None)
def _catalog() -> dict[str, Any]:
    return json.loads(CATALOG.read_text(encoding="utf-8"))


def sagemaker_training_instance_types() -> frozenset[str]:
    return _frozen("sagemaker_training_instance_types")


def sagemaker_hosting_instance_types() -> frozenset[str]:
    return _frozen("sagemaker_hosting_instance_types")


def sagemaker_transform_instance_types() -> frozenset[str]:
    return _frozen("sagemaker_transform_instance_types")


def ec2_instance_types() -> frozenset[str]:
    return _frozen("ec2_instance_types")


def sagemaker_regions() -> frozenset[str]:
    return _frozen("sagemaker_regions")


@lru_cache(maxsize=None)
def _frozen(key: str) -> frozenset[str]:
    return frozenset(_catalog()[key])


# GPU families: P (training-class) and G (graphics/inference-class) instances carry NVIDIA or AMD
# GPUs; `gr6` is G with more memory. Inferentia/Trainium (inf*, trn*) are accelerators that the
# NVIDIA device plugin cannot schedule, so they do not count as GPU node groups.
_GPU_FAMILY = re.compile(r"(ml\.)?(p[0-9]+[a-z]*|g[0-9]+[a-z]*|gr[0-9]+[a-z]*)\.")


def is_gpu_instance_type(instance_type: str) -> bool:
    return bool(_GPU_FAMILY.match(instance_type))


def gpus_per_instance(instance_type: str) -> Optional[int]:
    """How many GPUs one instance of `instance_type` (SageMaker `ml.` or EC2) has: 0 for CPU
    instances, None for a GPU type the catalogue does not know."""
    if not is_gpu_instance_type(instance_type):
        return 0
    name = instance_type if instance_type.startswith("ml.") else f"ml.{instance_type}"
    return _catalog()["gpus_per_instance"].get(name)


# --- generating the catalogue from the installed botocore and sagemaker -------------------------


def generated() -> dict[str, Any]:
    """The catalogue as the installed botocore and sagemaker SDK give it."""
    import botocore.session
    from importlib.metadata import version
    from importlib.util import find_spec

    session = botocore.session.get_session()
    sagemaker, ec2 = session.get_service_model("sagemaker"), session.get_service_model("ec2")
    # Found, not imported: importing `sagemaker.core` costs seconds, and one file is needed.
    (package,) = find_spec("sagemaker").submodule_search_locations
    gpu_info = json.loads(Path(package, "core", "image_uri_config", "instance_gpu_info.json").read_text("utf-8"))
    gpus = {instance: int(info["Count"]) for per_region in gpu_info.values() for instance, info in per_region.items()}
    return {
        "versions": {"botocore": version("botocore"), "sagemaker": version("sagemaker")},
        "sagemaker_training_instance_types": sorted(sagemaker.shape_for("TrainingInstanceType").enum),
        "sagemaker_hosting_instance_types": sorted(sagemaker.shape_for("ProductionVariantInstanceType").enum),
        "sagemaker_transform_instance_types": sorted(sagemaker.shape_for("TransformInstanceType").enum),
        "ec2_instance_types": sorted(ec2.shape_for("InstanceType").enum),
        "sagemaker_regions": sorted(session.get_available_regions("sagemaker")),
        "gpus_per_instance": dict(sorted(gpus.items())),
    }


def catalog_text(catalog: dict[str, Any]) -> str:
    return json.dumps(catalog, indent=1, sort_keys=True) + "\n"


def write_catalog() -> None:
    """`make catalog`: regenerate aws_catalog.json from the installed botocore and sagemaker."""
    catalog = generated()
    CATALOG.write_text(catalog_text(catalog), encoding="utf-8")
    print(f"wrote {CATALOG} (botocore {catalog['versions']['botocore']})", file=sys.stderr)
