"""`modelform simulate`: replay traffic through a deployment's scaling policy, as the platform runs it.

Before a known peak, the question is whether the deployment holds it: how many requests are
served, how many are dropped while capacity catches up, how long requests queue, what the
instance-hours cost, and which target and pre-scaling windows would hold it. The simulation steps
one second at a time; each variant gets its share of the traffic by weight and scales on its own,
as each variant is its own scalable target (SageMaker) or HPA (EKS).

SageMaker: Application Auto Scaling target tracking on `SageMakerVariantInvocationsPerInstance`
- the metric is one datapoint per minute (`METRIC_PERIOD_S`): invocations in the minute divided by
  the instances in service (CloudWatch's 1-minute SageMaker endpoint metrics);
- scale out when `SCALE_OUT_DATAPOINTS` (3) consecutive datapoints are above the target, to
  ceil(in service x metric / target) (target tracking's proportional step); a scale-out within the
  scale-out cooldown of the last one only adds what goes beyond it (AWS: "the capacity added by the
  scale-out activity that initiated the cooldown is calculated as part of the desired capacity for
  the next scale out");
- scale in when `SCALE_IN_DATAPOINTS` (15) consecutive datapoints are below `SCALE_IN_THRESHOLD`
  (90 %) of the target, not within the scale-in cooldown of the last scale-in;
  (both from the CloudWatch alarms target tracking creates: "AlarmHigh" 3 of 3 minutes, "AlarmLow"
  15 of 15 minutes at 90 % of the target, Application Auto Scaling User Guide, "Target tracking
  scaling policies");
- a launched instance serves after `startup` seconds (default `SAGEMAKER_STARTUP_S`, 6 minutes: AWS
  documents "several minutes" to provision an endpoint instance; measure yours from the endpoint's
  event history and pass `--startup`); instances are billed from launch;
- a scheduled action sets the floor and ceiling at its exact time (scheduled actions run at the
  minute they name).

EKS: the HorizontalPodAutoscaler (autoscaling/v2, CPU utilisation; Kubernetes documentation,
"Horizontal Pod Autoscaling")
- every `HPA_SYNC_S` (15 s, the controller's default sync period) it computes
  ceil(ready pods x utilisation / target), ignoring changes within `HPA_TOLERANCE` (10 %);
  utilisation is the load over the pods' capacity (`max_rps_per_instance` is a pod at 100 % of its
  CPU request, as `bench/serve_load.py` measures it);
- scale-up is immediate but at most max(100 %, 4 pods) per period (the default `scaleUp` policies);
  scale-down takes the highest recommendation of the last `HPA_SCALE_DOWN_STABILISATION_S` (300 s);
- a new pod serves after `POD_STARTUP_S` (60 s: pull from the node's cache, the model fetch, the
  readiness probe) and, beyond the largest number of pods the cluster has held so far, after
  `NODE_PROVISIONING_S` more (120 s for a new node to join; nodes are assumed kept afterwards);
- scheduled windows are applied by the capacity scheduler, at the first whole minute at or after
  the window's edge (`CAPACITY_TICK_S`, its CronJob runs every minute).

Serving: an instance serves `max_rps_per_instance` requests per second; requests beyond that wait
in a queue holding at most `timeout` seconds of the in-service capacity (SageMaker's InvokeEndpoint
times out after 60 s; the EKS serving container answers 503 after 20 s): what does not fit is
dropped (throttled). The metric counts every request sent, dropped or not (as SageMaker's
Invocations and a saturated pod's CPU do).

Recommendations: the target AWS's load-testing guidance gives, `max_rps_per_instance x 60 x
SAFETY_FACTOR` (0.5) invocations per minute (SageMaker Developer Guide, "Load testing your auto
scaling configuration"), or `TARGET_CPU_PERCENT_RECOMMENDED` on EKS; and for every stretch of the
traffic the floor cannot absorb, a scheduled window that starts one start-up time (plus a minute,
rounded up to 5 minutes) before it with enough capacity for its peak at the target utilisation.
The simulation is run again with those windows: the recommendation is checked, not assumed.
"""

