"""The EKS capacity scheduler against a Kubernetes API stand-in on loopback: it sets each HPA's
bounds to what the schedule asks for at that moment, only when they differ, with the pod's token."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from model_code import capacity_scheduler as scheduler

PLAN = {
    "m-d-a": {
        "everyday": [4, 10],
        "windows": [
            {"name": "peak", "start": "2026-12-01T00:00:00Z", "end": "2026-12-02T00:00:00Z", "min": 19, "max": 60}
        ],
    },
    "m-d-b": {"everyday": [1, 10], "windows": []},
}


def at(text: str) -> datetime:
    return scheduler.parse_moment(text)


@pytest.mark.parametrize(
    "moment, bounds",
    [
        ("2026-11-30T23:59:59Z", (4, 10, None)),
        ("2026-12-01T00:00:00Z", (19, 60, "peak")),  # a window covers its start ...
        ("2026-12-01T23:59:59Z", (19, 60, "peak")),
        ("2026-12-02T00:00:00Z", (4, 10, None)),  # ... and not its end
        ("2026-12-01T01:00:00+01:00", (19, 60, "peak")),  # any time zone
    ],
)
def test_bounds_at_a_moment(moment, bounds):
    assert scheduler.bounds_at(PLAN["m-d-a"], at(moment)) == bounds


class FakeApi:
    """HPAs by name; records every request with its method, path, token and body."""

    def __init__(self, hpas: dict[str, tuple[int, int]]):
        self.hpas = {name: {"minReplicas": low, "maxReplicas": high} for name, (low, high) in hpas.items()}
        self.requests: list[tuple[str, str, str, object]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _hpa(self):
                name = self.path.rsplit("/", 1)[-1]
                return name, api.hpas.get(name)

            def do_GET(self):
                name, spec = self._hpa()
                api.requests.append(("GET", self.path, self.headers["Authorization"], None))
                self._answer(200, {"spec": spec}) if spec else self._answer(404, {"reason": "NotFound"})

            def do_PATCH(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                api.requests.append(("PATCH", self.path, self.headers["Content-Type"], body))
                name, spec = self._hpa()
                spec.update(body["spec"])
                self._answer(200, {"spec": spec})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def api():
    fake = FakeApi({"m-d-a": (4, 10), "m-d-b": (1, 10)})
    yield fake
    fake.server.shutdown()


def run(api: FakeApi, tmp_path, now: str, plan=PLAN) -> int:
    token = tmp_path / "token"
    token.write_text("projected-token\n")
    return scheduler.main(
        [
            "--namespace",
            "models",
            "--plan",
            json.dumps(plan),
            "--now",
            now,
            "--api",
            api.url,
            "--token-file",
            str(token),
        ]
    )


def test_a_window_raises_the_bounds_and_its_end_restores_them(api, tmp_path, capsys):
    assert run(api, tmp_path, "2026-12-01T00:00:30Z") == 0
    assert api.hpas["m-d-a"] == {"minReplicas": 19, "maxReplicas": 60}
    assert api.hpas["m-d-b"] == {"minReplicas": 1, "maxReplicas": 10}  # no window: untouched
    patches = [r for r in api.requests if r[0] == "PATCH"]
    assert patches == [
        (
            "PATCH",
            "/apis/autoscaling/v2/namespaces/models/horizontalpodautoscalers/m-d-a",
            "application/merge-patch+json",
            {"spec": {"minReplicas": 19, "maxReplicas": 60}},
        )
    ]
    assert all(r[2] == "Bearer projected-token" for r in api.requests if r[0] == "GET")
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert logged[0] == {"bounds": [19, 60], "changed": True, "hpa": "m-d-a", "was": [4, 10], "window": "peak"}
    # The next minute changes nothing; after the window, the everyday bounds come back.
    api.requests.clear()
    assert run(api, tmp_path, "2026-12-01T00:01:30Z") == 0
    assert [r[0] for r in api.requests] == ["GET", "GET"]
    assert run(api, tmp_path, "2026-12-02T00:00:30Z") == 0
    assert api.hpas["m-d-a"] == {"minReplicas": 4, "maxReplicas": 10}


def test_a_missing_hpa_is_one_line_and_exit_1_the_others_still_set(api, tmp_path, capsys):
    plan = {**PLAN, "m-d-gone": {"everyday": [1, 2], "windows": []}}
    assert run(api, tmp_path, "2026-12-01T00:00:30Z", plan) == 1
    assert capsys.readouterr().err == "capacity_scheduler: models/m-d-gone: HTTP 404\n"
    assert api.hpas["m-d-a"] == {"minReplicas": 19, "maxReplicas": 60}


@pytest.mark.parametrize(
    "plan, now",
    [
        ("not json", "2026-12-01T00:00:00Z"),
        (json.dumps({"h": {"windows": []}}), "2026-12-01T00:00:00Z"),  # no everyday bounds
        (json.dumps(PLAN), "2026-12-01T00:00:00"),  # no time zone
    ],
)
def test_a_bad_plan_patches_nothing(api, tmp_path, capsys, plan, now):
    token = tmp_path / "token"
    token.write_text("t")
    argv = ["--namespace", "models", "--plan", plan, "--now", now, "--api", api.url, "--token-file", str(token)]
    assert scheduler.main(argv) == 2
    assert capsys.readouterr().err.startswith("capacity_scheduler: bad --plan or --now: ")
    assert api.requests == []
