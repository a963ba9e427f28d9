"""The platform -> model stack contract: one typed class on both sides, and a missing output is an
error that names it (never an empty string that AWS would refuse later)."""

from __future__ import annotations

import pytest

from modelform import naming
from modelform.contract import ClusterOutputs, MissingOutput, PlatformOutputs
from modelform.plan.engine import run_program
from modelform.programs import model_program, platform_program
from tests.conftest import REPO


def _platform_outputs(sample_specs) -> dict:
    _, outputs = run_program(
        naming.PLATFORM_PROJECT, "acme-ml.dev", lambda: platform_program(sample_specs.platform("dev"))
    )
    return outputs


def test_both_sides_use_the_same_export_names(sample_specs):
    outputs = _platform_outputs(sample_specs)
    exported = {f.metadata["export"] for f in PlatformOutputs.__dataclass_fields__.values()}
    assert set(outputs) == exported
    cluster_exports = {f.metadata["export"] for f in ClusterOutputs.__dataclass_fields__.values()}
    assert {name: set(values) for name, values in outputs["clusters"].items()} == {
        "serving-eu": cluster_exports,
        "gpu-training": cluster_exports,
    }


def test_a_missing_platform_output_stops_the_model_stack_by_name(sample_specs):
    outputs = _platform_outputs(sample_specs)
    del outputs["kmsKeyArn"]
    reference = {"organization/modelform-platform/acme-ml.dev": outputs}
    model = sample_specs.model("fraud-detector", "dev")
    with pytest.raises(Exception, match="the platform stack has no output 'kmsKeyArn'"):
        run_program(
            naming.MODEL_PROJECT,
            "fraud-detector.dev",
            lambda: model_program(model, sample_specs.platform("dev"), repo_root=str(REPO)),
            reference,
        )


def test_a_missing_cluster_or_cluster_output_is_named():
    with pytest.raises(MissingOutput, match="platform output clusters.serving lacks kubeconfig, oidcIssuer"):
        ClusterOutputs.from_exports(
            {"name": "c", "endpoint": "e", "certificateAuthority": "ca", "oidcProviderArn": "arn", "oidcIssuer": ""},
            "clusters.serving",
        )
    complete = {
        "name": "c",
        "endpoint": "e",
        "certificateAuthority": "ca",
        "kubeconfig": "k",
        "oidcProviderArn": "arn",
        "oidcIssuer": "https://i",
    }
    assert ClusterOutputs.from_exports(complete, "clusters.serving").kubeconfig == "k"


def test_every_component_is_named_after_its_module_and_takes_a_context_first():
    """Type tokens follow `modelform:<module>:<Type>`; model-stack components take
    `(name, context, spec part, ..., opts)`."""
    import importlib
    import inspect
    import pkgutil

    import pulumi

    import modelform
    from modelform.context import ModelContext

    components = []
    for info in (m for m in pkgutil.iter_modules(modelform.__path__) if m.name != "__main__"):
        module = importlib.import_module(f"modelform.{info.name}")
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, pulumi.ComponentResource)
                and value.__module__ == module.__name__
            ):
                components.append((info.name, name, value))
    assert len(components) >= 12
    for module_name, class_name, component in components:
        assert f'"modelform:{module_name}:{class_name}"' in inspect.getsource(component), class_name
        parameters = list(inspect.signature(component.__init__).parameters.values())
        assert parameters[1].name == "name" and parameters[-1].name == "opts", class_name
        if parameters[2].annotation in ("ModelContext", ModelContext):
            assert parameters[2].name == "context", class_name
    model_components = [c for _, c, k in components if list(inspect.signature(k.__init__).parameters)[2] == "context"]
    assert len(model_components) >= 9, model_components
