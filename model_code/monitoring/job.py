"""The monitoring job: drift of current traffic against the training baseline, quality against
ground truth, written as metrics.json and optionally published to CloudWatch.

    python -m model_code.monitoring --baseline PATH --current PATH [--ground-truth PATH] \\
        --problem-type T --drift-method psi|ks|jensen_shannon [--features a,b] --out metrics.json \\
        [--publish --model NAME --deployment NAME [--variant NAME]] [--skip FOLDER] [--label label]

PATH is a CSV file or a folder of them. `--current` also takes SageMaker data capture (`.jsonl`
files: the request rows, in the baseline's feature order, and this model's JSON responses).
Predictions come from the capture's responses, or from a `prediction` column (binary: P(positive),
regression: the value; multiclass: `prediction_<class>` columns). Ground truth is a `label`
column, joined on `event_id` when both sides have one (capture events carry it), else row by row.
`--skip FOLDER` leaves out a sub-folder of `--current` (a deployment's shadow writes its capture
beside the production variants': its answers must not be scored as theirs).

Output: `{"rows": n, "baseline_rows": n, "insufficient_data": bool, "drift": {"method", "features":
{name: score}, "max": x}, "schema_breaks": {"count": n, "features": {name: reason}}, "quality": {...},
"records": {"read", "skipped", "ragged_instances"}}` (records: capture input only).
`--publish` puts every score to CloudWatch, namespace `modelform`, dimensions `model`,
`deployment`, `metric`: `Drift` (a feature name or `max`), `Quality` (a quality metric),
`InsufficientData` (`rows`: 1 when either side has fewer than `MIN_ROWS` rows), `SchemaBreaks`
(`count`: features the job could not score, unexpected columns, and ragged instances, one each)
and `Records` (`skipped`: unreadable capture records). With `--variant` (a shadow's scores) every
data point has a fourth dimension, `variant`: a series of its own, which the production alarms
never read.
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import logging
import math
import os
import sys
from typing import Optional

import numpy as np
import pandas as pd

if __package__ and __package__.startswith("model_code"):
    from .. import metrics as quality_metrics
    from . import drift
else:  # pragma: no cover - inside a processing container with this folder on PYTHONPATH
    import metrics as quality_metrics  # type: ignore[no-redef]
    from monitoring import drift  # type: ignore[no-redef]

log = logging.getLogger("modelform.monitoring")
NAMESPACE = "modelform"
#: A run fails only when more than this share of the capture records is unreadable; below it, bad
#: records are skipped, counted in the report and published (`Records/skipped`).
MAX_BAD_RECORD_SHARE = 0.1
#: Fewer rows than this on either side give no drift value (a handful of rows says nothing about a
#: distribution); the report and the `InsufficientData` metric say so instead.
MIN_ROWS = 30
PROBLEM_TYPES = ("binary_classification", "multiclass_classification", "regression")


class MonitoringError(ValueError):
    """Inputs the job cannot use; the message says which and why."""


def _files(path: str, suffixes: tuple[str, ...], skip: Optional[str] = None) -> list[str]:
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise MonitoringError(f"no such file or folder: {path}")
    left_out = os.path.normpath(os.path.join(path, skip)) if skip else None
    found = sorted(
        os.path.join(d, f)
        for d, _, names in os.walk(path)
        if left_out is None or not (d == left_out or d.startswith(left_out + os.sep))
        for f in names
        if f.endswith(suffixes)
    )
    if not found:
        raise MonitoringError(f"{path} holds no {' or '.join(suffixes)} files")
    return found


def read_csv(path: str) -> pd.DataFrame:
    """Every CSV file (header row) under `path`, concatenated; 0-byte files (an export with no rows
    that hour) are skipped, so a folder of only empty files is an empty frame."""
    frames = []
    for file in _files(path, (".csv",)):
        if os.path.getsize(file) == 0:
            log.warning("skipped empty file %s", file)
            continue
        try:
            frames.append(pd.read_csv(file))
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise MonitoringError(f"cannot read {file}: {error}") from None
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def read_capture(
    path: str, feature_names: list[str], skip: Optional[str] = None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """SageMaker data capture JSONL -> features (+ `event_id`, predictions), and how many records
    were read and skipped. A record that cannot be read (not JSON, null, not a capture) is skipped
    and counted; more than `MAX_BAD_RECORD_SHARE` of them fails the run."""
    rows: list[dict] = []
    read = skipped = 0
    ragged = [0]  # instances with more or fewer values than the model has features
    first_problem = ""
    for file in _files(path, (".jsonl",), skip):
        with open(file, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                read += 1
                try:
                    rows += _capture_rows(json.loads(line), feature_names, ragged)
                except (KeyError, ValueError, TypeError, AttributeError) as error:
                    skipped += 1
                    first_problem = first_problem or f"{file}:{number}: not a SageMaker data capture record ({error})"
    if read and skipped / read > MAX_BAD_RECORD_SHARE:
        raise MonitoringError(f"{skipped} of {read} capture records are unreadable, e.g. {first_problem}")
    if skipped:
        log.warning("skipped %d of %d capture records, e.g. %s", skipped, read, first_problem)
    return pd.DataFrame(rows), {"read": read, "skipped": skipped, "ragged_instances": ragged[0]}


def _capture_rows(record: dict, feature_names: list[str], ragged: list[int]) -> list[dict]:
    capture = record["captureData"]
    inputs = _decode(capture["endpointInput"])
    outputs = _decode(capture["endpointOutput"])
    instances = _instances(inputs, capture["endpointInput"].get("observedContentType", ""), feature_names)
    predictions = json.loads(outputs).get("predictions", []) if outputs.strip().startswith("{") else []
    event = (record.get("eventMetadata") or {}).get("eventId")
    rows = []
    for index, instance in enumerate(instances):
        if isinstance(instance, list) and len(instance) != len(feature_names):
            ragged[0] += 1  # a schema break, counted: never silently truncated or padded
            continue
        row = dict(zip(feature_names, instance)) if isinstance(instance, list) else dict(instance)
        if event is not None:
            row["event_id"] = event if len(instances) == 1 else f"{event}-{index}"
        if index < len(predictions):
            prediction = predictions[index]
            if isinstance(prediction, list):
                row.update({f"prediction_{k}": p for k, p in enumerate(prediction)})
            else:
                row["prediction"] = prediction
        rows.append(row)
    return rows


def _decode(part: dict) -> str:
    data = part.get("data", "")
    return base64.b64decode(data).decode("utf-8") if part.get("encoding") == "BASE64" else data


def _instances(body: str, content_type: str, feature_names: list[str]) -> list:
    if "json" in content_type or body.strip().startswith(("{", "[")):
        document = json.loads(body)
        instances = document.get("instances", document) if isinstance(document, dict) else document
        return instances if isinstance(instances, list) else [instances]
    return [row for row in csv.reader(io.StringIO(body)) if row]


def compute(
    baseline: pd.DataFrame,
    current: pd.DataFrame,
    *,
    problem_type: str,
    method: str,
    label: str = "label",
    features: Optional[list[str]] = None,
    ground_truth: Optional[pd.DataFrame] = None,
    ragged_instances: int = 0,
) -> dict:
    """Drift per feature, quality against ground truth, and the schema breaks: features the job
    cannot score (missing from the traffic, values that are not numbers where the baseline has
    numbers, no baseline values) and columns or values the model does not know. A broken feature
    gets no drift score; the others are still scored."""
    if problem_type not in PROBLEM_TYPES:
        raise MonitoringError(f"problem type must be one of {', '.join(PROBLEM_TYPES)} (got {problem_type!r})")
    if method not in drift.METHODS:
        raise MonitoringError(f"drift method must be one of {', '.join(drift.METHODS)} (got {method!r})")
    candidates = [c for c in baseline.columns if c != label and not _bookkeeping(c)]
    chosen = features or candidates
    unknown = [f for f in chosen if f not in baseline.columns]
    if unknown:
        raise MonitoringError(f"feature(s) not in the baseline: {', '.join(unknown)}")
    breaks = schema_breaks(baseline, current, chosen, label) if len(current) else {}
    if ragged_instances:
        breaks["(instances)"] = f"{ragged_instances} instance(s) with more or fewer values than the model's features"
    chosen = [f for f in chosen if f not in breaks]
    numeric = [f for f in chosen if pd.api.types.is_numeric_dtype(baseline[f])]
    scores: dict[str, float] = {}
    insufficient = len(baseline) < MIN_ROWS or len(current) < MIN_ROWS
    if insufficient:
        numeric, chosen = [], []  # no drift value from a handful of rows
    if numeric:
        current_numeric = current[numeric].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
        for name, score in zip(
            numeric, drift.numeric_drift(baseline[numeric].to_numpy(dtype=np.float64), current_numeric, method)
        ):
            scores[name] = float(score)
    for name in (f for f in chosen if f not in numeric):
        if method != "ks":
            scores[name] = drift.categorical_drift(
                baseline[name].dropna().to_numpy(), current[name].dropna().to_numpy(), method
            )
    finite = [s for s in scores.values() if not math.isnan(s)]
    report = {
        "rows": int(len(current)),
        "baseline_rows": int(len(baseline)),
        "insufficient_data": insufficient,
        "drift": {"method": method, "features": scores, "max": max(finite) if finite else None},
        "schema_breaks": {"count": len(breaks), "features": breaks},
        "quality": {},
    }
    if ground_truth is not None:
        report["quality"] = _quality(current, ground_truth, problem_type, label)
    return report


def _bookkeeping(column) -> bool:
    """Columns the job adds or reads besides features: the event id and the predictions."""
    return column == "event_id" or str(column).startswith("prediction")


def schema_breaks(baseline: pd.DataFrame, current: pd.DataFrame, features: list[str], label: str) -> dict[str, str]:
    """Per broken feature (or unexpected column), why it cannot be scored."""
    breaks: dict[str, str] = {}
    for name in features:
        if name not in current.columns:
            breaks[name] = "missing from the traffic"
            continue
        if baseline[name].isna().all():
            breaks[name] = "the baseline has no values to compare with"
            continue
        if pd.api.types.is_numeric_dtype(baseline[name]):
            values = current[name]
            parsed = pd.to_numeric(values, errors="coerce")
            bad = values[parsed.isna() & values.notna()]
            if len(bad):
                breaks[name] = f"{len(bad)} value(s) are not numbers, e.g. {str(bad.iloc[0])[:40]!r}"
    for column in current.columns:
        if column not in baseline.columns and column != label and not _bookkeeping(column):
            breaks[str(column)] = "not a feature of the model"
    return breaks


def _quality(current: pd.DataFrame, truth: pd.DataFrame, problem_type: str, label: str) -> dict[str, float]:
    if label not in truth.columns:
        raise MonitoringError(f"ground truth has no '{label}' column")
    if "event_id" in current.columns and "event_id" in truth.columns:
        joined = current.merge(truth[["event_id", label]], on="event_id", how="inner", suffixes=("", "_truth"))
        labels = joined[f"{label}_truth" if f"{label}_truth" in joined.columns else label]
    else:
        if len(truth) != len(current):
            raise MonitoringError(f"ground truth has {len(truth)} rows, current data {len(current)}; join on event_id")
        joined, labels = current, truth[label].reset_index(drop=True)
    if len(joined) == 0:
        raise MonitoringError("no ground truth matches the current data")
    if problem_type == "multiclass_classification":
        columns = sorted(
            (c for c in joined.columns if str(c).startswith("prediction_")), key=lambda c: int(str(c).split("_")[1])
        )
        if not columns:
            raise MonitoringError("multiclass quality needs prediction_<class> columns (class probabilities)")
        predictions = joined[columns].to_numpy(dtype=np.float64)
        truth_codes = labels.to_numpy(dtype=int)
    else:
        if "prediction" not in joined.columns:
            raise MonitoringError("quality needs predictions: a `prediction` column or captured responses")
        predictions = joined["prediction"].to_numpy(dtype=np.float64)
        truth_codes = labels.to_numpy(dtype=np.float64)
    return {k: float(v) for k, v in quality_metrics.quality_metrics(problem_type, truth_codes, predictions).items()}


def finite_json(value):
    """The report as strict JSON: a non-finite number (NaN from NaN predictions, an infinite
    score) becomes null, which every JSON reader accepts."""
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def publish(report: dict, model: str, deployment: str, client=None, variant: Optional[str] = None) -> int:
    """Put every finite score to CloudWatch; returns how many data points were sent."""
    import boto3

    cloudwatch = client or boto3.client("cloudwatch")
    data = []
    shadow = [{"Name": "variant", "Value": variant}] if variant else []

    def point(metric_name: str, metric: str, value) -> None:
        if value is not None and not math.isnan(value):
            data.append(
                {
                    "MetricName": metric_name,
                    "Dimensions": [
                        {"Name": "model", "Value": model},
                        {"Name": "deployment", "Value": deployment},
                        {"Name": "metric", "Value": metric},
                        *shadow,
                    ],
                    "Value": float(value),
                }
            )

    point("Drift", "max", report["drift"]["max"])
    point("InsufficientData", "rows", 1.0 if report.get("insufficient_data") else 0.0)
    point("SchemaBreaks", "count", float(report.get("schema_breaks", {}).get("count", 0)))
    if "records" in report:
        point("Records", "skipped", report["records"]["skipped"])
    for feature, score in report["drift"]["features"].items():
        point("Drift", feature, score)
    for name, value in report["quality"].items():
        point("Quality", name, value)
    for start in range(0, len(data), 1000):  # the API's limit per call
        cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data[start : start + 1000])
    return len(data)


def main(argv: Optional[list[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    parser = argparse.ArgumentParser(prog="python -m model_code.monitoring", description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--current", required=True)
    parser.add_argument("--ground-truth")
    parser.add_argument("--problem-type", required=True, choices=PROBLEM_TYPES)
    parser.add_argument("--drift-method", required=True, choices=drift.METHODS)
    parser.add_argument("--features", help="comma-separated feature names (default: every feature of the baseline)")
    parser.add_argument("--label", default="label")
    parser.add_argument("--out", required=True)
    parser.add_argument("--publish", action="store_true")
    parser.add_argument("--model")
    parser.add_argument("--deployment")
    parser.add_argument("--variant", help="publish as this variant's scores (a shadow's)")
    parser.add_argument("--skip", help="a sub-folder of --current to leave out (a shadow's capture)")
    args = parser.parse_args(argv)
    if args.publish and not (args.model and args.deployment):
        parser.error("--publish needs --model and --deployment")
    try:
        baseline = read_csv(args.baseline)
        if baseline.empty:
            raise MonitoringError(f"the baseline {args.baseline} holds no rows")
        feature_names = [c for c in baseline.columns if c != args.label]
        is_capture = args.current.endswith(".jsonl") or (
            os.path.isdir(args.current)
            and not any(f.endswith(".csv") for _, _, names in os.walk(args.current) for f in names)
        )
        records = None
        if is_capture:
            current, records = read_capture(args.current, feature_names, args.skip)
        else:
            current = read_csv(args.current)
        truth = read_csv(args.ground_truth) if args.ground_truth else None
        report = compute(
            baseline,
            current,
            problem_type=args.problem_type,
            method=args.drift_method,
            label=args.label,
            features=args.features.split(",") if args.features else None,
            ground_truth=truth,
            ragged_instances=records["ragged_instances"] if records else 0,
        )
        if records is not None:
            report["records"] = records
    except MonitoringError as error:
        log.error("monitoring input problem: %s", error)
        return 2
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(finite_json(report), handle, indent=2, sort_keys=True, allow_nan=False)
    log.info("rows=%d drift_max=%s quality=%s", report["rows"], report["drift"]["max"], json.dumps(report["quality"]))
    if args.publish:
        sent = publish(report, args.model, args.deployment, variant=args.variant)
        log.info("published %d data points to CloudWatch", sent)
    return 0
