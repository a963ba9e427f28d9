"""The model code in S3: the source archive and its files, under one versioned prefix.

`<artifacts>/<model>/code/<version>/sourcedir.tar.gz` (script mode training) and every top-level
`.py` file next to it, plus `monitoring/` (processing jobs and EKS Jobs import them from the
prefix). The version is the archive's content hash (`source_archive.py`): a code change gets a
new prefix, nothing else does. Objects are SSE-KMS with the platform key.
"""

from __future__ import annotations

import os
from typing import Optional

import pulumi
import pulumi_aws as aws

from .context import ModelContext, UploadedCode
from .source_archive import SourceArchive


def uploaded_files(archive: SourceArchive) -> list[str]:
    """The archive members also uploaded one by one: Python files the jobs import."""
    return [f for f in archive.files if f.endswith(".py") and (f.count("/") == 0 or f.startswith("monitoring/"))]


def code_prefix_key(model: str, version: str) -> str:
    return f"{model}/code/{version}/"


class CodeUpload(pulumi.ComponentResource):
    """Uploads `archive` (built from `context.code_folder`); `uploaded` is what the jobs use."""

    uploaded: UploadedCode

    def __init__(
        self, name: str, context: ModelContext, archive: SourceArchive, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("modelform:code_upload:CodeUpload", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        key_prefix = code_prefix_key(context.model, archive.version)
        bucket = context.platform.artifact_bucket
        encrypted = dict(
            bucket=bucket, server_side_encryption="aws:kms", kms_key_id=context.platform.kms_key_arn, opts=child
        )
        objects = [
            aws.s3.BucketObjectv2(
                f"{name}-archive",
                key=f"{key_prefix}sourcedir.tar.gz",
                source=pulumi.FileAsset(archive.path),
                source_hash=archive.sha256,
                **encrypted,
            )
        ]
        for relative in uploaded_files(archive):
            objects.append(
                aws.s3.BucketObjectv2(
                    f"{name}-{relative.replace('/', '-').replace('.', '-')}",
                    key=f"{key_prefix}{relative}",
                    source=pulumi.FileAsset(os.path.join(context.code_folder, relative)),
                    **encrypted,
                )
            )
        prefix = pulumi.Output.concat("s3://", bucket, "/", key_prefix)
        self.uploaded = UploadedCode(prefix, tuple(objects))
        self.register_outputs({"prefix": prefix})
