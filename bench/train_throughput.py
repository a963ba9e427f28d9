"""Training throughput: the tuned input pipeline of model_code/train.py against a naive loop.

Same network (TabularNet: 64 numeric features + 1 categorical -> 512 -> 512 -> 1, binary),
same batch size, same number of optimiser steps, measured in the same run on the same device:

- naive: `DataLoader(TensorDataset)` with per-sample collation, no workers, no pinned memory,
  synchronous host-to-device copies, fp32;
- tuned: `train.Batches` (device-resident data on a GPU when it fits; pinned-memory prefetch
  with asynchronous copies otherwise; whole-batch indexing on the CPU) and bf16 autocast on a GPU;
- on a GPU also `pinned-prefetch` forced, the path for data sets larger than GPU memory.

Reports samples/s, the data-wait fraction (host time blocked on the next batch / step time) and
the tuned/naive ratio. Target on a GPU: data wait < 5 % of step time.

With `--processes 1 2 ...`, data-parallel scaling instead: the same training (the tuned pipeline,
DistributedDataParallel; gloo on CPUs, NCCL on GPUs, one GPU per process) with N processes, each
on its shard with global batch / N rows per step, against 1 process in the same run; every process
gets the same share of the machine (one thread on a CPU). Efficiency = samples/s with N / (N x
samples/s with 1).

    .venv/bin/python bench/train_throughput.py --json bench/results/train_throughput_cpu.json
    .venv/bin/python bench/train_throughput.py --processes 1 2 --json bench/results/train_scaling_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from model_code import train  # noqa: E402
from model_code.tabular import TabularNet, encode, fit_schema, loss_function  # noqa: E402


class NaiveBatches:
    """The loop most tabular code starts with: per-sample collation, synchronous copies."""

    def __init__(self, tensors, batch_size: int, device: torch.device):
        self.loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(*tensors),
            batch_size=batch_size,
            shuffle=True,
            num_workers=0,
            pin_memory=False,
        )
        self.device = device
        self.wait_seconds = 0.0

    def __iter__(self):
        iterator = iter(self.loader)
        while True:
            started = time.perf_counter()
            try:
                batch = next(iterator)
            except StopIteration:
                return
            batch = tuple(t.to(self.device) for t in batch)
            self.wait_seconds += time.perf_counter() - started
            yield batch


def make_data(rows: int, features: int, seed: int = 0):
    generator = np.random.default_rng(seed)
    x = generator.normal(size=(rows, features)).astype(np.float32)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(features)])
    frame["segment"] = generator.choice([f"s{i}" for i in range(20)], size=rows)
    frame["label"] = (x[:, :8].sum(axis=1) + generator.normal(size=rows) > 0).astype(int)
    schema = fit_schema(frame.head(10_000), "label", "binary_classification")
    return schema, encode(frame, schema)


def measure(name: str, batches, schema, device, steps: int, warmup: int, bf16: bool) -> dict:
    torch.manual_seed(0)
    model = TabularNet(schema, hidden=512, layers=2, dropout=0.0).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    criterion = loss_function(schema)
    train.train_epoch(model, batches, optimizer, criterion, device, bf16=bf16, max_steps=warmup)
    _, seconds, rows = train.train_epoch(model, batches, optimizer, criterion, device, bf16=bf16, max_steps=steps)
    return {
        "pipeline": name,
        "strategy": getattr(batches, "strategy", "dataloader"),
        "bf16": bf16,
        "samples_per_second": round(rows / seconds),
        "data_wait_fraction": round(batches.wait_seconds / seconds, 4),
        "seconds": round(seconds, 3),
        "rows": rows,
    }


def _rank(rank: int, world: int, port: int, args: argparse.Namespace, results) -> None:
    """One process of a scaling run: DDP training on its shard; rank 0 reports the global rate."""
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    device = torch.device("cuda", rank) if args.device_type == "cuda" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(1)  # each process gets the same share of the machine
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world)
    schema, tensors = make_data(args.rows, args.features)
    ranks = train.Ranks(rank, rank, world)
    batches = train.Batches(train.shard(tensors, ranks), args.batch_size // world, device)
    torch.manual_seed(0)
    network = TabularNet(schema, hidden=512, layers=2, dropout=0.0).to(device)
    model = torch.nn.parallel.DistributedDataParallel(network, device_ids=[rank] if device.type == "cuda" else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    criterion = loss_function(schema)
    bf16 = device.type == "cuda"
    train.train_epoch(model, batches, optimizer, criterion, device, bf16=bf16, max_steps=3)
    dist.barrier()
    _, seconds, rows = train.train_epoch(model, batches, optimizer, criterion, device, bf16=bf16, max_steps=args.steps)
    waits = [None] * world
    dist.all_gather_object(waits, batches.wait_seconds / seconds)
    if rank == 0:
        results.put(
            {
                "processes": world,
                "samples_per_second": round(rows / seconds),
                "data_wait_fraction": round(max(waits), 4),
                "seconds": round(seconds, 3),
                "rows": rows,
            }
        )
    dist.destroy_process_group()
    train.leave(0)  # as train.py's ranks do: Python's teardown can abort a rank that has finished


def scaling(args: argparse.Namespace, counts: list[int]) -> list[dict]:
    import socket

    import torch.multiprocessing as mp

    context = mp.get_context("spawn")
    rows = []
    for count in counts:
        with socket.socket() as probe:  # a free port for this run's rendezvous
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        results = context.SimpleQueue()
        mp.start_processes(_rank, args=(count, port, args, results), nprocs=count, start_method="spawn")
        rows.append(results.get())
        print(f"  {count} process(es): {rows[-1]['samples_per_second']:,} samples/s", flush=True)
    single = rows[0]["samples_per_second"]
    for row in rows:
        row["efficiency"] = round(row["samples_per_second"] / (row["processes"] * single), 3)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="default: 4M on a GPU, 400k on a CPU")
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=None, help="measured steps (default: 300 GPU, 40 CPU)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--processes", type=int, nargs="+", help="data-parallel scaling: these process counts")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    device = train.choose_device(args.device)
    gpu = device.type == "cuda"
    rows = args.rows or (4_000_000 if gpu else 400_000)
    steps = args.steps or (300 if gpu else 40)
    if args.processes:
        args.rows, args.steps, args.device_type = rows, steps, device.type
        counts = sorted(set([1, *args.processes]))
        if gpu and counts[-1] > torch.cuda.device_count():
            raise SystemExit(f"{counts[-1]} processes need as many GPUs; this machine has {torch.cuda.device_count()}")
        print(f"data-parallel scaling on {device.type}: {rows:,} rows, global batch {args.batch_size}, {steps} steps")
        results = scaling(args, counts)
        print(f"{'processes':>9} {'samples/s':>12} {'efficiency':>10} {'data wait':>10}")
        for row in results:
            print(
                f"{row['processes']:>9} {row['samples_per_second']:>12,} {100 * row['efficiency']:>9.1f}% "
                f"{100 * row['data_wait_fraction']:>9.1f}%"
            )
        if args.json:
            record = {
                "benchmark": "train_scaling",
                "device": torch.cuda.get_device_name(device) if gpu else f"CPU ({os.cpu_count()} cores), 1 thread each",
                "backend": "nccl" if gpu else "gloo",
                "torch": torch.__version__,
                "rows": rows,
                "global_batch_size": args.batch_size,
                "steps": steps,
                "results": results,
            }
            Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
        return
    schema, tensors = make_data(rows, args.features)
    results = [measure("naive", NaiveBatches(tensors, args.batch_size, device), schema, device, steps, 3, bf16=False)]
    results.append(
        measure("tuned", train.Batches(tensors, args.batch_size, device), schema, device, steps, 3, bf16=gpu)
    )
    if gpu:
        forced = train.Batches(tensors, args.batch_size, device, strategy="pinned-prefetch")
        results.append(measure("tuned-pinned-prefetch", forced, schema, device, steps, 3, bf16=True))
    naive = results[0]["samples_per_second"]
    print(f"{'pipeline':<24} {'strategy':<16} {'samples/s':>12} {'data wait':>10} {'x naive':>8}")
    for row in results:
        row["ratio_to_naive"] = round(row["samples_per_second"] / naive, 2)
        print(
            f"{row['pipeline']:<24} {row['strategy']:<16} {row['samples_per_second']:>12,} "
            f"{100 * row['data_wait_fraction']:>9.1f}% {row['ratio_to_naive']:>8.2f}"
        )
    if args.json:
        record = {
            "benchmark": "train_throughput",
            "device": torch.cuda.get_device_name(device) if gpu else f"CPU ({os.cpu_count()} cores)",
            "torch": torch.__version__,
            "python": platform.python_version(),
            "rows": rows,
            "features": args.features,
            "batch_size": args.batch_size,
            "steps": steps,
            "results": results,
        }
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
