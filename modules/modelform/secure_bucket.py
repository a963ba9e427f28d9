"""An S3 bucket with the secure posture as the default, for every bucket modelform creates.

Children, all named `<name>-<role>`:
- the bucket itself (`aws.s3.Bucket`), physical name left to autonaming (globally unique);
- ownership controls `BucketOwnerEnforced` (ACLs off: access is decided by policies alone);
- a public access block with all four switches on;
- versioning enabled (nothing lost to an overwrite or a delete);
- default encryption: SSE-KMS with the given key and S3 Bucket Keys (fewer KMS calls); SSE-S3
  only for an access-log destination, because S3 server access log delivery does not write to
  SSE-KMS-encrypted destinations (AWS S3 user guide, "Enabling server access logging");
- a bucket policy that denies any request not made over TLS;
- server access logging to the log bucket, under `<name>/`.

Data-bearing: with `protect=True` (prod) the bucket is protected and retained on delete.
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_aws as aws

from . import iam


def tls_only_policy(bucket_arn: str) -> str:
    """Deny every request to the bucket and its objects that does not use TLS."""
    return iam.policy_document(
        [
            iam.Statement(
                "DenyInsecureTransport",
                ("s3:*",),
                (bucket_arn, f"{bucket_arn}/*"),
                conditions={"Bool": {"aws:SecureTransport": "false"}},
                effect=iam.Effect.DENY,
                principal={"AWS": "*"},
            )
        ]
    )


class SecureBucket(pulumi.ComponentResource):
    """A private, versioned, encrypted, TLS-only, access-logged S3 bucket.

    kms_key_arn: the key for SSE-KMS; None only for access-log destinations (SSE-S3 then).
    log_bucket: the bucket (name) that receives this bucket's server access logs; None only for
        the log bucket itself.
    protect: protect and retain the bucket (prod).
    noncurrent_days: overwritten or deleted versions expire after this many days.
    expire_days: objects expire after this many days; None (the default) keeps them.
    Every bucket also aborts multipart uploads left incomplete for 7 days, and sends its object
    events to EventBridge.
    """

    bucket: aws.s3.Bucket

    def __init__(
        self,
        name: str,
        *,
        kms_key_arn: Optional[pulumi.Input[str]],
        log_bucket: Optional[pulumi.Input[str]],
        protect: bool,
        noncurrent_days: int,
        expire_days: Optional[int] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("modelform:secure_bucket:SecureBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        data = pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect)

        self.bucket = aws.s3.Bucket(name, opts=data)
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        if kms_key_arn is not None:
            by_default = {"sse_algorithm": "aws:kms", "kms_master_key_id": kms_key_arn}
        else:
            by_default = {"sse_algorithm": "AES256"}
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[{"apply_server_side_encryption_by_default": by_default, "bucket_key_enabled": True}],
            opts=child,
        )
        # After the public access block: a policy written first could be judged public meanwhile.
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(tls_only_policy),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access, ownership]),
        )
        if log_bucket is not None:
            aws.s3.BucketLogging(
                f"{name}-access-logs",
                bucket=self.bucket.id,
                target_bucket=log_bucket,
                target_prefix=f"{name}/",
                opts=child,
            )
        expiry = {"expiration": {"days": expire_days}} if expire_days is not None else {}
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.id,
            rules=[
                {
                    "id": "retention",
                    "status": "Enabled",
                    "filter": {},
                    "noncurrent_version_expiration": {"noncurrent_days": noncurrent_days},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                    **expiry,
                }
            ],
            opts=child,
        )
        # Object events go to EventBridge, where rules (retraining on new data, audits) can use them.
        aws.s3.BucketNotification(f"{name}-events", bucket=self.bucket.id, eventbridge=True, opts=child)
        self.register_outputs({"bucket": self.bucket.bucket, "arn": self.bucket.arn})
