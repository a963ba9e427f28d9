"""Scheduled capacity on EKS: set each variant's HorizontalPodAutoscaler bounds to what the
deployment's scheduled windows ask for now.

A Kubernetes CronJob runs this every minute (`modelform` plans it for every EKS deployment with
`autoscaling.scheduled`). It is level-triggered: each run computes the bounds for the current
moment from the whole schedule and corrects the HPAs if they differ, so a missed run, a restart or
a manual edit is repaired by the next one, and the end of a window needs no second job. The HPA
then does the rest: raising `minReplicas` above the current count scales the Deployment up at its
next sync (15 s); lowering it lets the HPA scale down after its stabilisation window.

`--plan` is JSON: `{"<hpa>": {"everyday": [min, max], "windows": [{"name", "start", "end", "min",
"max"}]}}`, floors already shared by the variants' weights. The pod's service account may only
`get` and `patch` these HPAs (a Role with their resourceNames). Standard library only: it runs in
the serving image, and talks to the API server with the pod's projected token.

Exit 0 when every HPA has its bounds (changed or not); 1 when any could not be read or patched
(each reported in one line), so the CronJob's failed Jobs show it.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import urllib.error
import urllib.request
from datetime import datetime, timezone
from typing import Any, Optional

SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
HPA_PATH = "/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers/{name}"


def parse_moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment.astimezone(timezone.utc)


def bounds_at(schedule: dict[str, Any], now: datetime) -> tuple[int, int, Optional[str]]:
    """(minReplicas, maxReplicas, the active window's name or None) of one HPA at `now`. Windows
    never overlap (the spec language refuses it); a window covers [start, end)."""
    for window in schedule.get("windows", ()):
        if parse_moment(window["start"]) <= now < parse_moment(window["end"]):
            return int(window["min"]), int(window["max"]), window["name"]
    low, high = schedule["everyday"]
    return int(low), int(high), None


class Api:
    """The few Kubernetes API calls this needs, with the pod's service-account credentials."""

    def __init__(self, base: str, token_file: str, ca_file: Optional[str]):
        self.base = base.rstrip("/")
        self.token_file = token_file
        self.context = ssl.create_default_context(cafile=ca_file) if base.startswith("https") else None

    def call(self, method: str, path: str, body: Optional[dict] = None) -> dict:
        with open(self.token_file, encoding="utf-8") as handle:  # projected tokens rotate: read each time
            token = handle.read().strip()
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/merge-patch+json"
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=10, context=self.context) as response:
            return json.loads(response.read() or b"{}")


def reconcile(api: Api, namespace: str, plan: dict[str, dict], now: datetime) -> int:
    failures = 0
    for name, schedule in sorted(plan.items()):
        low, high, window = bounds_at(schedule, now)
        path = HPA_PATH.format(namespace=namespace, name=name)
        try:
            current = api.call("GET", path).get("spec", {})
            before = [current.get("minReplicas"), current.get("maxReplicas")]
            changed = before != [low, high]
            if changed:
                api.call("PATCH", path, {"spec": {"minReplicas": low, "maxReplicas": high}})
        except (urllib.error.URLError, OSError, ValueError) as error:
            failures += 1
            reason = f"HTTP {error.code}" if isinstance(error, urllib.error.HTTPError) else str(error)
            print(f"capacity_scheduler: {namespace}/{name}: {reason}", file=sys.stderr)
            continue
        record = {"hpa": name, "window": window, "bounds": [low, high], "was": before, "changed": changed}
        print(json.dumps(record, sort_keys=True))
    return 1 if failures else 0


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--plan", required=True, help="JSON: HPA name -> everyday bounds and windows")
    parser.add_argument("--now", help="ISO 8601 moment to act as if it were (default: the clock)")
    default_api = "https://{}:{}".format(
        os.environ.get("KUBERNETES_SERVICE_HOST", "kubernetes.default.svc"),
        os.environ.get("KUBERNETES_SERVICE_PORT", "443"),
    )
    parser.add_argument("--api", default=default_api)
    parser.add_argument("--token-file", default=f"{SERVICE_ACCOUNT}/token")
    parser.add_argument("--ca-file", default=f"{SERVICE_ACCOUNT}/ca.crt")
    args = parser.parse_args(argv)
    try:
        plan = json.loads(args.plan)
        now = parse_moment(args.now) if args.now else datetime.now(timezone.utc)
        for schedule in plan.values():
            bounds_at(schedule, now)  # every window readable before anything is patched
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        print(f"capacity_scheduler: bad --plan or --now: {error}", file=sys.stderr)
        return 2
    api = Api(args.api, args.token_file, args.ca_file if args.api.startswith("https") else None)
    return reconcile(api, args.namespace, plan, now)


if __name__ == "__main__":
    sys.exit(main())
