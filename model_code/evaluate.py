"""Evaluate a trained model on a test channel: writes evaluation.json.

    python evaluate.py --model-dir DIR --test DIR --output-dir DIR

In the retraining pipeline this runs as a processing step: the model arrives as model.tar.gz
(extracted here), the test data as CSV or Parquet files with the label column. The output,
`{"problem_type", "rows", "metrics": {name: value}}`, is what the pipeline's quality gate reads
(`metrics.<name>`) and what the registered model package reports.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tarfile
from typing import Optional

if __package__:
    from . import metrics as quality
    from .tabular import DataError, encode, load_model, read_table, to_predictions
else:
    import metrics as quality  # type: ignore[no-redef]
    from tabular import DataError, encode, load_model, read_table, to_predictions  # type: ignore[no-redef]

import torch

log = logging.getLogger("modelform.evaluate")


def unpack_model(folder: str) -> str:
    """A SageMaker model artifact is model.tar.gz; unpack it in place (members stay inside)."""
    archive = os.path.join(folder, "model.tar.gz")
    if os.path.exists(archive):
        with tarfile.open(archive) as tar:
            tar.extractall(folder, filter="data")
    return folder


def evaluate(model_dir: str, test: str) -> dict:
    model, schema = load_model(unpack_model(model_dir))
    numeric, categorical, target = encode(read_table(test), schema)
    with torch.no_grad():
        predictions = to_predictions(model(numeric, categorical), schema)
    truth = target.numpy()
    if schema.problem_type == "regression":
        truth = truth * schema.target_std + schema.target_mean
    return {
        "problem_type": schema.problem_type,
        "rows": int(len(truth)),
        "metrics": quality.quality_metrics(schema.problem_type, truth, predictions),
    }


def main(argv: Optional[list[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    parser = argparse.ArgumentParser(description="Evaluate a trained model on test data.")
    parser.add_argument("--model-dir", default="/opt/ml/processing/model")
    parser.add_argument("--test", default="/opt/ml/processing/test")
    parser.add_argument("--output-dir", default="/opt/ml/processing/evaluation")
    args = parser.parse_args(argv)
    try:
        report = evaluate(args.model_dir, args.test)
    except DataError as error:
        log.error("evaluation data problem: %s", error)
        return 2
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "evaluation.json"), "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2, sort_keys=True)
    log.info("evaluation: %s", json.dumps(report["metrics"], sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