from __future__ import annotations

import csv
import math
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Optional, Sequence

from .capacity import weight_share
from .spec import EksDeployment, ModelSpec, SageMakerDeployment
from .spec.parsers import format_timestamp, parse_duration, parse_timestamp
from .spec.types import ScheduledCapacity

METRIC_PERIOD_S = 60
SCALE_OUT_DATAPOINTS = 3
SCALE_IN_DATAPOINTS = 15
SCALE_IN_THRESHOLD = 0.9
SAGEMAKER_STARTUP_S = 360
SAGEMAKER_TIMEOUT_S = 60
HPA_SYNC_S = 15
HPA_TOLERANCE = 0.1
HPA_SCALE_DOWN_STABILISATION_S = 300
HPA_SCALE_UP_PODS = 4
POD_STARTUP_S = 60
NODE_PROVISIONING_S = 120
EKS_TIMEOUT_S = 20
CAPACITY_TICK_S = 60
SAFETY_FACTOR = 0.5
TARGET_CPU_PERCENT_RECOMMENDED = 50
#: Before a spike starts and after it ends, how much is simulated (to see the floor, and the scale-in).
LEAD_IN_S = 1800
TAIL_S = 3600


class SimulationError(Exception):
    """The simulation cannot run as asked: one line for the user."""


# --- traffic -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Traffic:
    """Requests per second, second by second, from `start` (UTC)."""

    start: datetime
    rates: tuple[float, ...]
    description: str

    @property
    def seconds(self) -> int:
        return len(self.rates)


def spike(text: str, baseline_rps: float) -> Traffic:
    """`10x@2026-11-27T00:00:00Z/2h`: `baseline_rps`, then 10 times that for 2 hours, then back."""
    shape = re.fullmatch(r"(?P<factor>[^@]+?)[xX]@(?P<start>.+)/(?P<duration>[^/]+)", text.strip())
    if shape is None:
        raise SimulationError(f"--spike {text!r}: write <factor>x@<start>/<duration>, e.g. 10x@2026-11-27T00:00:00Z/2h")
    try:
        factor = float(shape["factor"])
        start = parse_timestamp(shape["start"])
        duration = parse_duration(shape["duration"])
    except ValueError as error:
        raise SimulationError(f"--spike {text!r}: {error}") from None
    if factor <= 0 or not math.isfinite(factor):
        raise SimulationError(f"--spike {text!r}: the factor must be a positive number")
    rates = [baseline_rps] * LEAD_IN_S + [baseline_rps * factor] * duration + [baseline_rps] * TAIL_S
    return Traffic(
        start - timedelta(seconds=LEAD_IN_S),
        tuple(rates),
        f"{baseline_rps:g} rps, {factor:g}x from {format_timestamp(start)} for {shape['duration']}",
    )


def trace(path: str) -> Traffic:
    """A CSV of `timestamp,requests_per_second` rows (a header line allowed), each rate holding
    until the next row's time; the last row holds for one minute."""
    rows: list[tuple[datetime, float]] = []
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            for number, row in enumerate(csv.reader(handle), start=1):
                if not row or (number == 1 and not row[0][:1].isdigit()):
                    continue
                if len(row) != 2:
                    raise SimulationError(f"{path}:{number}: expected timestamp,requests_per_second")
                try:
                    moment, rate = parse_timestamp(row[0].strip()), float(row[1])
                except ValueError as error:
                    raise SimulationError(f"{path}:{number}: {error}") from None
                if not math.isfinite(rate) or rate < 0:
                    raise SimulationError(f"{path}:{number}: the rate must be a number >= 0")
                if rows and moment <= rows[-1][0]:
                    raise SimulationError(f"{path}:{number}: timestamps must increase")
                rows.append((moment, rate))
    except OSError as error:
        raise SimulationError(f"cannot read {path}: {error.strerror}") from None
    if not rows:
        raise SimulationError(f"{path}: no rows")
    rates: list[float] = []
    for (moment, rate), following in zip(rows, [*rows[1:], (rows[-1][0] + timedelta(minutes=1), 0.0)]):
        rates += [rate] * int((following[0] - moment).total_seconds())
    return Traffic(rows[0][0], tuple(rates), f"trace {path}")


