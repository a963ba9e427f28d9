"""What AWS accepts: instance types, regions, GPU counts and the AWS PyTorch images, from AWS's own
published data.

botocore ships the API models AWS publishes; their enums are the authoritative lists of SageMaker
training, hosting and batch transform instance types and of EC2 instance types, and its endpoint
data lists the regions SageMaker runs in. The sagemaker SDK bundles AWS's GPU count per instance
type and its catalogue of AWS's Deep Learning Containers (which PyTorch versions have training and
inference images, for CPU and GPU, in which regions, under which registry). Reading those takes
seconds (the SDK's import alone), so what this package validates and plans with is kept in
`aws_catalog.json`, generated from the pinned botocore and sagemaker versions (`make catalog`); a
test fails when the installed versions say otherwise, so an upgrade regenerates it.
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


#: The image scopes: what a job trains or processes with, what an endpoint serves with.
IMAGE_SCOPES = ("training", "inference")
#: The oldest PyTorch whose images the catalogue keeps: torchrun, which training launches, is 2.x's.
OLDEST_PYTORCH = (2, 0)


def pytorch_versions(scope: str) -> list[str]:
    """The `framework_version` values AWS publishes `scope` images for, oldest first."""
    return sorted(_catalog()["pytorch_images"][scope], key=_version_key)


def pytorch_image_regions(scope: str, framework_version: str) -> frozenset[str]:
    """The regions AWS publishes the `scope` image of `framework_version` in (empty: no image)."""
    entry = _catalog()["pytorch_images"][scope].get(framework_version)
    return frozenset(entry["regions"]) if entry else frozenset()


def pytorch_image(scope: str, framework_version: str, region: str, gpu: bool) -> Optional[str]:
    """The URI of the AWS PyTorch `scope` image of `framework_version` in `region`, the CPU or GPU
    flavour, with the newest Python AWS builds it for; None where AWS publishes none."""
    entry = _catalog()["pytorch_images"][scope].get(framework_version)
    if entry is None or region not in entry["regions"]:
        return None
    return f"{_catalog()['image_registries'][region]}/{entry['gpu' if gpu else 'cpu']}"


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


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
        **_generated_images(),
    }


def _generated_images() -> dict[str, Any]:
    """The AWS PyTorch images the sagemaker SDK names, for every version from `OLDEST_PYTORCH` a
    spec may write (`2.6` and `2.6.0`), by scope: each version's repository and tag per flavour
    and its regions, and each region's registry. The URIs are the SDK's own (`image_uris.retrieve`,
    with the newest Python of the version), split into the registry and the rest."""
    import logging
    import os

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the SDK makes a client on import
    logging.getLogger("sagemaker").setLevel(logging.ERROR)
    from sagemaker.core import image_uris

    config = image_uris.config_for_framework("pytorch")
    images: dict[str, dict[str, Any]] = {}
    registries: dict[str, str] = {}

    def retrieved(scope: str, version: str, py_version: str, region: str, instance_type: str) -> tuple[str, str]:
        uri = image_uris.retrieve(
            framework="pytorch",
            region=region,
            version=version,
            py_version=py_version,
            instance_type=instance_type,
            image_scope=scope,
        )
        registry, path = uri.split("/", 1)
        return registry, path

    for scope in IMAGE_SCOPES:
        scoped = config[scope]
        aliases = scoped.get("version_aliases", {})
        images[scope] = {}
        for written in sorted(set(scoped["versions"]) | set(aliases), key=_version_key):
            if _version_key(written)[:2] < OLDEST_PYTORCH:
                continue
            entry = scoped["versions"][aliases.get(written, written)]
            py_version = sorted(entry["py_versions"])[-1]
            regions = sorted(entry["registries"])
            flavours = {
                flavour: retrieved(scope, written, py_version, "us-east-1", instance_type)[1]
                for flavour, instance_type in (("cpu", "ml.m5.xlarge"), ("gpu", "ml.g5.xlarge"))
            }
            images[scope][written] = {**flavours, "regions": regions}
            for region in regions:
                if region not in registries:
                    registries[region] = retrieved(scope, written, py_version, region, "ml.m5.xlarge")[0]
                elif not registries[region].startswith(f"{entry['registries'][region]}."):
                    raise ValueError(f"AWS's PyTorch images in {region} come from more than one registry")
    return {"pytorch_images": images, "image_registries": dict(sorted(registries.items()))}


def catalog_text(catalog: dict[str, Any]) -> str:
    return json.dumps(catalog, indent=1, sort_keys=True) + "\n"


def write_catalog() -> None:
    """`make catalog`: regenerate aws_catalog.json from the installed botocore and sagemaker."""
    catalog = generated()
    CATALOG.write_text(catalog_text(catalog), encoding="utf-8")
    print(f"wrote {CATALOG} (botocore {catalog['versions']['botocore']})", file=sys.stderr)
