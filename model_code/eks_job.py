"""The steps of the EKS training and evaluation Jobs: SageMaker's training contract on Kubernetes.

A Job started by the retraining state machine (`backend: eks`) has two containers:

    fetch     (init, the serving image: python -m model_code.eks_job fetch ...)
              the code archive into /opt/ml/code, each data channel into its folder;
    train     (the AWS PyTorch training image: python /opt/ml/code/eks_job.py train ...)
              runs train.py with the hyperparameters, packs /opt/ml/model into model.tar.gz and
              uploads it to s3://<bucket>/<model key>; with --nodes/--processes-per-node, through
              torchrun, one process per GPU on every pod of an Indexed Job: the pod of index
              JOB_COMPLETION_INDEX is that node's rank, `<JOB_NAME>-0.<service>` (--rendezvous) hosts
              the rendezvous, and only node 0 (where rank 0 writes the model) uploads it;
    evaluate  (same image: python /opt/ml/code/eks_job.py evaluate ...)
              downloads the trained model, runs evaluate.py, uploads evaluation.json.

Keys may contain `{execution}`: the state machine's execution name (env `EXECUTION`), which
ties the evaluate Job to the model of its train Job. Standard library and boto3 only: the AWS
training images carry boto3, the serving image installs it.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tarfile
from typing import Optional, Sequence

log = logging.getLogger("modelform.eks_job")

CODE_DIR = "/opt/ml/code"
MODEL_DIR = "/opt/ml/model"
OUTPUT_DIR = "/opt/ml/output"
EVALUATION_FILE = "evaluation.json"


class JobError(Exception):
    """A step cannot go on: one line, and the Job fails (Kubernetes retries it)."""


def split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[len("s3://") :]:
        raise JobError(f"'{uri}' is not an S3 location (s3://bucket/key)")
    bucket, key = uri[len("s3://") :].split("/", 1)
    return bucket, key


def expand(key: str, environ: Optional[dict] = None) -> str:
    """`{execution}` in a key -> the state machine execution this Job belongs to."""
    environ = os.environ if environ is None else environ
    if "{execution}" not in key:
        return key
    execution = environ.get("EXECUTION", "")
    if not execution:
        raise JobError("the key names {execution} but EXECUTION is not set")
    return key.replace("{execution}", execution)


def _client():
    import boto3  # imported here: the module's argument handling works without it

    return boto3.client("s3")


def download_prefix(client, uri: str, folder: str) -> int:
    """Every object under the prefix `uri` into `folder` (relative paths kept); the count."""
    bucket, prefix = split_s3(uri)
    count = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) :].lstrip("/") or os.path.basename(item["Key"])
            if item["Key"].endswith("/"):
                continue  # a folder marker
            target = os.path.realpath(os.path.join(folder, relative))
            if not target.startswith(os.path.realpath(folder) + os.sep):
                raise JobError(f"object key {item['Key']} would land outside {folder}")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            client.download_file(bucket, item["Key"], target)
            count += 1
    if count == 0:
        raise JobError(f"nothing under {uri}")
    return count


def unpack(archive: str, folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")  # refuses absolute paths, links out of the folder


def pack(folder: str, archive: str) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        for name in sorted(os.listdir(folder)):
            tar.add(os.path.join(folder, name), arcname=name)


def fetch(client, code: str, channels: Sequence[str], code_dir: str = CODE_DIR, scratch: str = "/tmp") -> None:
    """The code archive into `code_dir`; each `name=s3://...=folder` channel into its folder."""
    bucket, key = split_s3(code)
    archive = os.path.join(scratch, "sourcedir.tar.gz")
    client.download_file(bucket, key, archive)
    unpack(archive, code_dir)
    for channel in channels:
        name, sep, rest = channel.partition("=")
        uri, sep2, folder = rest.rpartition("=")
        if not (sep and sep2 and name and folder):
            raise JobError(f"channel '{channel}' is not name=s3://bucket/prefix=folder")
        log.info("channel %s: %d object(s)", name, download_prefix(client, uri, folder))


def run(command: list[str], cwd: str) -> None:
    log.info("running %s", " ".join(command))
    result = subprocess.run(command, cwd=cwd)
    if result.returncode != 0:
        script = next((part for part in command if part.endswith(".py")), command[-1])
        raise JobError(f"{script} exited with {result.returncode}")


def launcher(nodes: int, processes: int, rendezvous: Optional[str]) -> list[str]:
    """The command that starts train.py: itself, or torchrun for `nodes` x `processes` ranks."""
    if nodes * processes <= 1:
        return [sys.executable, "train.py"]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes)]
    if nodes == 1:
        return command + ["--standalone", "--nnodes", "1", "train.py"]
    if not rendezvous or "JOB_NAME" not in os.environ or "JOB_COMPLETION_INDEX" not in os.environ:
        raise JobError("a multi-node train Job needs --rendezvous, JOB_NAME and JOB_COMPLETION_INDEX")
    service, _, port = rendezvous.partition(":")
    return command + [
        "--nnodes",
        str(nodes),
        "--node-rank",
        os.environ["JOB_COMPLETION_INDEX"],
        "--master-addr",
        f"{os.environ['JOB_NAME']}-0.{service}",
        "--master-port",
        port or "29500",
        "train.py",
    ]


def train(
    client,
    bucket: str,
    model_key: str,
    hyperparameters: Sequence[str],
    code_dir: str = CODE_DIR,
    model_dir: str = MODEL_DIR,
    scratch: str = "/tmp",
    nodes: int = 1,
    processes: int = 1,
    rendezvous: Optional[str] = None,
) -> Optional[str]:
    """train.py with `hyperparameters`, then model.tar.gz to s3://bucket/model_key; the key (None
    on the other nodes of a multi-node Job: rank 0's node holds the model)."""
    run([*launcher(nodes, processes, rendezvous), *hyperparameters], cwd=code_dir)
    if os.environ.get("JOB_COMPLETION_INDEX", "0") != "0":
        return None
    archive = os.path.join(scratch, "model.tar.gz")
    pack(model_dir, archive)
    key = expand(model_key)
    client.upload_file(archive, bucket, key)
    return key


