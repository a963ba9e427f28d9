"""`modelform simulate`: the scaling policies replayed second by second, checked against a
timeline computed by hand, and the recommended pre-scaling checked by the simulator itself."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from modelform.simulation import SimulationError, recommend, simulate, spike, trace
from modelform.spec import load_spec_texts
from tests.conftest import HEADER, PLATFORM, REPO

SAGEMAKER = """\
deployments:
  - name: default
    target: sagemaker
    instance_type: ml.m5.large
    variants: [{name: current, model_version: 1}]
    max_rps_per_instance: 20
    autoscaling:
      min_instances: 2
      max_instances: 20
      target_invocations_per_instance: 600
      scale_in_cooldown: 5m
      scale_out_cooldown: 1m
"""
T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)


def model(deployments: str = SAGEMAKER):
    specs = load_spec_texts([("m.yaml", HEADER + deployments), ("platform.yaml", PLATFORM)], root=str(REPO))
    assert specs.errors == [], specs.errors
    return specs.model("fraud", "prod")


def ten_x() -> object:
    # 20 rps every day (2 instances at their target of 600 a minute), 200 rps for 30 minutes.
    return spike("10x@2026-12-01T00:00:00Z/30m", baseline_rps=20)


def test_a_10x_step_spike_against_a_timeline_computed_by_hand():
    """Minute by minute, from the spike's start (k = 0):
    - capacity 2 x 20 = 40 rps against 200: the queue (60 s of capacity, 2,400 requests) fills in
      15 s, then 160 requests a second are dropped: 7,200 in minute 0, 9,600 in each later one;
    - the metric (12,000 / 2 = 6,000 a minute per instance) is above 600 three minutes running: at
      the end of minute 2, target tracking asks for ceil(2 x 6,000 / 600) = 20 (the ceiling);
    - they serve 300 s later, from minute 8: the queue drains in 12 s, nothing more is dropped."""
    result = simulate(model(), "default", ten_x(), startup_s=300)
    (variant,) = result.variants
    rows = {row["minute"] - 30: row for row in variant.minutes}
    expected = {
        -1: (1200, 1200, 0, 2, 2),
        0: (12000, 2400, 7200, 2, 2),
        1: (12000, 2400, 9600, 2, 2),
        2: (12000, 2400, 9600, 20, 2),
        3: (12000, 2400, 9600, 20, 2),
        7: (12000, 2400, 9600, 20, 20),
        8: (12000, 14400, 0, 20, 20),
        9: (12000, 12000, 0, 20, 20),
    }
    for k, (demand, served, dropped, desired, in_service) in expected.items():
        row = rows[k]
        assert (row["demand"], row["served"], row["dropped"], row["desired"], row["in_service"]) == (
            demand,
            served,
            dropped,
            desired,
            in_service,
        ), k
    assert result.dropped == 7200 + 7 * 9600
    # After the spike (minute 30) the metric is 1,200 / 20 = 60 < 540: 15 minutes later, scale in.
    assert [k for k in range(30, 50) if rows[k]["desired"] == 2] == list(range(44, 50))
    # Instance-minutes: 30 before at 2, minutes 0-2 at 2, 3-44 at 20, 45-89 at 2: 996 = 16.6 h.
    assert result.instance_hours == 16.6
    assert result.summary()["peak_queue"] == 2400 and result.summary()["peak_wait_s"] == 60.0


def test_the_recommended_pre_scaling_drops_nothing_where_reactive_scaling_drops():
    advice = recommend(model(), "default", ten_x(), startup_s=300)
    assert advice.reactive.dropped == 74400
    assert advice.with_windows.dropped == 0
    # One window: 10 minutes ahead (start-up 5 min + 1, rounded up to 5), 20 instances = 200 rps
    # at the target of 10 rps each; AWS's target for 20 rps instances: 20 x 60 x 0.5 = 600.
    (window,) = advice.windows
    assert (window.start, window.end, window.floor, window.ceiling) == (
        T0 - timedelta(minutes=10),
        T0 + timedelta(minutes=30),
        20,
        20,
    )
    assert (advice.target, advice.target_unit) == (600, "invocations per instance per minute")


def test_variants_share_traffic_and_floors_by_weight():
    two = SAGEMAKER.replace(
        "variants: [{name: current, model_version: 1}]",
        "variants: [{name: current, model_version: 1, weight: 75}, {name: candidate, model_version: 2, weight: 25}]",
    )
    result = simulate(model(two), "default", ten_x(), startup_s=300)
    current, candidate = result.variants
    assert (current.policy.floor, candidate.policy.floor) == (2, 1)  # ceil(2 x 0.75), ceil(2 x 0.25)
    assert current.minutes[0]["demand"] == 900 and candidate.minutes[0]["demand"] == 300


EKS = """\
deployments:
  - name: default
    target: eks
    cluster: serving
    variants: [{name: current, model_version: 1}]
    max_rps_per_instance: 10
    autoscaling:
      min_replicas: 2
      max_replicas: 40
      target_cpu_percent: 50
      scheduled:
        - {name: peak, start: "2026-12-01T00:00:00Z", end: "2026-12-01T00:30:00Z", min_replicas: 40, max_replicas: 40}