# --- policy ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """How one variant scales, in the units of its target (instances or pods)."""

    kind: str  # "sagemaker" | "eks"
    floor: int
    ceiling: int
    target: float  # invocations per instance per minute, or CPU percent
    windows: tuple[tuple[int, int, int, int], ...]  # (start s, end s, floor, ceiling), simulation time
    startup_s: int
    timeout_s: int
    max_rps: float
    scale_in_cooldown_s: int = 0
    scale_out_cooldown_s: int = 0
    node_provisioning_s: int = 0


@dataclass
class VariantResult:
    name: str
    weight: float
    policy: Policy
    minutes: list[dict] = field(default_factory=list)  # per minute: demand, served, dropped, ...
    served: float = 0.0
    dropped: float = 0.0
    peak_queue: float = 0.0
    peak_wait_s: float = 0.0
    instance_seconds: float = 0.0


@dataclass
class Result:
    model: str
    deployment: str
    traffic: Traffic
    variants: list[VariantResult]
    windows: tuple[ScheduledCapacity, ...]

    @property
    def served(self) -> int:
        return round(sum(v.served for v in self.variants))

    @property
    def dropped(self) -> int:
        return round(sum(v.dropped for v in self.variants))

    @property
    def instance_hours(self) -> float:
        return round(sum(v.instance_seconds for v in self.variants) / 3600, 2)

    def summary(self) -> dict:
        return {
            "served": self.served,
            "dropped": self.dropped,
            "peak_queue": round(max(v.peak_queue for v in self.variants)),
            "peak_wait_s": round(max(v.peak_wait_s for v in self.variants), 1),
            "instance_hours": self.instance_hours,
            "windows": [_window_json(w) for w in self.windows],
        }


def _window_json(window: ScheduledCapacity) -> dict:
    return {
        "name": window.name,
        "start": format_timestamp(window.start),
        "end": format_timestamp(window.end),
        "floor": window.floor,
        "ceiling": window.ceiling,
    }


def policies(
    deployment, traffic: Traffic, max_rps: float, startup_s: Optional[int], windows: Sequence[ScheduledCapacity]
) -> list[tuple[str, float, Policy]]:
    """(variant, weight, policy) of every variant of `deployment`, windows in simulation seconds."""

    def at(moment: datetime) -> int:
        return int((moment - traffic.start).total_seconds())

    result = []
    for variant in deployment.variants:
        share = lambda floor, variant=variant: weight_share(floor, variant, deployment.variants)  # noqa: E731
        placed = tuple(sorted((at(w.start), at(w.end), share(w.floor), w.ceiling) for w in windows))
        if isinstance(deployment, SageMakerDeployment):
            scaling = deployment.autoscaling
            if scaling is None:  # a fixed fleet: instance_count per variant, never scaled
                count = deployment.instance_count
                policy = Policy("fixed", count, count, 1.0, (), 0, SAGEMAKER_TIMEOUT_S, max_rps)
            else:
                policy = Policy(
                    "sagemaker",
                    share(scaling.min_instances),
                    scaling.max_instances,
                    float(scaling.target_invocations_per_instance),
                    placed,
                    SAGEMAKER_STARTUP_S if startup_s is None else startup_s,
                    SAGEMAKER_TIMEOUT_S,
                    max_rps,
                    scaling.scale_in_cooldown_seconds,
                    scaling.scale_out_cooldown_seconds,
                )
        else:
            scaling = deployment.autoscaling
            policy = Policy(
                "eks",
                share(scaling.min_replicas),
                scaling.max_replicas,
                float(scaling.target_cpu_percent),
                placed,
                POD_STARTUP_S if startup_s is None else startup_s,
                EKS_TIMEOUT_S,
                max_rps,
                node_provisioning_s=NODE_PROVISIONING_S,
            )
        result.append((variant.name, variant.weight, policy))
    return result


# --- the simulation -----------------------------------------------------------------------------


