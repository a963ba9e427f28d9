"""The model code in S3: the source archive and its files, under one versioned prefix.

`<artifacts>/<model>/code/<version>/sourcedir.tar.gz` (script mode training) and every top-level
`.py` file next to it, plus `monitoring/` (processing jobs import them from the prefix). The
version is the archive's content hash (`source_archive.py`): a code change gets a new prefix,
nothing else does. Objects are SSE-KMS with the platform key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws

from .source_archive import SourceArchive


@dataclass
class CodeUploadArgs:
    """model: the model name (the prefix). archive: the built source archive. code_dir: the
    folder it was built from. artifact_bucket, kms_key_arn: where and how. tags: merged in."""

    model: str
    archive: SourceArchive
    code_dir: str
    artifact_bucket: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    tags: Mapping[str, str] = field(default_factory=dict)


def uploaded_files(archive: SourceArchive) -> list[str]:
    """The archive members also uploaded one by one: Python files the processing jobs import."""
    return [f for f in archive.files if f.endswith(".py") and (f.count("/") == 0 or f.startswith("monitoring/"))]


class CodeUpload(pulumi.ComponentResource):
    def __init__(self, name: str, args: CodeUploadArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("modelform:code:CodeUpload", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.key_prefix = f"{args.model}/code/{args.archive.version}/"
        common = dict(bucket=args.artifact_bucket, server_side_encryption="aws:kms", kms_key_id=args.kms_key_arn,
                      tags=dict(args.tags), opts=child)
        self.objects = [aws.s3.BucketObjectv2(
            f"{name}-archive", key=f"{self.key_prefix}sourcedir.tar.gz", source=pulumi.FileAsset(args.archive.path),
            source_hash=args.archive.sha256, **common)]
        for relative in uploaded_files(args.archive):
            self.objects.append(aws.s3.BucketObjectv2(
                f"{name}-{relative.replace('/', '-').replace('.', '-')}", key=f"{self.key_prefix}{relative}",
                source=pulumi.FileAsset(os.path.join(args.code_dir, relative)), **common))
        self.prefix = pulumi.Output.concat("s3://", args.artifact_bucket, "/", self.key_prefix)
        self.register_outputs({"prefix": self.prefix})