"""


def test_eks_scheduled_windows_are_applied_on_the_schedulers_minute_and_the_hpa_follows():
    traffic = spike("10x@2026-12-01T00:00:00Z/30m", baseline_rps=10)
    with_window = simulate(model(EKS), "default", traffic)
    (variant,) = with_window.variants
    rows = {row["minute"] - 30: row for row in variant.minutes}
    # The scheduler raises the floor at 00:00:00; pods serve a minute later: one minute of drops.
    assert rows[0]["desired"] == 40 and rows[0]["in_service"] == 40 and rows[-1]["desired"] == 2
    reactive = simulate(model(EKS), "default", traffic, windows=())
    assert with_window.dropped < reactive.dropped
    # Without the window, the HPA reacts within 15 s but pods need 60 s, and nodes 120 s more.
    rows = {row["minute"] - 30: row for row in reactive.variants[0].minutes}
    assert rows[0]["desired"] > 2 and rows[0]["in_service"] == 2


def test_a_deployment_without_a_measured_capacity_is_refused_with_the_way_to_measure_it():
    text = SAGEMAKER.replace("    max_rps_per_instance: 20\n", "")
    with pytest.raises(SimulationError, match="measure one instance with bench/serve_load.py"):
        simulate(model(text), "default", ten_x())
    with pytest.raises(SimulationError, match="has no deployment 'nope' \\(deployments: default\\)"):
        simulate(model(), "nope", ten_x())


@pytest.mark.parametrize(
    "text, message",
    [
        ("10@2026-12-01T00:00:00Z", "write <factor>x@<start>/<duration>"),
        ("tenx@2026-12-01T00:00:00Z/1h", "could not convert"),
        ("10x@yesterday/1h", "yesterday"),
        ("10x@2026-12-01T00:00:00Z/an-hour", "is not a duration"),
        ("0x@2026-12-01T00:00:00Z/1h", "the factor must be a positive number"),
    ],
)
def test_a_bad_spike_is_one_line(text, message):
    with pytest.raises(SimulationError, match=message):
        spike(text, 10)


def test_a_trace_holds_each_rate_until_the_next_row(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("timestamp,rps\n2026-12-01T00:00:00Z,5\n2026-12-01T00:00:10Z,7.5\n")
    traffic = trace(str(path))
    assert traffic.start == T0 and traffic.rates == (5.0,) * 10 + (7.5,) * 60


@pytest.mark.parametrize(
    "content, message",
    [
        ("2026-12-01T00:00:00Z,5,1\n", "t.csv:1: expected timestamp,requests_per_second"),
        ("2026-12-01T00:00:00Z,-1\n", "t.csv:1: the rate must be a number >= 0"),
        ("2026-12-01T00:01:00Z,1\n2026-12-01T00:00:00Z,1\n", "t.csv:2: timestamps must increase"),
        ("2026-12-01T00:00:00,1\n", "t.csv:1: .*time zone"),
        ("timestamp,rps\n", "t.csv: no rows"),
    ],
)
def test_a_bad_trace_names_the_line(tmp_path, content, message):
    path = tmp_path / "t.csv"
    path.write_text(content)
    with pytest.raises(SimulationError, match=message):
        trace(str(path))


def test_the_command_prints_the_three_runs_and_the_advice(tmp_path, capsys, monkeypatch):
    import json

    from modelform.cli import main

    monkeypatch.chdir(REPO)
    argv = [
        "simulate",
        "fraud-detector",
        "--deployment",
        "default",
        "--specs",
        str(REPO / "tests" / "fixtures" / "specs"),
    ]
    argv += ["--root", str(REPO), "--spike", "10x@2026-12-10T00:00:00Z/1h", "--max-rps-per-instance", "20"]
    assert main(argv + ["--startup", "5m", "--png", str(tmp_path / "s.png")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "fraud-detector / default (prod): 10 rps, 10x from 2026-12-10T00:00:00Z for 1h"
    assert [line.split()[0] for line in table[3:6]] == ["as", "scaling", "recommended"]
    assert table[-1].startswith("recommended window peak-1: 2026-12-09T23:50:00Z to 2026-12-10T01:00:00Z")
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(argv + ["--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["runs"]["recommended"]["dropped"] == 0 < document["runs"]["reactive"]["dropped"]
    assert document["recommendation"]["target"] == 600


@pytest.mark.parametrize(
    "extra, message",
    [
        (["nope", "--deployment", "default", "--spike", "2x@2026-12-10T00:00:00Z/1h"], "no model 'nope' (models: "),
        (["fraud-detector", "--deployment", "default", "--spike", "2x"], "--spike '2x': write <factor>x@"),
        (["fraud-detector", "--deployment", "eu", "--spike", "2x@2026-12-10T00:00:00Z/1h"], "has no deployment 'eu'"),
    ],
)
def test_the_command_refuses_in_one_line(capsys, monkeypatch, extra, message):
    from modelform.cli import main

    monkeypatch.chdir(REPO)
    argv = ["simulate", *extra, "--specs", str(REPO / "tests" / "fixtures" / "specs"), "--root", str(REPO)]
    assert main(argv + ["--max-rps-per-instance", "20"]) in (1, 2)
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_eks_windows_are_recommended_for_the_target_the_hpa_holds():
    traffic = spike("10x@2026-12-01T00:00:00Z/30m", baseline_rps=10)
    advice = recommend(model(EKS), "default", traffic)
    (window,) = advice.windows
    # Pods start in 60 s and nodes in 120 s more: 5 minutes ahead (start-up + 1 minute, rounded up to
    # 5); 100 rps at 50 % of 10 rps per pod needs 20 pods.
    assert (window.start, window.end, window.floor) == (T0 - timedelta(minutes=5), T0 + timedelta(minutes=30), 20)
    assert advice.with_windows.dropped == 0 < advice.reactive.dropped