class _Fleet:
    """Instances (or pods) of one variant: when each serves from, in launch order."""

    def __init__(self, count: int):
        self.ready_at: list[float] = [-math.inf] * count
        self.most = count  # the most ever held (EKS: nodes provisioned for them)

    @property
    def desired(self) -> int:
        return len(self.ready_at)

    def ready(self, now: float) -> int:
        return sum(1 for moment in self.ready_at if moment <= now)

    def scale_to(self, count: int, now: float, startup: float, node_delay: float = 0.0) -> None:
        while len(self.ready_at) < count:
            delay = startup + (node_delay if len(self.ready_at) >= self.most else 0.0)
            self.ready_at.append(now + delay)
            self.most = max(self.most, len(self.ready_at))
        if len(self.ready_at) > count:  # the newest (least ready) go first
            self.ready_at.sort()
            del self.ready_at[count:]


def simulate_variant(name: str, weight: float, share: float, policy: Policy, traffic: Traffic) -> VariantResult:
    result = VariantResult(name, weight, policy)
    fleet = _Fleet(policy.floor)
    floor, ceiling = policy.floor, policy.ceiling
    queue: deque[list[float]] = deque()  # [arrival second, requests]
    queued = 0.0
    minute = {"arrived": 0.0, "served": 0.0, "dropped": 0.0}
    high = low = 0
    last_in = -math.inf
    hpa_history: deque[tuple[int, int]] = deque()  # (time, recommendation) for scale-down stabilisation
    hpa_arrived = 0.0
    windows = list(policy.windows)
    for second in range(traffic.seconds):
        # 1. Scheduled capacity: SageMaker at the window's second, the EKS scheduler on its tick.
        if windows and policy.kind != "fixed":
            if policy.kind == "sagemaker" or second % CAPACITY_TICK_S == 0:
                active = [w for w in windows if w[0] <= second < w[1]]
                floor, ceiling = (active[0][2], active[0][3]) if active else (policy.floor, policy.ceiling)
                if fleet.desired < floor or fleet.desired > ceiling:
                    fleet.scale_to(min(max(fleet.desired, floor), ceiling), second, policy.startup_s)
        # 2. Serve: arrivals join the queue, in-service capacity serves it first come first served,
        #    and what cannot be served within the timeout is dropped.
        arrived = traffic.rates[second] * share
        ready = fleet.ready(second)
        capacity = ready * policy.max_rps
        queue.append([second, arrived])
        queued += arrived
        served = min(queued, capacity)
        left = served
        while left > 1e-9 and queue:
            take = min(left, queue[0][1])
            queue[0][1] -= take
            left -= take
            if queue[0][1] <= 1e-9:
                queue.popleft()
        queued -= served
        bound = capacity * policy.timeout_s
        dropped = max(0.0, queued - bound)
        if dropped:
            queued = bound
            _trim_front(queue, dropped)
        result.served += served
        result.dropped += dropped
        result.peak_queue = max(result.peak_queue, queued)
        if queued > 1e-9:
            result.peak_wait_s = max(result.peak_wait_s, queued / capacity if capacity else math.inf)
        result.instance_seconds += fleet.desired
        minute["arrived"] += arrived
        minute["served"] += served
        minute["dropped"] += dropped
        hpa_arrived += arrived
        # 3. Scaling decisions, at the end of each period.
        now = second + 1
        if policy.kind == "sagemaker" and now % METRIC_PERIOD_S == 0:
            metric = minute["arrived"] / max(ready, 1)
            high = high + 1 if metric > policy.target else 0
            low = low + 1 if metric < SCALE_IN_THRESHOLD * policy.target else 0
            # An alarm in ALARM invokes the policy again every period; the policy only ever adds
            # what goes beyond the capacity already asked for (in a cooldown, or not).
            if high >= SCALE_OUT_DATAPOINTS:
                wanted = min(ceiling, max(floor, math.ceil(max(ready, 1) * metric / policy.target)))
                if wanted > fleet.desired:
                    fleet.scale_to(wanted, now, policy.startup_s)
            elif low >= SCALE_IN_DATAPOINTS and now - last_in >= policy.scale_in_cooldown_s:
                wanted = max(floor, math.ceil(max(ready, 1) * metric / policy.target))
                if wanted < fleet.desired:
                    fleet.scale_to(wanted, now, policy.startup_s)
                    last_in = now
        if policy.kind == "eks" and now % HPA_SYNC_S == 0:
            utilisation = 100.0 * (hpa_arrived / HPA_SYNC_S) / (max(ready, 1) * policy.max_rps)
            hpa_arrived = 0.0
            current = fleet.desired
            ratio = utilisation / policy.target
            recommended = current if abs(ratio - 1) <= HPA_TOLERANCE else math.ceil(max(ready, 1) * ratio)
            recommended = min(ceiling, max(floor, recommended))
            hpa_history.append((now, recommended))
            while hpa_history and hpa_history[0][0] <= now - HPA_SCALE_DOWN_STABILISATION_S:
                hpa_history.popleft()
            if recommended > current:
                wanted = min(recommended, max(2 * current, current + HPA_SCALE_UP_PODS))
                fleet.scale_to(wanted, now, policy.startup_s, policy.node_provisioning_s)
            elif recommended < current:
                wanted = max(r for _, r in hpa_history)
                if wanted < current:
                    fleet.scale_to(wanted, now, policy.startup_s)
        if now % METRIC_PERIOD_S == 0:
            result.minutes.append(
                {
                    "minute": now // METRIC_PERIOD_S - 1,
                    "demand": round(minute["arrived"], 3),
                    "served": round(minute["served"], 3),
                    "dropped": round(minute["dropped"], 3),
                    "desired": fleet.desired,
                    "in_service": fleet.ready(now),
                    "floor": floor,
                    "ceiling": ceiling,
                }
            )
            minute = {"arrived": 0.0, "served": 0.0, "dropped": 0.0}
    return result