def evaluate(
    client,
    bucket: str,
    model_key: str,
    evaluation_key: str,
    test_dir: str,
    code_dir: str = CODE_DIR,
    model_dir: str = MODEL_DIR,
    output_dir: str = OUTPUT_DIR,
    scratch: str = "/tmp",
) -> str:
    """The model of the train Job from s3://bucket/model_key, evaluate.py on `test_dir`, then
    evaluation.json to s3://bucket/evaluation_key; the key."""
    archive = os.path.join(scratch, "model.tar.gz")
    client.download_file(bucket, expand(model_key), archive)
    unpack(archive, model_dir)
    run(
        [sys.executable, "evaluate.py", "--model-dir", model_dir, "--test", test_dir, "--output-dir", output_dir],
        cwd=code_dir,
    )
    key = expand(evaluation_key)
    client.upload_file(os.path.join(output_dir, EVALUATION_FILE), bucket, key)
    return key


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Steps of the EKS training Jobs.")
    steps = parser.add_subparsers(dest="step", required=True)
    fetch_step = steps.add_parser("fetch", help="code and data channels from S3")
    fetch_step.add_argument("--code", required=True, help="s3://.../sourcedir.tar.gz")
    fetch_step.add_argument("--channel", action="append", default=[], help="name=s3://bucket/prefix/=folder")
    fetch_step.add_argument("--code-dir", default=CODE_DIR)
    train_step = steps.add_parser("train", help="train.py, then upload model.tar.gz")
    train_step.add_argument("--bucket", required=True)
    train_step.add_argument("--model-key", required=True)
    train_step.add_argument("--nodes", type=int, default=1, help="pods of the Job, one rank group each")
    train_step.add_argument("--processes-per-node", type=int, default=1, help="ranks per pod: its GPUs")
    train_step.add_argument("--rendezvous", help="<headless service>:<port> of the multi-node rendezvous")
    train_step.add_argument("hyperparameters", nargs=argparse.REMAINDER, help="after --: train.py's arguments")
    evaluate_step = steps.add_parser("evaluate", help="evaluate.py on the trained model, then upload the report")
    evaluate_step.add_argument("--bucket", required=True)
    evaluate_step.add_argument("--model-key", required=True)
    evaluate_step.add_argument("--evaluation-key", required=True)
    evaluate_step.add_argument("--test", required=True, help="folder of the evaluation data")
    args = parser.parse_args(argv)
    if getattr(args, "hyperparameters", None) and args.hyperparameters[0] == "--":
        args.hyperparameters = args.hyperparameters[1:]
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = parse_args(argv)
    try:
        client = _client()
        if args.step == "fetch":
            fetch(client, args.code, args.channel, args.code_dir)
        elif args.step == "train":
            key = train(
                client,
                args.bucket,
                args.model_key,
                args.hyperparameters,
                nodes=args.nodes,
                processes=args.processes_per_node,
                rendezvous=args.rendezvous,
            )
            if key:
                log.info("model uploaded to %s", key)
            else:
                log.info("trained; node 0 uploads the model")
        else:
            log.info(
                "evaluation uploaded to %s",
                evaluate(client, args.bucket, args.model_key, args.evaluation_key, args.test),
            )
    except JobError as error:
        log.error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
