"""Batch scoring on EKS: every CSV object under an S3 prefix, scored by the model the serving pods
use, one prediction per row, written KMS-encrypted under the run's own output folder.

    python -m model_code.batch_score --model-dir /opt/ml/model --input s3://bucket/prefix/ \\
        --output s3://artifacts/model/batch/ --kms-key ARN [--failures QUEUE_URL] [--job-name NAME]

It is what a SageMaker batch transform does for SageMaker models, with the EKS serving image's
codec and model (`serve/`), so a row scores the same in batch as through the EKS endpoint:
- input: objects under `--input` (keys ending in `/` and empty objects are skipped), CSV rows
  without a header, the features in the model's order, as the serving codec reads them;
- output: `<output><scheduled time>/<key relative to the input>.out` (SageMaker's naming), line N
  the prediction of input row N; the scheduled time comes from the Job's name (a CronJob names
  its Jobs `<cronjob>-<minutes since the epoch of the scheduled time>`), else from the clock;
- rows are scored `--rows-per-request` at a time (the codec's own limit per request);
- a failure (an unreadable object, a row the model refuses) stops the run with one log line, a
  message to the `--failures` queue (the model's batch failure inbox, which raises its alarm),
  and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any, Iterator, Optional, Sequence

log = logging.getLogger("modelform.batch_score")

if __package__ and __package__.startswith("model_code"):
    from .serve.codec import MAX_ROWS, Refused
    from .serve.model import ServedModel
else:  # pragma: no cover - in the image, model_code's files are on PYTHONPATH
    from serve.codec import MAX_ROWS, Refused  # type: ignore[no-redef]
    from serve.model import ServedModel  # type: ignore[no-redef]

MEDIA_TYPE = "text/csv"


class ScoringError(Exception):
    """The run cannot go on: one line, and the run fails."""


def split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or not uri[len("s3://") :].split("/", 1)[0]:
        raise ScoringError(f"'{uri}' is not an S3 location (s3://bucket/prefix/)")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    return bucket, prefix


def scheduled_time(job_name: Optional[str], now: Optional[float] = None) -> datetime:
    """The time the run was scheduled for: from a CronJob's Job name, else this minute."""
    suffix = (job_name or "").rsplit("-", 1)[-1]
    if suffix.isdigit() and len(suffix) >= 8:  # minutes since the epoch (8 digits since 1970-03)
        return datetime.fromtimestamp(int(suffix) * 60, timezone.utc)
    moment = datetime.fromtimestamp(time.time() if now is None else now, timezone.utc)
    return moment.replace(second=0, microsecond=0)


def folder_name(moment: datetime) -> str:
    """As Scheduler's `<aws.scheduler.scheduled-time>` names the SageMaker runs' folders."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def input_objects(client: Any, bucket: str, prefix: str) -> Iterator[tuple[str, int]]:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            if not item["Key"].endswith("/") and item["Size"] > 0:
                yield item["Key"], item["Size"]


def score_text(model: ServedModel, text: bytes, rows_per_request: int) -> tuple[bytes, int]:
    """Predictions of every row of one CSV object, one line per row, in order."""
    lines = [line for line in text.splitlines() if line.strip()]
    answers = []
    for start in range(0, len(lines), rows_per_request):
        body = b"\n".join(lines[start : start + rows_per_request]) + b"\n"
        rows = model.codec.decode(body, MEDIA_TYPE)
        answers.append(model.codec.encode(model.predict(rows.numeric, rows.categorical), MEDIA_TYPE))
    return b"".join(answers), len(lines)


def run(
    model: ServedModel,
    client: Any,
    *,
    input_uri: str,
    output_uri: str,
    kms_key: str,
    moment: datetime,
    rows_per_request: int = 1000,
) -> dict[str, Any]:
    in_bucket, in_prefix = split_s3(input_uri)
    out_bucket, out_prefix = split_s3(output_uri)
    out_prefix = f"{out_prefix.rstrip('/')}/" if out_prefix else ""
    folder = f"{out_prefix}{folder_name(moment)}/"
    objects = rows = 0
    for key, _ in input_objects(client, in_bucket, in_prefix):
        body = client.get_object(Bucket=in_bucket, Key=key)["Body"].read()
        try:
            predictions, count = score_text(model, body, rows_per_request)
        except Refused as refusal:
            raise ScoringError(f"s3://{in_bucket}/{key}: {refusal.reason}") from None
        client.put_object(
            Bucket=out_bucket,
            Key=f"{folder}{key[len(in_prefix) :].lstrip('/')}.out",
            Body=predictions,
            ContentType=MEDIA_TYPE,
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=kms_key,
        )
        objects, rows = objects + 1, rows + count
    if objects == 0:
        raise ScoringError(f"{input_uri} holds no objects to score")
    return {"objects": objects, "rows": rows, "output": f"s3://{out_bucket}/{folder}"}


def report_failure(sqs: Any, queue_url: str, reason: str, job_name: Optional[str], input_uri: str) -> None:
    message = {"source": "modelform.batch_score", "job": job_name, "input": input_uri, "reason": reason}
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message, sort_keys=True))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m model_code.batch_score", description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default="/opt/ml/model")
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--kms-key", required=True)
    parser.add_argument("--failures", help="URL of the SQS queue failures are reported to")
    parser.add_argument("--job-name", default=os.environ.get("JOB_NAME"))
    parser.add_argument("--rows-per-request", type=int, default=1000)
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    args = parser.parse_args(argv)
    if not 1 <= args.rows_per_request <= MAX_ROWS:
        parser.error(f"--rows-per-request must be in 1..{MAX_ROWS}")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    args = parse_args(argv)
    import boto3

    started = time.perf_counter()
    try:
        model = ServedModel(args.model_dir)
        summary = run(
            model,
            boto3.client("s3", region_name=args.region),
            input_uri=args.input,
            output_uri=args.output,
            kms_key=args.kms_key,
            moment=scheduled_time(args.job_name),
            rows_per_request=args.rows_per_request,
        )
    except Exception as error:  # noqa: BLE001 - every failure is reported once, then the run fails
        reason = str(error) if isinstance(error, ScoringError) else f"{type(error).__name__}: {error}"
        log.error("batch scoring failed: %s", reason)
        if args.failures:
            sqs = boto3.client("sqs", region_name=args.region)
            report_failure(sqs, args.failures, reason, args.job_name, args.input)
        return 1
    log.info(
        "scored %d rows in %d objects in %.1f s into %s",
        summary["rows"],
        summary["objects"],
        time.perf_counter() - started,
        summary["output"],
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