def _trim_front(queue: deque, amount: float) -> None:
    """Drop `amount` requests from the front (the oldest: they are past their timeout first)."""
    while amount > 1e-9 and queue:
        take = min(amount, queue[0][1])
        queue[0][1] -= take
        amount -= take
        if queue[0][1] <= 1e-9:
            queue.popleft()


def simulate(
    model: ModelSpec,
    deployment_name: str,
    traffic: Traffic,
    *,
    max_rps: Optional[float] = None,
    startup_s: Optional[int] = None,
    windows: Optional[Sequence[ScheduledCapacity]] = None,
) -> Result:
    """Replay `traffic` through one deployment; `windows` replaces the spec's scheduled windows."""
    deployment = find_deployment(model, deployment_name)
    rate = max_rps if max_rps is not None else deployment.max_rps_per_instance
    if rate is None:
        raise SimulationError(
            f"deployment '{deployment.name}' has no max_rps_per_instance; measure one instance with "
            "bench/serve_load.py and set it in the spec, or pass --max-rps-per-instance"
        )
    scheduled = tuple(windows) if windows is not None else spec_windows(deployment)
    total = sum(v.weight for v in deployment.variants) or 1.0
    results = [
        simulate_variant(name, weight, (weight / total) if total else 0.0, policy, traffic)
        for name, weight, policy in policies(deployment, traffic, rate, startup_s, scheduled)
    ]
    return Result(model.name, deployment.name, traffic, results, scheduled)


def spec_windows(deployment) -> tuple[ScheduledCapacity, ...]:
    return deployment.autoscaling.scheduled if deployment.autoscaling is not None else ()


def find_deployment(model: ModelSpec, name: str):
    """The deployment to simulate: a real-time one (SageMaker instances or EKS pods)."""
    for deployment in model.deployments:
        if deployment.name != name:
            continue
        if isinstance(deployment, SageMakerDeployment) and not deployment.real_time:
            kind = "serverless" if deployment.serverless is not None else "asynchronous"
            raise SimulationError(
                f"deployment '{name}' is {kind}: the simulator replays real-time fleets (requests that wait for an "
                "instance or are dropped), which this deployment does not have"
            )
        return deployment
    known = ", ".join(d.name for d in model.deployments)
    raise SimulationError(f"model '{model.name}' has no deployment '{name}' (deployments: {known})")


