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
