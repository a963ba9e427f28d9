"""The monitoring job: drift scores against independent references, quality against hand
computations, capture parsing, and publishing to CloudWatch (moto on loopback)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import boto3
import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp

from model_code.monitoring import drift, job


@pytest.mark.parametrize("seed, shift, integers", [(0, 0.0, False), (1, 0.3, False), (2, 0.0, True), (3, 1.0, True)])
def test_ks_matches_scipy_exactly(seed, shift, integers):
    generator = np.random.default_rng(seed)
    baseline = generator.normal(size=(3000, 3))
    current = generator.normal(shift, 1.2, size=(2000, 3))
    if integers:  # ties on both sides
        baseline, current = np.round(baseline * 2), np.round(current * 2)
    scores = drift.numeric_drift(baseline, current, "ks")
    expected = [ks_2samp(baseline[:, j], current[:, j]).statistic for j in range(3)]
    assert scores == pytest.approx(expected, abs=1e-12)


def test_psi_and_js_against_hand_and_scipy():
    expected, actual = np.array([0.5, 0.3, 0.2]), np.array([0.3, 0.3, 0.4])
    assert drift.psi(expected, actual) == pytest.approx(
        (0.3 - 0.5) * np.log(0.3 / 0.5) + (0.4 - 0.2) * np.log(0.4 / 0.2)
    )
    assert drift.jensen_shannon(expected, actual) == pytest.approx(jensenshannon(expected, actual, base=2))
    generator = np.random.default_rng(4)
    baseline = generator.normal(size=(5000, 2))
    current = baseline + np.array([0.0, 0.5])
    psi_scores = drift.numeric_drift(baseline, current, "psi")
    js_scores = drift.numeric_drift(baseline, current, "jensen_shannon")
    assert psi_scores[0] == pytest.approx(0.0, abs=1e-12) and psi_scores[1] > 0.2
    b_shares, c_shares = drift._binned(np.sort(baseline[:, 1]), np.sort(current[:, 1]))
    assert b_shares == pytest.approx(np.full(10, 0.1)) and js_scores[1] == pytest.approx(
        jensenshannon(b_shares, c_shares, base=2)
    )


def test_categorical_drift_and_nan_handling():
    baseline = np.array(["a"] * 50 + ["b"] * 50)
    assert drift.categorical_drift(baseline, np.array(["a"] * 50 + ["b"] * 50), "psi") == pytest.approx(0.0)
    assert drift.categorical_drift(baseline, np.array(["a"] * 90 + ["c"] * 10), "jensen_shannon") > 0.3
    with_nan = np.array([[1.0], [np.nan], [2.0], [3.0]])
    assert drift.numeric_drift(with_nan, np.array([[1.0], [2.0], [3.0]]), "ks")[0] == pytest.approx(0.0)


def _frames():
    generator = np.random.default_rng(7)
    baseline = pd.DataFrame(
        {
            "amount": generator.normal(100, 10, 2000),
            "region": generator.choice(["n", "s"], 2000),
            "label": generator.integers(0, 2, 2000),
        }
    )
    current = pd.DataFrame({"amount": generator.normal(110, 10, 500), "region": generator.choice(["n", "s"], 500)})
    return baseline, current


def test_compute_report_shape_and_quality_join_by_row():
    baseline, current = _frames()
    current["prediction"] = [0.9, 0.2, 0.8, 0.4] * 125
    truth = pd.DataFrame({"label": [1, 0, 0, 1] * 125})
    report = job.compute(baseline, current, problem_type="binary_classification", method="psi", ground_truth=truth)
    assert report["rows"] == 500 and set(report["drift"]["features"]) == {"amount", "region"}
    assert (
        report["drift"]["max"] == max(report["drift"]["features"].values())
        and report["drift"]["features"]["amount"] > 0.2
    )
    # per 4 rows: TP (0.9,1), TN (0.2,0), FP (0.8,0), FN (0.4,1): precision = recall = accuracy = 0.5
    assert (report["quality"]["precision"], report["quality"]["recall"], report["quality"]["accuracy"]) == (
        0.5,
        0.5,
        0.5,
    )
    assert report["quality"]["auc"] == pytest.approx(
        0.75
    )  # positives {0.9, 0.4} beat negatives {0.2, 0.8} in 3 of 4 pairs


def test_bad_inputs_are_monitoring_errors():
    baseline, current = _frames()
    with pytest.raises(job.MonitoringError, match="feature\\(s\\) not in the baseline: colour"):
        job.compute(baseline, current, problem_type="regression", method="ks", features=["colour"])
    with pytest.raises(job.MonitoringError, match="ground truth has 3 rows, current data 500; join on event_id"):
        job.compute(
            baseline,
            current.assign(prediction=1.0),
            problem_type="regression",
            method="ks",
            ground_truth=pd.DataFrame({"label": [1, 2, 3]}),
        )


def _capture_line(event_id: str, csv_row: str, prediction: float) -> str:
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "text/csv",
                    "mode": "INPUT",
                    "data": base64.b64encode(csv_row.encode()).decode(),
                    "encoding": "BASE64",
                },
                "endpointOutput": {
                    "observedContentType": "application/json",
                    "mode": "OUTPUT",
                    "data": json.dumps({"predictions": [prediction]}),
                    "encoding": "JSON",
                },
            },
            "eventMetadata": {"eventId": event_id, "inferenceTime": "2026-11-27T10:00:00Z"},
            "eventVersion": "0",
        }
    )


def test_cli_reads_data_capture_joins_ground_truth_and_publishes(tmp_path, aws):
    baseline, _ = _frames()
    baseline.to_csv(tmp_path / "baseline.csv", index=False)
    capture = tmp_path / "capture" / "2026" / "11" / "27"
    capture.mkdir(parents=True)
    lines = [_capture_line(f"e{i}", f"{100 + i},{'n' if i % 2 else 's'}", 0.9 if i % 2 else 0.1) for i in range(40)]
    (capture / "part.jsonl").write_text("\n".join(lines) + "\n")
    pd.DataFrame({"event_id": [f"e{i}" for i in range(40)], "label": [i % 2 for i in range(40)]}).to_csv(
        tmp_path / "truth.csv", index=False
    )
    out = tmp_path / "out" / "metrics.json"
    code = job.main(
        [
            "--baseline",
            str(tmp_path / "baseline.csv"),
            "--current",
            str(tmp_path / "capture"),
            "--ground-truth",
            str(tmp_path / "truth.csv"),
            "--problem-type",
            "binary_classification",
            "--drift-method",
            "ks",
            "--out",
            str(out),
            "--publish",
            "--model",
            "fraud",
            "--deployment",
            "default",
        ]
    )
    assert code == 0
    report = json.loads(out.read_text())
    assert report["rows"] == 40 and report["quality"]["auc"] == 1.0 and report["quality"]["accuracy"] == 1.0
    assert set(report["drift"]["features"]) == {"amount"}  # KS: numeric features only
    cloudwatch = boto3.client("cloudwatch")
    now = datetime.now(timezone.utc)

    def statistic(name: str, metric: str) -> float:
        points = cloudwatch.get_metric_statistics(
            Namespace="modelform",
            MetricName=name,
            StartTime=now - timedelta(hours=1),
            EndTime=now + timedelta(hours=1),
            Period=3600,
            Statistics=["Maximum"],
            Dimensions=[
                {"Name": "model", "Value": "fraud"},
                {"Name": "deployment", "Value": "default"},
                {"Name": "metric", "Value": metric},
            ],
        )["Datapoints"]
        (point,) = points
        return point["Maximum"]

    assert statistic("Quality", "auc") == 1.0
    assert statistic("Drift", "max") == pytest.approx(report["drift"]["max"])
    assert statistic("SchemaBreaks", "count") == 0.0  # published when nothing broke, so the alarm can say OK


def test_cli_input_problems_exit_2(tmp_path, caplog):
    assert (
        job.main(
            [
                "--baseline",
                str(tmp_path / "none.csv"),
                "--current",
                str(tmp_path),
                "--problem-type",
                "regression",
                "--drift-method",
                "psi",
                "--out",
                str(tmp_path / "m.json"),
            ]
        )
        == 2
    )
    assert f"monitoring input problem: no such file or folder: {tmp_path / 'none.csv'}" in caplog.text


def _capture_folder(tmp_path, lines: list[str]):
    folder = tmp_path / "capture"
    folder.mkdir()
    (folder / "part.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def test_bad_capture_records_are_skipped_and_counted_up_to_a_limit(tmp_path):
    good = [_capture_line(f"e{i}", "1.0,2.0", 0.5) for i in range(19)]
    frame, records = job.read_capture(str(_capture_folder(tmp_path, [*good, "null"])), ["a", "b"])
    assert len(frame) == 19 and records == {"read": 20, "skipped": 1, "ragged_instances": 0}
    many_bad = tmp_path / "many"
    many_bad.mkdir()
    with pytest.raises(job.MonitoringError, match=r"^3 of 10 capture records are unreadable, e.g. .*part.jsonl:8:"):
        job.read_capture(str(_capture_folder(many_bad, [*good[:7], "null", "{}", "[1]"])), ["a", "b"])


def test_too_few_rows_give_no_drift_value_but_say_so():
    baseline, current = _frames()
    report = job.compute(baseline, current.head(5), problem_type="regression", method="ks")
    assert report["insufficient_data"] is True and report["drift"] == {"method": "ks", "features": {}, "max": None}
    report = job.compute(baseline, current.head(job.MIN_ROWS), problem_type="regression", method="ks")
    assert report["insufficient_data"] is False and report["drift"]["max"] is not None


def test_the_report_is_always_strict_json():
    report = {"quality": {"rmse": float("nan"), "r2": float("inf")}, "drift": {"max": 0.1}, "rows": 3}
    text = json.dumps(job.finite_json(report), allow_nan=False)
    assert json.loads(text) == {"quality": {"rmse": None, "r2": None}, "drift": {"max": 0.1}, "rows": 3}


def test_schema_breaks_are_reported_and_the_rest_still_scored():
    baseline, current = _frames()
    baseline["tenure"] = np.nan  # a feature the baseline never saw a value of
    baseline["age"] = np.arange(len(baseline), dtype=float)
    current = current.assign(amount=current["amount"].astype(object), colour="red", tenure=1.0)
    current.loc[3, "amount"] = "n/a"  # text in a numeric feature
    report = job.compute(baseline, current, problem_type="binary_classification", method="psi")
    assert report["schema_breaks"] == {
        "count": 4,
        "features": {
            "amount": "1 value(s) are not numbers, e.g. 'n/a'",
            "age": "missing from the traffic",
            "tenure": "the baseline has no values to compare with",
            "colour": "not a feature of the model",
        },
    }
    assert set(report["drift"]["features"]) == {"region"}  # scored despite the breaks


def test_ragged_capture_instances_are_counted_not_truncated(tmp_path):
    lines = [_capture_line(f"e{i}", "1.0,2.0", 0.5) for i in range(5)]
    lines += [_capture_line("long", "1.0,2.0,3.0", 0.5), _capture_line("short", "1.0", 0.5)]
    frame, records = job.read_capture(str(_capture_folder(tmp_path, lines)), ["a", "b"])
    assert len(frame) == 5 and records == {"read": 7, "skipped": 0, "ragged_instances": 2}
    baseline = pd.DataFrame({"a": np.arange(50.0), "b": np.arange(50.0)})
    report = job.compute(baseline, frame, problem_type="regression", method="ks", ragged_instances=2)
    assert report["schema_breaks"]["features"] == {
        "(instances)": "2 instance(s) with more or fewer values than the model's features"
    }


def _run(tmp_path, baseline: str, current: str) -> tuple[int, dict]:
    out = tmp_path / "m.json"
    code = job.main(
        ["--baseline", baseline, "--current", current, "--problem-type", "regression"]
        + ["--drift-method", "ks", "--out", str(out)]
    )
    return code, json.loads(out.read_text()) if out.exists() else {}


def test_empty_csv_files_are_no_rows_not_a_crash(tmp_path, caplog):
    baseline, current = _frames()
    baseline.to_csv(tmp_path / "baseline.csv", index=False)
    traffic = tmp_path / "traffic"
    traffic.mkdir()
    (traffic / "hour-01.csv").write_bytes(b"")
    code, report = _run(tmp_path, str(tmp_path / "baseline.csv"), str(traffic))
    assert code == 0 and report["rows"] == 0 and report["insufficient_data"] is True
    assert report["schema_breaks"]["count"] == 0 and report["drift"]["max"] is None
    current.to_csv(traffic / "hour-02.csv", index=False)
    code, report = _run(tmp_path, str(tmp_path / "baseline.csv"), str(traffic))
    assert code == 0 and report["rows"] == 500
    empty_baseline = tmp_path / "empty.csv"
    empty_baseline.write_bytes(b"")
    assert _run(tmp_path, str(empty_baseline), str(traffic))[0] == 2
    assert f"the baseline {empty_baseline} holds no rows" in caplog.text


def test_a_shadow_capture_folder_is_left_out_of_production_scores(tmp_path):
    # SageMaker lays a deployment's capture out as <endpoint>/<variant>/yyyy/...: production and shadow.
    root = tmp_path / "capture"
    for variant, count in (("current", 12), ("candidate", 5)):
        folder = root / "fraud-default" / variant / "2026" / "11" / "30"
        folder.mkdir(parents=True)
        lines = [_capture_line(f"{variant}-{i}", "1.0,2.0", 0.5) for i in range(count)]
        (folder / "part.jsonl").write_text("\n".join(lines) + "\n")
    everything, _ = job.read_capture(str(root), ["a", "b"])
    production, records = job.read_capture(str(root), ["a", "b"], skip="fraud-default/candidate")
    assert len(everything) == 17
    assert len(production) == 12 and records["read"] == 12
    assert set(production["event_id"]) == {f"current-{i}" for i in range(12)}
    # A folder whose name merely starts like the shadow's is not left out.
    shadow_only, _ = job.read_capture(str(root / "fraud-default" / "candidate"), ["a", "b"])
    assert len(shadow_only) == 5
    assert len(job.read_capture(str(root), ["a", "b"], skip="fraud-default/cand")[0]) == 17


def test_a_shadow_publishes_a_series_of_its_own(aws):
    report = {
        "drift": {"max": 0.2, "features": {"amount": 0.2}},
        "quality": {"auc": 0.91},
        "schema_breaks": {"count": 0},
    }
    cloudwatch = boto3.client("cloudwatch")
    assert job.publish(report, "fraud", "default", cloudwatch, variant="candidate") == 5
    metrics = cloudwatch.list_metrics(Namespace="modelform", MetricName="Quality")["Metrics"]
    (auc,) = [m for m in metrics if {"Name": "metric", "Value": "auc"} in m["Dimensions"]]
    assert sorted((d["Name"], d["Value"]) for d in auc["Dimensions"]) == [
        ("deployment", "default"),
        ("metric", "auc"),
        ("model", "fraud"),
        ("variant", "candidate"),
    ]
