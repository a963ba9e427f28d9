"""AWS PyTorch container images, from the sagemaker SDK's bundled catalogue (offline)."""

from __future__ import annotations

from functools import lru_cache

from .sdk_offline import quiet_sagemaker_sdk, sdk_output


@lru_cache(maxsize=None)  # the SDK re-reads botocore's endpoint data on every call (~0.1 s)
def framework_image(framework_version: str, region: str, instance_type: str, scope: str) -> str:
    """The AWS PyTorch `scope` image ("training" or "inference") for the version and the
    instance (CPU or GPU flavour), with the newest Python the catalogue offers for it."""
    return sdk_output(
        "image",
        (framework_version, region, instance_type, scope),
        lambda: _retrieve(framework_version, region, instance_type, scope),
    )


def _retrieve(framework_version: str, region: str, instance_type: str, scope: str) -> str:
    quiet_sagemaker_sdk(region)
    from sagemaker.core import image_uris  # imported here: ~1 s, only when an image is needed

    config = image_uris.config_for_framework("pytorch")[scope]
    version = config.get("version_aliases", {}).get(framework_version, framework_version)
    if version not in config["versions"]:
        raise ValueError(f"no AWS PyTorch {scope} image for version {framework_version}")
    py_version = sorted(config["versions"][version]["py_versions"])[-1]
    return image_uris.retrieve(
        framework="pytorch",
        region=region,
        version=framework_version,
        py_version=py_version,
        instance_type=instance_type,
        image_scope=scope,
    )
