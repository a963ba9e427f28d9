"""Load on the serving container: 200 concurrent clients for 30 s, dynamic batching against
one request at a time, in the same run, on loopback.

Each configuration runs the real server (`python -m model_code.serve`) in its own process; the
clients are 4 processes x 50 threads with keep-alive connections, each sending one CSV row per
request as fast as answers come. Reported per configuration: requests answered 200 and 503,
connection errors (must be 0), other statuses (must be 0), throughput of 200s, p50/p99 latency;
and the batching/one-at-a-time throughput ratio.

    .venv/bin/python bench/serve_load.py --json bench/results/serve_load.json
"""

from __future__ import annotations

import argparse
import http.client
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


def train_model(folder: Path) -> str:
    from model_code import train
    from tests.model_code.synthetic import write_channels

    channels = write_channels(folder / "data", "binary_classification", rows=2000)
    train.train(
        train.parse_args(
            [
                "--epochs",
                "2",
                "--train",
                channels["train"],
                "--validation",
                channels["validation"],
                "--model-dir",
                str(folder / "model"),
                "--output-dir",
                str(folder / "out"),
                "--checkpoint-dir",
                str(folder / "ckpt"),
                # A network with real per-call work (4 x 1024 units, ~ms per forward on a CPU core), as
                # models worth serving are; a toy network would measure only HTTP and parsing overhead.
                "--hidden",
                "1024",
                "--layers",
                "4",
            ]
        )
    )
    return str(folder / "model")


def client_process(port: int, threads: int, seconds: float, queue_out) -> None:
    results: list[tuple[int, float]] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local = []
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                connection.request("POST", "/invocations", body=ROW, headers={"Content-Type": "text/csv"})
                response = connection.getresponse()
                response.read()
                local.append((response.status, time.perf_counter() - started))
                if response.status == 503:
                    time.sleep(0.05)  # what Retry-After asks of a polite client, shortened for the bench
            except OSError:
                with lock:
                    errors[0] += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.close()
        with lock:
            results.extend(local)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    queue_out.put((results, errors[0]))


def run(model_dir: str, label: str, server_args: list[str], clients: int, seconds: float) -> dict:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "model_code.serve",
            "--model-dir",
            model_dir,
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            *server_args,
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(300):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/ping")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        processes = 4
        results_queue: multiprocessing.Queue = multiprocessing.Queue()
        workers = [
            multiprocessing.Process(target=client_process, args=(port, clients // processes, seconds, results_queue))
            for _ in range(processes)
        ]
        for process in workers:
            process.start()
        collected = [results_queue.get() for _ in workers]
        for process in workers:
            process.join()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    results = [r for part, _ in collected for r in part]
    errors = sum(e for _, e in collected)
    ok = sorted(latency for status, latency in results if status == 200)

    def percentile(p: float) -> float:
        return round(1000 * ok[min(len(ok) - 1, int(p * len(ok)))], 1) if ok else float("nan")

    return {
        "configuration": label,
        "server_args": server_args,
        "requests": len(results),
        "ok_200": len(ok),
        "overloaded_503": sum(1 for status, _ in results if status == 503),
        "other_statuses": sum(1 for status, _ in results if status not in (200, 503)),
        "connection_errors": errors,
        "throughput_200_per_s": round(len(ok) / seconds, 1),
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        model_dir = train_model(Path(temporary))
        rows = [
            run(
                model_dir,
                "dynamic batching",
                ["--max-batch-rows", "256", "--max-delay-ms", "5"],
                args.clients,
                args.seconds,
            ),
            run(
                model_dir,
                "one request at a time",
                ["--max-batch-rows", "1", "--max-delay-ms", "0"],
                args.clients,
                args.seconds,
            ),
        ]
    ratio = round(rows[0]["throughput_200_per_s"] / max(rows[1]["throughput_200_per_s"], 1e-9), 2)
    for row in rows:
        print(
            f"{row['configuration']:<22} 200/s={row['throughput_200_per_s']:>8} p50={row['p50_ms']:>7} ms "
            f"p99={row['p99_ms']:>7} ms 503={row['overloaded_503']:>6} "
            f"other={row['other_statuses']} errors={row['connection_errors']}"
        )
    print(f"throughput ratio batching / one-at-a-time: {ratio}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "benchmark": "serve_load",
                    "machine": f"{os.cpu_count()} cores",
                    "clients": args.clients,
                    "seconds": args.seconds,
                    "results": rows,
                    "throughput_ratio": ratio,
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