def baseline_rps(model: ModelSpec, deployment_name: str, max_rps: Optional[float] = None) -> float:
    """Everyday traffic when none is given: what the deployment's floor serves at its target."""
    deployment = find_deployment(model, deployment_name)
    if isinstance(deployment, EksDeployment):
        rate = max_rps if max_rps is not None else deployment.max_rps_per_instance
        if rate is None:
            raise SimulationError(
                f"deployment '{deployment.name}' has no max_rps_per_instance; pass --baseline-rps or "
                "--max-rps-per-instance"
            )
        scaling = deployment.autoscaling
        return scaling.min_replicas * rate * scaling.target_cpu_percent / 100
    if deployment.autoscaling is None:
        raise SimulationError(f"deployment '{deployment.name}' does not autoscale; pass --baseline-rps")
    scaling = deployment.autoscaling
    return scaling.min_instances * scaling.target_invocations_per_instance / 60


# --- recommendations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Recommendation:
    target: float
    target_unit: str
    windows: tuple[ScheduledCapacity, ...]
    reactive: Result
    with_windows: Result


def recommend(
    model: ModelSpec,
    deployment_name: str,
    traffic: Traffic,
    *,
    max_rps: Optional[float] = None,
    startup_s: Optional[int] = None,
) -> Recommendation:
    """The target AWS's guidance gives, and pre-scaling windows for every stretch of traffic the
    deployment's everyday capacity cannot absorb; both runs (without windows, with them) included."""
    deployment = find_deployment(model, deployment_name)
    reactive = simulate(model, deployment_name, traffic, max_rps=max_rps, startup_s=startup_s, windows=())
    rate = reactive.variants[0].policy.max_rps
    startup = reactive.variants[0].policy.startup_s + reactive.variants[0].policy.node_provisioning_s
    if isinstance(deployment, EksDeployment):
        target, unit = float(TARGET_CPU_PERCENT_RECOMMENDED), "percent CPU"
        # Windows are sized for the target the deployment runs at, as its HPA will hold it.
        per_instance = rate * deployment.autoscaling.target_cpu_percent / 100
        floor, ceiling = deployment.autoscaling.min_replicas, deployment.autoscaling.max_replicas
    else:
        target, unit = rate * 60 * SAFETY_FACTOR, "invocations per instance per minute"
        scaling = deployment.autoscaling
        per_instance = target / 60 if scaling is None else min(rate, scaling.target_invocations_per_instance / 60)
        floor = scaling.min_instances if scaling else deployment.instance_count
        ceiling = scaling.max_instances if scaling else deployment.instance_count
    everyday = floor * per_instance
    lead = math.ceil((startup + 60) / 300) * 300
    windows = []
    for number, (start, end, peak) in enumerate(_stretches_above(traffic.rates, everyday), start=1):
        needed = math.ceil(peak / per_instance - 1e-9)
        begin = traffic.start + timedelta(seconds=max(0, start - lead))
        windows.append(
            ScheduledCapacity(
                f"peak-{number}",
                begin.replace(second=0, microsecond=0),
                traffic.start + timedelta(seconds=end),
                needed,
                max(ceiling, needed),
            )
        )
    checked = simulate(model, deployment_name, traffic, max_rps=max_rps, startup_s=startup_s, windows=tuple(windows))
    return Recommendation(target, unit, tuple(windows), reactive, checked)


def _stretches_above(rates: Sequence[float], level: float) -> list[tuple[int, int, float]]:
    """(start, end, peak) of every stretch of seconds whose rate is above `level`."""
    stretches, start, peak = [], None, 0.0
    for second, rate in enumerate([*rates, 0.0]):
        if rate > level + 1e-9:
            if start is None:
                start, peak = second, rate
            peak = max(peak, rate)
        elif start is not None:
            stretches.append((start, second, peak))
            start = None
    return stretches


__all__ = [
    "Recommendation",
    "Result",
    "SimulationError",
    "Traffic",
    "recommend",
    "simulate",
    "spike",
    "trace",
]
