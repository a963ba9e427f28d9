"""Load on the serving container, against a baseline measured in the same run, on loopback.

Four phases, each with its own fresh server process:
1. baseline: `bench/baseline_server.py` (standard library, pandas per request) answering one request
   at a time, 200 concurrent keep-alive clients for `--seconds`;
2. the serving container (`python -m model_code.serve`, uvicorn + dynamic batching), same load;
3. SIGTERM in the middle of that load: every request the clients wrote must be answered; a request
   written and then reset or cut off counts as `reset` (must be 0). Connection attempts after the
   drain began are refused (the pod is leaving; in a cluster they go to another pod): `refused`;
4. memory: four concurrent 50 MB uploads; each must get 413, and the server's peak RSS must stay
   under 1 GiB.

The clients are asyncio connections (2 processes x 100) that write one CSV row per request as fast
as answers come, parsing just the status line and Content-Length, so they cost little CPU next to
the server. Reported per load phase: 200s and 503s, other statuses, connection errors, throughput
of 200s, p50/p99 latency; the throughput ratio against the baseline; pass/fail per target.

    .venv/bin/python bench/serve_load.py --json bench/results/serve_load.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ROW = b"510.0,0.3,-0.2,1.1,north\n"
REQUEST = (
    b"POST /invocations HTTP/1.1\r\nHost: bench\r\nContent-Type: text/csv\r\nAccept: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(ROW), ROW)
)
TARGETS = {"throughput_ratio": 10.0, "p99_ms": 250.0, "upload_rss_mib": 1024.0}


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def train_model(folder: Path) -> str:
    from model_code import train
    from tests.model_code.synthetic import write_channels

    channels = write_channels(folder / "data", "binary_classification", rows=2000)
    arguments = ["--epochs", "2", "--train", channels["train"], "--validation", channels["validation"]]
    arguments += ["--model-dir", str(folder / "model"), "--output-dir", str(folder / "out")]
    # A network with real per-call work (4 x 1024 units, ~ms per forward on a CPU core), as models
    # worth serving are; a toy network would measure only HTTP and parsing overhead.
    arguments += ["--checkpoint-dir", str(folder / "ckpt"), "--hidden", "1024", "--layers", "4"]
    train.train(train.parse_args(arguments))
    return str(folder / "model")


# --- the clients ----------------------------------------------------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionResetError("closed before the answer")
    status = int(status_line.split(b" ", 2)[1])
    length, close = 0, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
    await reader.readexactly(length)
    return status, close


async def _client(port: int, stop_at: float, stats: dict, stop_on_refusal: bool) -> None:
    reader = writer = None
    while time.perf_counter() < stop_at:
        if writer is None:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                stats["refused"] += 1
                if stop_on_refusal:
                    return
                await asyncio.sleep(0.05)
                continue
        started = time.perf_counter()
        writer.write(REQUEST)
        try:
            status, close = await _read_response(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            stats["reset"] += 1  # written and never answered
            writer.close()
            writer = None
            continue
        stats["latencies"].append(time.perf_counter() - started)
        stats["statuses"][status] = stats["statuses"].get(status, 0) + 1
        if status == 503:
            await asyncio.sleep(0.05)  # what Retry-After asks of a polite client, shortened for the bench
        if close:
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


def client_process(port: int, connections: int, seconds: float, stop_on_refusal: bool, out) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    stats: dict = {"latencies": [], "statuses": {}, "reset": 0, "refused": 0}
    stop_at = time.perf_counter() + seconds

    async def everyone() -> None:
        await asyncio.gather(*(_client(port, stop_at, stats, stop_on_refusal) for _ in range(connections)))

    asyncio.run(everyone())
    out.put(stats)


# --- servers ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(command: list[str], port: int) -> subprocess.Popen:
    server = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    for _ in range(600):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as probe:
                probe.sendall(b"GET /ping HTTP/1.1\r\nHost: bench\r\n\r\n")
                if b" 200 " in probe.recv(200):
                    return server
        except OSError:
            pass
        time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"the server did not become ready: {' '.join(command)}")


def serving_command(model_dir: str, port: int) -> list[str]:
    return [sys.executable, "-m", "model_code.serve", "--model-dir", model_dir, "--port", str(port)]


def baseline_command(model_dir: str, port: int) -> list[str]:
    command = [sys.executable, str(REPO / "bench" / "baseline_server.py"), "--model-dir", model_dir]
    return command + ["--port", str(port), "--host", "127.0.0.1", "--max-batch-rows", "1", "--max-delay-ms", "0"]


def load(port: int, clients: int, seconds: float, *, stop_on_refusal: bool = False, during=None) -> dict:
    processes = 2
    out: multiprocessing.Queue = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=client_process, args=(port, clients // processes, seconds, stop_on_refusal, out))
        for _ in range(processes)
    ]
    for process in workers:
        process.start()
    if during is not None:
        during()
    parts = [out.get() for _ in workers]
    for process in workers:
        process.join()
    latencies = sorted(latency for part in parts for latency in part["latencies"])
    statuses: dict[int, int] = {}
    for part in parts:
        for status, count in part["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count

    def percentile(p: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1) if latencies else 0.0

    ok = statuses.get(200, 0)
    return {
        "requests_answered": len(latencies),
        "ok_200": ok,
        "overloaded_503": statuses.get(503, 0),
        "other_statuses": {str(s): c for s, c in statuses.items() if s not in (200, 503)},
        "reset": sum(part["reset"] for part in parts),
        "refused": sum(part["refused"] for part in parts),
        "throughput_200_per_s": round(ok / seconds, 1),
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
    }


def phase_load(label: str, command: list[str], port: int, clients: int, seconds: float) -> dict:
    server = start_server(command, port)
    try:
        result = load(port, clients, seconds)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    return {"configuration": label, **result}


def phase_sigterm(model_dir: str, clients: int, seconds: float) -> dict:
    port = free_port()
    server = start_server(serving_command(model_dir, port), port)
    exit_code: list[int] = []

    def terminate_midway() -> None:
        def later() -> None:
            time.sleep(seconds / 2)
            server.send_signal(signal.SIGTERM)
            exit_code.append(server.wait(timeout=60))

        threading.Thread(target=later, daemon=True).start()

    result = load(port, clients, seconds, stop_on_refusal=True, during=terminate_midway)
    while not exit_code:
        time.sleep(0.1)
    return {"configuration": "SIGTERM mid-load", "server_exit_code": exit_code[0], **result}


def phase_uploads(model_dir: str, uploads: int = 4, megabytes: int = 50) -> dict:
    port = free_port()
    server = start_server(serving_command(model_dir, port), port)
    body = ROW * (megabytes * 1024 * 1024 // len(ROW))
    statuses: list[int] = []
    errors: list[str] = []

    def upload() -> None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
                connection.sendall(
                    b"POST /invocations HTTP/1.1\r\nHost: bench\r\nContent-Type: text/csv\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n"
                )
                # Chunked, so the server cannot refuse from Content-Length: it must stop while reading.
                for start in range(0, len(body), 1 << 20):
                    chunk = body[start : start + (1 << 20)]
                    connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                connection.sendall(b"0\r\n\r\n")
                statuses.append(int(connection.recv(100).split(b" ", 2)[1]))
        except OSError as error:
            # The server answers 413 and closes while the client is still sending: read the answer.
            errors.append(type(error).__name__)

    threads = [threading.Thread(target=upload) for _ in range(uploads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    peak_kib = _peak_rss_kib(server.pid)
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)
    return {
        "uploads": uploads,
        "megabytes_each": megabytes,
        "statuses": statuses,
        "client_errors": errors,
        "peak_rss_mib": round(peak_kib / 1024, 1),
    }


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        progress("1/5 training the benchmark model (4 x 1024 MLP)")
        model_dir = train_model(Path(temporary))
        progress(f"2/5 baseline: {args.clients} clients for {args.seconds:g} s")
        port = free_port()
        baseline = phase_load(
            "baseline (stdlib, one at a time)", baseline_command(model_dir, port), port, args.clients, args.seconds
        )
        progress(f"3/5 serving container: {args.clients} clients for {args.seconds:g} s")
        port = free_port()
        serving = phase_load(
            "serving container (uvicorn, batching)", serving_command(model_dir, port), port, args.clients, args.seconds
        )
        progress("4/5 SIGTERM in the middle of the load")
        sigterm = phase_sigterm(model_dir, args.clients, args.seconds)
        progress("5/5 four concurrent 50 MB uploads")
        uploads = phase_uploads(model_dir)
    ratio = round(serving["throughput_200_per_s"] / max(baseline["throughput_200_per_s"], 1e-9), 2)
    checks = {
        "throughput >= 10x baseline": ratio >= TARGETS["throughput_ratio"],
        "p99 <= 250 ms": serving["p99_ms"] <= TARGETS["p99_ms"],
        "0 connection errors under load": serving["reset"] == 0 and serving["refused"] == 0,
        "only 200 and 503": not serving["other_statuses"],
        "SIGTERM: 0 reset requests": sigterm["reset"] == 0 and not sigterm["other_statuses"],
        "SIGTERM: exit 0": sigterm["server_exit_code"] == 0,
        "uploads refused with 413": uploads["statuses"] == [413] * uploads["uploads"],
        "RSS < 1 GiB during uploads": uploads["peak_rss_mib"] < TARGETS["upload_rss_mib"],
    }
    for row in (baseline, serving, sigterm):
        print(
            f"{row['configuration']:<40} 200/s={row['throughput_200_per_s']:>8} p50={row['p50_ms']:>7} ms "
            f"p99={row['p99_ms']:>7} ms 503={row['overloaded_503']:>6} other={row['other_statuses']} "
            f"reset={row['reset']} refused={row['refused']}"
        )
    print(f"uploads: statuses {uploads['statuses']}, peak RSS {uploads['peak_rss_mib']} MiB")
    print(f"throughput ratio serving / baseline: {ratio}")
    for name, passed in checks.items():
        print(f"  {'PASS' if passed else 'FAIL'}  {name}")
    if args.json:
        document = {
            "benchmark": "serve_load",
            "machine": f"{os.cpu_count()} cores",
            "clients": args.clients,
            "seconds": args.seconds,
            "results": [baseline, serving, sigterm],
            "uploads": uploads,
            "throughput_ratio": ratio,
            "checks": checks,
        }
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
