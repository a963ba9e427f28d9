"""A modelform plan as a Terraform plan (JSON), so Terraform-aware scanners can read the AWS side.

pulumi-aws is bridged from the Terraform AWS provider: the same resource types and attributes,
in camelCase. This converts each AWS resource of a plan to Terraform's shape: the type token
`aws:s3/bucket:Bucket` becomes `aws_s3_bucket` (EC2 networking types drop the `ec2` module, as
the provider names them), input names become snake_case, and nested objects become one-element
lists (Terraform's nested blocks) except for the attributes that are maps (tags, variables, ...).
"""

from __future__ import annotations

import re
from typing import Any

#: Pulumi type tokens whose Terraform type does not follow the module + name rule.
SPECIAL_TYPES = {
    "aws:s3/bucketObjectv2:BucketObjectv2": "aws_s3_object",
    "aws:lambda/function:Function": "aws_lambda_function",
    "aws:lb/loadBalancer:LoadBalancer": "aws_lb",
}
#: Pulumi modules the provider spells otherwise in its type names.
MODULE_NAMES = {"apigateway": "api_gateway"}
#: Repeated blocks that Pulumi names in the plural and Terraform in the singular.
SINGULAR_BLOCKS = {
    ("aws_s3_bucket_lifecycle_configuration", "rules"): "rule",
    ("aws_s3_bucket_server_side_encryption_configuration", "rules"): "rule",
    ("aws_cloudwatch_metric_alarm", "metric_queries"): "metric_query",
    ("aws_eks_node_group", "taints"): "taint",
    ("aws_ecr_repository", "encryption_configurations"): "encryption_configuration",
    ("aws_wafv2_web_acl", "rules"): "rule",
    ("aws_lb_listener", "default_actions"): "default_action",
}
#: Attributes that are maps in the provider's schema (kept as objects, keys unchanged).
MAP_ATTRIBUTES = {
    "tags",
    "tags_all",
    "variables",
    "dimensions",
    "labels",
    "customer_metadata_properties",
    "default_tags",
    "environment_variables",
}


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def terraform_type(token: str) -> str | None:
    if token in SPECIAL_TYPES:
        return SPECIAL_TYPES[token]
    package, path, _ = token.split(":")
    if package != "aws":
        return None
    module, resource = path.split("/")
    module = MODULE_NAMES.get(module.rstrip("_"), module.rstrip("_"))
    if module == "ec2":
        return f"aws_{snake(resource)}"
    return f"aws_{module}_{snake(resource)}"


def address_name(stack: str, name: str) -> str:
    """A resource's name in the Terraform plan: unique across stacks, in Terraform's alphabet."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{stack}__{name}")


def terraform_values(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        if key in MAP_ATTRIBUTES:
            return dict(value)
        return {snake(k): terraform_values(v, snake(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [terraform_values(item, key) for item in value]
    return value


def blocks(values: dict) -> dict:
    """Nested objects as Terraform blocks (lists of one object), recursively."""
    converted = {}
    for key, value in values.items():
        if isinstance(value, dict) and key not in MAP_ATTRIBUTES:
            converted[key] = [blocks(value)]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            converted[key] = [blocks(v) for v in value]
        else:
            converted[key] = value
    return converted


PLACEHOLDER = re.compile(r"^<(?P<name>[\w-]+)\.(?P<prop>\w+)>$")


def to_terraform_plan(planned: dict, deployed: dict) -> dict:
    """`deployed`: the same plan with placeholders replaced by realistic values (the values the
    scanners judge); `planned`: the plan as made, whose placeholders say what refers to what (the
    references Terraform records in `configuration`, from which scanners relate a bucket to its
    public access block, encryption and logging)."""
    addresses = {}
    for stack in planned["stacks"]:
        for resource in stack["resources"]:
            kind = terraform_type(resource["type"])
            if kind is not None:
                addresses[(stack["stack"], resource["name"])] = (kind, address_name(stack["stack"], resource["name"]))
    platform = next(s["stack"] for s in planned["stacks"] if s["kind"] == "Platform")
    resources, configuration = [], []
    for stack, stack_deployed in zip(planned["stacks"], deployed["stacks"]):
        for resource, resource_deployed in zip(stack["resources"], stack_deployed["resources"]):
            if (stack["stack"], resource["name"]) not in addresses:
                continue
            kind, name = addresses[(stack["stack"], resource["name"])]
            values = blocks(terraform_values(resource_deployed["inputs"]))
            values = {SINGULAR_BLOCKS.get((kind, key), key): value for key, value in values.items()}
            resources.append(
                {
                    "address": f"{kind}.{name}",
                    "mode": "managed",
                    "type": kind,
                    "name": name,
                    "provider_name": "registry.terraform.io/hashicorp/aws",
                    "values": values,
                }
            )
            expressions = {}
            for key, value in resource["inputs"].items():
                match = PLACEHOLDER.match(value) if isinstance(value, str) else None
                target = match and (
                    addresses.get((stack["stack"], match["name"])) or addresses.get((platform, match["name"]))
                )
                if target:
                    address = f"{target[0]}.{target[1]}"
                    expressions[snake(key)] = {"references": [f"{address}.{snake(match['prop'])}", address]}
            configuration.append(
                {
                    "address": f"{kind}.{name}",
                    "mode": "managed",
                    "type": kind,
                    "name": name,
                    "provider_config_key": "aws",
                    "expressions": expressions,
                }
            )
    return {
        "format_version": "1.2",
        "terraform_version": "1.9.0",
        "planned_values": {"root_module": {"resources": resources}},
        "resource_changes": [
            {
                "address": r["address"],
                "mode": "managed",
                "type": r["type"],
                "name": r["name"],
                "provider_name": r["provider_name"],
                "change": {"actions": ["create"], "before": None, "after": r["values"]},
            }
            for r in resources
        ],
        "configuration": {"root_module": {"resources": configuration}},
    }
