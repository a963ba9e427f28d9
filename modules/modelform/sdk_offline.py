"""Building SageMaker pipeline definitions and image URIs with the sagemaker SDK, offline, and
remembering them by content.

Shared by the retraining and the monitoring pipelines: a PipelineSession that never asks AWS for
anything, and a ProcessingStep without the SDK's costly detour. Importing the SDK takes ~5 s and a
definition ~0.05 s, while what it computes is a pure function of a few typed inputs: each result
is kept in the content cache (`.modelform/cache/sdk/`) under the repr of exactly those inputs, so
a plan whose pipelines and images did not change never imports the SDK.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from functools import lru_cache
from types import MappingProxyType
from typing import Callable, Optional

from .content_cache import ContentCache, enabled, key_of
from .spec import ModelSpec, Shadow, Target

#: This process's SDK results (the process may plan stacks of several repositories, one by one).
_OUTPUTS = [ContentCache(None, "sdk", memory=False)]


def keep_sdk_outputs_under(root: Optional[str]) -> None:
    """Where SDK results are kept from now on: `<root>/.modelform/cache/sdk/` (None: in memory).
    With the cache off, nothing is kept at all, not even in memory."""
    wanted = ContentCache(root, "sdk", memory=enabled())
    current = _OUTPUTS[0]
    if (current.folder, current.memory) != (wanted.folder, wanted.memory):
        _OUTPUTS[0] = wanted


def sdk_output(kind: str, inputs: object, compute: Callable[[], str]) -> str:
    """`compute()`, or what it returned before for equal `inputs` (compared by repr: the typed
    specs are frozen dataclasses whose repr names every field and value)."""
    return _OUTPUTS[0].remembered(key_of(f"sdk-{kind}", repr(inputs)), compute)


@dataclasses.dataclass(frozen=True)
class DeploymentView:
    """What a pipeline definition may read of a deployment. A definition is built from
    `definition_inputs(spec)`, never from the spec itself, so its cache key is exactly what it
    was built from: a variant's weight or a scaling window changes no pipeline, and reading any
    other field of a deployment here fails loudly instead of being left out of the key."""

    name: str
    target: Target
    data_capture_percent: int
    shadow: Optional[Shadow]
    instance_type: Optional[str]


def definition_inputs(spec: ModelSpec) -> ModelSpec:
    """The spec as pipeline definitions see it: without what describes it for people (owner,
    team, description, tags, its file) or serves it (deployments but for `DeploymentView`, batch)."""
    return dataclasses.replace(
        spec,
        source="",
        owner="",
        team="",
        description="",
        tags=MappingProxyType({}),
        deployments=tuple(
            DeploymentView(d.name, d.target, d.data_capture_percent, d.shadow, getattr(d, "instance_type", None))
            for d in spec.deployments
        ),  # type: ignore[arg-type]
        batch=None,
    )


def quiet_sagemaker_sdk(region: str) -> None:
    """Before importing the sagemaker SDK: it creates a boto3 client on import (needs a region),
    logs its config search at INFO, and would validate roles against IAM."""
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    os.environ.setdefault("SAGEMAKER_VALIDATE_ROLE", "false")
    for name in ("sagemaker", "sagemaker.config", "sagemaker.core", "sagemaker.train", "sagemaker.mlops"):
        logging.getLogger(name).setLevel(logging.ERROR)


@lru_cache(maxsize=None)
def offline_session(region: str, bucket: str):
    """One PipelineSession per region and bucket (creating one builds several boto3 clients,
    ~0.1 s); it never asks AWS for a default bucket: every location is given explicitly."""
    quiet_sagemaker_sdk(region)
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    class OfflineSession(PipelineSession):
        def default_bucket(self):
            return bucket

    return OfflineSession(default_bucket=bucket)


def processing_step(**kwargs):
    """`ProcessingStep(...)`, without the SDK's detour: its constructor builds a whole local
    SageMaker session (boto3 resources, ~0.2 s) only to read the *name* of a method,
    `create_processing_job`. A stand-in with that method answers the same name instantly."""
    from sagemaker.mlops.workflow import ProcessingStep
    from sagemaker.mlops.workflow import steps

    class _MethodNames:
        def create_processing_job(self):  # pragma: no cover - only its __name__ is read
            raise NotImplementedError

    original = steps.LocalSagemakerClient
    steps.LocalSagemakerClient = _MethodNames
    try:
        return ProcessingStep(**kwargs)
    finally:
        steps.LocalSagemakerClient = original


#: The request field that names the job each kind of step starts.
JOB_NAME_FIELDS = {"Training": "TrainingJobName", "Processing": "ProcessingJobName"}


def definition_text(name: str, steps: list, session, job_prefixes: dict[str, str]) -> str:
    """The canonical definition JSON of a pipeline whose step jobs are named by us.

    Without a job name in a step's request, Pipelines names the job
    `pipelines-<execution>-<step>-...`, which no role scoped to the model's own job names could
    start; with one, that name is the prefix of the name AWS assigns (`<prefix>-<suffix>`). The
    SDK keeps the name only with `use_custom_job_prefix` (it trims `base_job_name`'s timestamp),
    and drops `TrainingJobName` for ModelTrainer steps under a pipeline session anyway
    (aws/sagemaker-python-sdk#5776), so every prefix in `job_prefixes` (step name -> prefix) is
    written into the request here."""
    import json

    from sagemaker.core.workflow.pipeline_definition_config import PipelineDefinitionConfig
    from sagemaker.mlops.workflow import Pipeline

    pipeline = Pipeline(
        name=name,
        steps=steps,
        sagemaker_session=session,
        pipeline_definition_config=PipelineDefinitionConfig(use_custom_job_prefix=True),
    )
    definition = json.loads(pipeline.definition())
    definition.pop("PipelineExperimentConfig", None)  # experiments are not used; keeps the plan quiet
    for step in _all_steps(definition["Steps"]):
        if step["Name"] in job_prefixes:
            step["Arguments"][JOB_NAME_FIELDS[step["Type"]]] = job_prefixes[step["Name"]]
    return json.dumps(definition, sort_keys=True)


def _all_steps(steps: list) -> list:
    found = []
    for step in steps:
        found.append(step)
        arguments = step.get("Arguments", {})
        found += _all_steps(arguments.get("IfSteps", []) + arguments.get("ElseSteps", []))
    return found
