"""The catalogue of what AWS accepts (instance types, regions, GPU counts) shipped with the package
is exactly what the pinned botocore and sagemaker SDK say, and validation reads it without them."""

from __future__ import annotations

import subprocess
import sys

from modelform.spec import aws_catalog


def test_the_shipped_catalogue_is_the_installed_sdks_data():
    # After upgrading botocore or sagemaker: `make catalog`, and review the diff.
    assert aws_catalog.CATALOG.read_text(encoding="utf-8") == aws_catalog.catalog_text(aws_catalog.generated())


def test_the_catalogue_answers_what_validation_asks():
    assert "ml.g5.xlarge" in aws_catalog.sagemaker_hosting_instance_types()
    assert "ml.p4d.24xlarge" in aws_catalog.sagemaker_training_instance_types()
    assert "ml.c6i.2xlarge" in aws_catalog.sagemaker_transform_instance_types()
    assert "p4d.24xlarge" in aws_catalog.ec2_instance_types()
    assert "g5.xlarge" not in aws_catalog.sagemaker_hosting_instance_types()  # SageMaker names carry ml.
    assert {"us-east-1", "eu-west-1"} <= aws_catalog.sagemaker_regions()
    assert aws_catalog.gpus_per_instance("ml.p4d.24xlarge") == 8
    assert aws_catalog.gpus_per_instance("g5.12xlarge") == 4
    assert aws_catalog.gpus_per_instance("m6i.large") == 0
    assert aws_catalog.gpus_per_instance("p99.unknown") is None


def test_validating_specs_imports_neither_botocore_nor_the_sagemaker_sdk():
    script = (
        "import sys; from modelform.spec import load_specs; "
        "specs = load_specs(['tests/fixtures/specs'], root='.'); assert not specs.errors, specs.errors; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('botocore', 'sagemaker', 'boto3')))"
    )
    env = {"MODELFORM_SPEC_CACHE": "off", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "[]"
