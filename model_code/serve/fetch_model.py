"""The init container of an EKS serving pod: put the variant's model into /opt/ml/model.

    python -m model_code.serve.fetch_model --model-package ARN --region R [--to /opt/ml/model]
    python -m model_code.serve.fetch_model --artifact s3://bucket/key/model.tar.gz [--to ...]

A registry version is resolved to its ModelDataUrl (DescribeModelPackage, which the pod's role
may call for exactly that version); the archive is downloaded and unpacked with tarfile's `data`
filter (no absolute paths, nothing outside the folder). Runs in the serving image, as the same
non-root user, with the pod's IAM role (IRSA).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tarfile
import tempfile
from typing import Optional, Sequence

log = logging.getLogger("modelform.fetch_model")


class FetchError(Exception):
    """The model cannot be fetched: one line; the pod does not start (and is retried)."""


def model_data_url(sagemaker, package_arn: str) -> str:
    description = sagemaker.describe_model_package(ModelPackageName=package_arn)
    containers = description.get("InferenceSpecification", {}).get("Containers", [])
    if not containers or not containers[0].get("ModelDataUrl"):
        raise FetchError(f"{package_arn} has no ModelDataUrl")
    return containers[0]["ModelDataUrl"]


def download_and_unpack(s3, url: str, folder: str) -> list[str]:
    if not url.startswith("s3://") or "/" not in url[len("s3://") :]:
        raise FetchError(f"'{url}' is not an S3 object")
    bucket, key = url[len("s3://") :].split("/", 1)
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        archive = os.path.join(scratch, "model.tar.gz")
        s3.download_file(bucket, key, archive)
        with tarfile.open(archive) as tar:
            tar.extractall(folder, filter="data")
    return sorted(os.listdir(folder))


def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    parser = argparse.ArgumentParser(description="Fetch a variant's model into the serving pod.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-package", help="ARN of a registry version")
    source.add_argument("--artifact", help="s3://... model.tar.gz")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION"))
    parser.add_argument("--to", default="/opt/ml/model")
    args = parser.parse_args(argv)
    import boto3

    try:
        url = args.artifact or model_data_url(boto3.client("sagemaker", region_name=args.region), args.model_package)
        files = download_and_unpack(boto3.client("s3", region_name=args.region), url, args.to)
    except (FetchError, tarfile.TarError) as error:
        log.error("%s", error)
        return 1
    log.info("model from %s: %s", url, ", ".join(files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
