"""Building SageMaker pipeline definitions with the sagemaker SDK, offline.

Shared by the retraining and the monitoring pipelines: a PipelineSession that never asks AWS for
anything, and a ProcessingStep without the SDK's costly detour.
"""

from __future__ import annotations

from functools import lru_cache

from .images import quiet_sagemaker_sdk


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
