"""The contract between the platform stack and the model stacks: one typed class, both sides.

The platform stack exports `PlatformOutputs.exports()`; a model stack reads the same class back
with `PlatformOutputs.from_reference(...)`. Every field has exactly one export name (its
metadata), so the two sides cannot drift apart, and a missing output stops the model stack with
an error that names it — never an empty string that AWS would reject later.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

import pulumi


def _export(name: str) -> Any:
    return field(metadata={"export": name})


class MissingOutput(Exception):
    """The platform stack lacks an output a model stack needs (deployed with an older modelform,
    or a cluster removed from the Platform spec)."""


class _Exported:
    """A dataclass whose fields each name the stack output they are exported as."""

    def exports(self) -> dict[str, Any]:
        return {f.metadata["export"]: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class ClusterOutputs(_Exported):
    """What a model stack needs of one EKS cluster of the platform."""

    name: pulumi.Input[str] = _export("name")
    endpoint: pulumi.Input[str] = _export("endpoint")
    certificate_authority: pulumi.Input[str] = _export("certificateAuthority")
    kubeconfig: pulumi.Input[str] = _export("kubeconfig")
    oidc_provider_arn: pulumi.Input[str] = _export("oidcProviderArn")
    oidc_issuer: pulumi.Input[str] = _export("oidcIssuer")

    @classmethod
    def from_exports(cls, values: Mapping[str, Any], where: str) -> "ClusterOutputs":
        missing = [f.metadata["export"] for f in fields(cls) if values.get(f.metadata["export"]) in (None, "")]
        if missing:
            raise MissingOutput(f"platform output {where} lacks {', '.join(missing)}")
        return cls(**{f.name: values[f.metadata["export"]] for f in fields(cls)})


@dataclass(frozen=True)
class PlatformOutputs(_Exported):
    """The platform stack's outputs. On the platform side the fields hold the resources' outputs;
    on the model side, the same values read through a StackReference."""

    region: pulumi.Input[str] = _export("region")
    vpc_id: pulumi.Input[str] = _export("vpcId")
    private_subnet_ids: pulumi.Input[list] = _export("privateSubnetIds")
    model_security_group_id: pulumi.Input[str] = _export("modelSecurityGroupId")
    training_security_group_id: pulumi.Input[str] = _export("trainingSecurityGroupId")
    kms_key_arn: pulumi.Input[str] = _export("kmsKeyArn")
    artifact_bucket: pulumi.Input[str] = _export("artifactBucket")
    capture_bucket: pulumi.Input[str] = _export("captureBucket")
    log_bucket: pulumi.Input[str] = _export("logBucket")
    serving_repository: pulumi.Input[str] = _export("servingRepository")  # the serving image's ECR URL
    clusters: pulumi.Input[Mapping[str, Any]] = _export("clusters")  # cluster name -> ClusterOutputs.exports()

    @classmethod
    def from_reference(cls, reference: pulumi.StackReference) -> "PlatformOutputs":
        """Each field from the stack reference; a missing output fails the deployment by name."""

        def required(export: str) -> pulumi.Output:
            def present(value: Any) -> Any:
                if value is None:
                    raise MissingOutput(f"the platform stack has no output '{export}'; run `modelform up` for it first")
                return value

            return reference.get_output(export).apply(present)

        return cls(**{f.name: required(f.metadata["export"]) for f in fields(cls)})

    def cluster(self, name: str) -> pulumi.Output:
        """The `ClusterOutputs` of cluster `name` (an Output of it)."""

        def pick(clusters: Mapping[str, Any]) -> ClusterOutputs:
            if name not in clusters:
                raise MissingOutput(
                    f"the platform stack has no cluster '{name}' (clusters: {', '.join(sorted(clusters))})"
                )
            return ClusterOutputs.from_exports(clusters[name], f"clusters.{name}")

        return pulumi.Output.from_input(self.clusters).apply(pick)
