"""Train a tabular network: the SageMaker training contract, runnable unchanged on a laptop.

    python train.py --epochs 10 --lr 0.001 --batch_size 1024 --label label \\
        --problem_type binary_classification [--profile]

Inputs (SageMaker sets the environment; local defaults in brackets):
  SM_CHANNEL_TRAIN [data/train], SM_CHANNEL_VALIDATION [data/validation, optional]: folders of
  CSV (header row) or Parquet files; SM_MODEL_DIR [model]: receives model.pt and
  feature_schema.json; SM_OUTPUT_DATA_DIR [output]: receives training_metrics.json.
  --checkpoint-dir [/opt/ml/checkpoints, or ./checkpoints when that cannot be created]: a
  checkpoint after every epoch; a restarted job (managed spot interruption) resumes from it and
  loses at most the epoch in flight.

The input pipeline keeps a GPU fed (see `Batches`): the data set is encoded once into tensors;
on a GPU it lives in GPU memory when it fits, otherwise whole batches are gathered on the CPU into
pinned memory by a background thread and copied asynchronously on a side stream while the
previous batch computes; the forward pass runs under bf16 autocast. Per-sample collation, the
usual bottleneck for tabular data, never happens. `--profile` prints the fraction of each epoch
spent waiting for data (host-side time blocked on the next batch, no device synchronisation).
Log lines `epoch=N train_loss=... validation_<metric>=...` are what SageMaker metric definitions
match.

Data-parallel across GPUs and instances: launched by `torchrun` (SageMaker's `torch_distributed`
launcher, or the EKS training Job's pods), every process is one rank of a DistributedDataParallel
model. Each rank trains on its own shard of the rows (every world-th row, padded by repeating the
shard's first rows so that all ranks take the same number of steps, as DistributedSampler does)
with `--batch_size / world size` rows per step, so the global batch and the learning rate mean the
same at any scale. NCCL on GPUs (over EFA where the instance has it), gloo on CPUs. Rank 0 alone
writes checkpoints and the model; a restart restores every rank from rank 0's checkpoint (the
model, the optimiser and each rank's random state); the training loss and the validation metrics
are computed over every rank's rows. `--world-size N` (the plan's count) makes a launch with any
other number of processes fail at once, before any work.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import shutil
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import numpy as np
import torch
import torch.distributed as dist

if __package__:
    from . import metrics as quality
    from .tabular import (
        DataError,
        FeatureSchema,
        TabularNet,
        encode,
        fit_schema,
        loss_function,
        read_table,
        save_model,
        to_predictions,
    )
else:  # run as a script by SageMaker: this folder is the working directory
    import metrics as quality  # type: ignore[no-redef]
    from tabular import (
        DataError,
        FeatureSchema,
        TabularNet,
        encode,
        fit_schema,
        loss_function,
        read_table,
        save_model,
        to_predictions,
    )  # type: ignore[no-redef]

log = logging.getLogger("modelform.train")
CHECKPOINT_FILE = "checkpoint.pt"
#: Keep the data set on the GPU when it takes at most this share of the free GPU memory.
DEVICE_RESIDENT_SHARE = 0.4


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train a tabular network (SageMaker training contract).")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=1024)
    parser.add_argument("--label", default="label")
    parser.add_argument("--problem-type", "--problem_type", dest="problem_type", default="binary_classification")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--weight-decay", "--weight_decay", dest="weight_decay", type=float, default=1e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument(
        "--world-size", "--world_size", dest="world_size", type=int, help="the number of ranks the launch must have"
    )
    parser.add_argument("--checkpoint-dir", "--checkpoint_dir", dest="checkpoint_dir", default="/opt/ml/checkpoints")
    parser.add_argument("--profile", action="store_true", help="report the share of step time spent waiting for data")
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN", "data/train"))
    parser.add_argument("--validation", default=os.environ.get("SM_CHANNEL_VALIDATION", "data/validation"))
    parser.add_argument("--model-dir", "--model_dir", dest="model_dir", default=os.environ.get("SM_MODEL_DIR", "model"))
    parser.add_argument(
        "--output-dir", "--output_dir", dest="output_dir", default=os.environ.get("SM_OUTPUT_DATA_DIR", "output")
    )
    # SageMaker passes every hyperparameter as a flag; ignore the ones this script does not use.
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        log.info("ignoring unused arguments: %s", " ".join(unknown))
    return args


# --- the input pipeline ---------------------------------------------------------------------------


class Batches:
    """Mini-batches of (numeric, categorical, target) on `device`, reshuffled every epoch.

    Strategies, chosen once: `device-resident` (GPU, data fits: index on the GPU), `pinned-prefetch`
    (GPU, data too large: a thread gathers batches into pinned memory; copies overlap compute on a
    side stream), `host` (CPU training: index in place). `wait_seconds` accumulates the time the
    training loop was blocked on the next batch.
    """

    def __init__(
        self,
        tensors: tuple[torch.Tensor, ...],
        batch_size: int,
        device: torch.device,
        shuffle: bool = True,
        seed: int = 0,
        strategy: Optional[str] = None,
    ):
        self.batch_size = batch_size
        self.device = device
        self.shuffle = shuffle
        self.generator = torch.Generator().manual_seed(seed)
        self.rows = len(tensors[0])
        self.wait_seconds = 0.0
        if strategy is None:
            strategy = "host"
            if device.type == "cuda":
                size = sum(t.element_size() * t.nelement() for t in tensors)
                free, _ = torch.cuda.mem_get_info(device)
                strategy = "device-resident" if size <= DEVICE_RESIDENT_SHARE * free else "pinned-prefetch"
        self.strategy = strategy
        self.tensors = tuple(t.to(device) for t in tensors) if strategy == "device-resident" else tensors

    def __len__(self) -> int:
        return (self.rows + self.batch_size - 1) // self.batch_size

    def _order(self) -> torch.Tensor:
        if self.shuffle:
            return torch.randperm(self.rows, generator=self.generator)
        return torch.arange(self.rows)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        order = self._order()
        chunks = list(torch.split(order, self.batch_size))
        if self.strategy == "pinned-prefetch":
            yield from self._prefetched(chunks)
            return
        if self.strategy == "device-resident":
            chunks = [chunk.to(self.device, non_blocking=True) for chunk in chunks]
        for chunk in chunks:
            started = time.perf_counter()
            batch = tuple(t.index_select(0, chunk) for t in self.tensors)
            self.wait_seconds += time.perf_counter() - started
            yield batch

    def _prefetched(self, chunks: list[torch.Tensor]) -> Iterator[tuple[torch.Tensor, ...]]:
        ready: queue.Queue = queue.Queue(maxsize=3)
        stop = threading.Event()

        def gather() -> None:  # off the critical path: runs while the GPU computes
            for chunk in chunks:
                if stop.is_set():
                    return
                pinned = tuple(
                    torch.index_select(
                        t, 0, chunk, out=torch.empty((len(chunk), *t.shape[1:]), dtype=t.dtype, pin_memory=True)
                    )
                    for t in self.tensors
                )
                put(pinned)
            put(None)

        def put(item) -> None:  # gives up when the consumer has stopped (an epoch cut short)
            while not stop.is_set():
                try:
                    ready.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        worker = threading.Thread(target=gather, name="batch-gather", daemon=True)
        worker.start()
        copy_stream = torch.cuda.Stream(self.device)

        def next_on_device():
            started = time.perf_counter()
            pinned = ready.get()
            self.wait_seconds += time.perf_counter() - started
            if pinned is None:
                return None
            with torch.cuda.stream(copy_stream):
                return tuple(t.to(self.device, non_blocking=True) for t in pinned)

        try:
            upcoming = next_on_device()
            while upcoming is not None:
                torch.cuda.current_stream(self.device).wait_stream(copy_stream)
                current = upcoming
                for tensor in current:
                    tensor.record_stream(torch.cuda.current_stream(self.device))
                upcoming = next_on_device()  # the copy of batch k+1 overlaps the compute of batch k
                yield current
        finally:
            stop.set()


# --- the ranks -------------------------------------------------------------------------------------


class LaunchError(Exception):
    """The processes were launched other than the plan says: one line for the log."""


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes (one rank when not launched by torchrun)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def leader(self) -> bool:
        return self.rank == 0


def join(requested_device: str, expected_world_size: Optional[int]) -> tuple[Ranks, torch.device]:
    """Read torchrun's environment, join the process group, and pick this rank's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if expected_world_size is not None and world_size != expected_world_size:
        raise LaunchError(
            f"launched with {world_size} process(es), but this training runs on {expected_world_size} ranks "
            "(instances x GPUs per instance): check the launcher's node and process counts"
        )
    ranks = Ranks(int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world_size)
    device = choose_device(requested_device)
    if device.type == "cuda":
        device = torch.device("cuda", ranks.local_rank)
        torch.cuda.set_device(device)
    if ranks.distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return ranks, device


def shard(tensors: tuple[torch.Tensor, ...], ranks: Ranks, pad: bool = True) -> tuple[torch.Tensor, ...]:
    """This rank's rows: every world-th one from its rank; with `pad`, as many for every rank (the
    first rows of the shard repeated), so that every rank takes the same number of steps."""
    if not ranks.distributed:
        return tensors
    rows = len(tensors[0])
    indices = torch.arange(rows)
    if pad:
        total = -(-rows // ranks.world_size) * ranks.world_size
        indices = torch.cat([indices, indices[: total - rows]]) if total > rows else indices
    mine = indices[ranks.rank :: ranks.world_size]
    return tuple(t.index_select(0, mine) for t in tensors)


def gathered(value: Any, ranks: Ranks) -> list[Any]:
    """Every rank's `value`, in rank order (this one's alone without a process group)."""
    if not ranks.distributed:
        return [value]
    values: list[Any] = [None] * ranks.world_size
    dist.all_gather_object(values, value)
    return values


def from_leader(value: Any, ranks: Ranks) -> Any:
    """Rank 0's `value` on every rank."""
    if not ranks.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


# --- checkpoints ----------------------------------------------------------------------------------


def checkpoint_folder(requested: str) -> str:
    try:
        os.makedirs(requested, exist_ok=True)
        return requested
    except OSError:
        fallback = os.path.abspath("checkpoints")
        log.warning("cannot create %s; checkpoints go to %s", requested, fallback)
        os.makedirs(fallback, exist_ok=True)
        return fallback


def save_checkpoint(folder: str, state: dict) -> None:
    path = os.path.join(folder, CHECKPOINT_FILE)
    torch.save(state, path + ".tmp")
    os.replace(path + ".tmp", path)  # atomic: an interruption mid-write keeps the previous one


def load_checkpoint(folder: str, schema: FeatureSchema) -> Optional[dict]:
    path = os.path.join(folder, CHECKPOINT_FILE)
    if not os.path.exists(path):
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("schema") != schema.to_json():
        log.warning("checkpoint in %s was made for other data or settings; starting afresh", folder)
        return None
    return state


# --- training -------------------------------------------------------------------------------------


def choose_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def evaluate_split(
    model: TabularNet, tensors, schema: FeatureSchema, device: torch.device, batch_size: int, ranks: Ranks = Ranks()
) -> dict[str, float]:
    """Quality on `tensors`: each rank scores its own rows (no padding), and the metrics are
    computed over all of them (an AUC is not an average of AUCs)."""
    numeric, categorical, target = shard(tensors, ranks, pad=False)
    model.eval()
    outputs = []
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        for start in range(0, len(numeric), batch_size * 4):
            end = start + batch_size * 4
            outputs.append(model(numeric[start:end].to(device), categorical[start:end].to(device)).float().cpu())
    model.train()
    raw = torch.cat(outputs) if outputs else torch.empty(0)
    every = gathered((raw, target), ranks)
    raw, target = torch.cat([r for r, _ in every]), torch.cat([t for _, t in every])
    predictions = to_predictions(raw, schema)
    truth = target.numpy()
    if schema.problem_type == "regression":
        truth = truth * schema.target_std + schema.target_mean
    return quality.quality_metrics(schema.problem_type, truth, predictions)


def train_epoch(
    model: TabularNet,
    batches,
    optimizer,
    criterion,
    device: torch.device,
    bf16: Optional[bool] = None,
    max_steps: Optional[int] = None,
) -> tuple[float, float, int]:
    """One pass over `batches` (anything iterable with a `wait_seconds` counter that yields
    batches on `device`): (mean loss, seconds, rows). bf16 autocast on GPUs unless told otherwise.
    Synchronises once, at the end, to read the loss."""
    use_bf16 = device.type == "cuda" if bf16 is None else bf16
    batches.wait_seconds = 0.0
    started = time.perf_counter()
    loss_sum = torch.zeros((), device=device)
    rows = 0
    distributed = dist.is_initialized()
    for step, (numeric, categorical, target) in enumerate(batches):
        if max_steps is not None and step >= max_steps:
            break
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            output = model(numeric, categorical)
        loss = criterion(output.float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * len(target)
        rows += len(target)
    if distributed:  # the loss and the rows of every rank
        totals = torch.stack([loss_sum, torch.tensor(float(rows), device=device)])
        dist.all_reduce(totals)
        loss_sum, rows = totals[0], int(totals[1].item())
    mean_loss = float(loss_sum) / max(rows, 1)  # the synchronisation
    return mean_loss, time.perf_counter() - started, rows


def train(args: argparse.Namespace) -> dict:
    ranks, device = join(args.device, args.world_size)
    try:
        return _train(args, ranks, device)
    finally:
        if ranks.distributed and dist.is_initialized():
            dist.destroy_process_group()


def _train(args: argparse.Namespace, ranks: Ranks, device: torch.device) -> dict:
    if args.batch_size % ranks.world_size:
        raise LaunchError(
            f"batch_size {args.batch_size} is not divisible by the {ranks.world_size} ranks: each rank takes "
            "an equal part of every batch"
        )
    torch.manual_seed(args.seed + ranks.rank)  # dropout differs per rank; the model starts the same (DDP)
    np.random.seed(args.seed)
    frame = read_table(args.train)
    schema = fit_schema(frame, args.label, args.problem_type)
    if len(set(json.dumps(s, sort_keys=True) for s in gathered(schema.to_json(), ranks))) != 1:
        raise DataError("the ranks read different training data (their feature schemas differ)")
    train_tensors = shard(encode(frame, schema), ranks)
    validation_tensors = encode(read_table(args.validation), schema) if os.path.exists(args.validation) else None

    network = TabularNet(schema, args.hidden, args.layers, args.dropout).to(device)
    model = network
    if ranks.distributed:
        model = torch.nn.parallel.DistributedDataParallel(
            network, device_ids=[device.index] if device.type == "cuda" else None
        )
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    criterion = loss_function(schema)
    folder = checkpoint_folder(args.checkpoint_dir) if ranks.leader else None
    history: list[dict] = []
    start_epoch = 0
    resumed = from_leader(load_checkpoint(folder, schema) if ranks.leader else None, ranks)
    if resumed is not None:
        network.load_state_dict(resumed["model"])
        optimizer.load_state_dict(resumed["optimizer"])
        start_epoch, history = resumed["epoch"], resumed["history"]
        states = resumed.get("torch_rng_by_rank") or [resumed["torch_rng"]]
        if len(states) == ranks.world_size:
            torch.set_rng_state(states[ranks.rank])
        else:  # another world size: a fresh, distinct random stream per rank
            torch.manual_seed(args.seed + ranks.rank + 7919 * start_epoch)
        if ranks.leader:
            log.info("resuming from the checkpoint after epoch %d", start_epoch)

    batches = Batches(
        train_tensors, args.batch_size // ranks.world_size, device, seed=args.seed + start_epoch + 100_003 * ranks.rank
    )
    if ranks.leader:
        log.info(
            "training on %s x %d rank(s): %d rows per rank, %d batches per epoch, input pipeline %s",
            device.type,
            ranks.world_size,
            batches.rows,
            len(batches),
            batches.strategy,
        )
    for epoch in range(start_epoch + 1, args.epochs + 1):
        train_loss, seconds, rows = train_epoch(model, batches, optimizer, criterion, device)
        waits = gathered(batches.wait_seconds, ranks)
        record = {
            "epoch": epoch,
            "train_loss": train_loss,
            "seconds": seconds,
            "samples_per_second": rows / seconds,
            "data_wait_fraction": max(waits) / seconds,
        }
        if validation_tensors is not None:
            record.update(
                {
                    f"validation_{k}": v
                    for k, v in evaluate_split(
                        network, validation_tensors, schema, device, args.batch_size, ranks
                    ).items()
                }
            )
        history.append(record)
        if ranks.leader:
            log.info(
                " ".join(
                    f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in record.items()
                    if args.profile or k not in ("seconds", "samples_per_second", "data_wait_fraction")
                )
            )
            if args.profile:
                log.info(
                    "profile: epoch %d waited for data %.2f%% of %.2f s (%.0f samples/s, pipeline %s)",
                    epoch,
                    100 * record["data_wait_fraction"],
                    seconds,
                    record["samples_per_second"],
                    batches.strategy,
                )
        rng_states = gathered(torch.get_rng_state(), ranks)
        if ranks.leader:
            save_checkpoint(
                folder,
                {
                    "epoch": epoch,
                    "model": network.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "schema": schema.to_json(),
                    "history": history,
                    "torch_rng": rng_states[0],
                    "torch_rng_by_rank": rng_states,
                    "world_size": ranks.world_size,
                },
            )

    summary = {
        "device": device.type,
        "world_size": ranks.world_size,
        "input_pipeline": batches.strategy,
        "resumed_from_epoch": start_epoch,
        "resumed_from_epoch_by_rank": gathered(start_epoch, ranks),
        "history": history,
    }
    if ranks.leader:
        save_model(network.cpu(), schema, args.model_dir)
        bundle_serving_code(args.model_dir)
        os.makedirs(args.output_dir, exist_ok=True)
        with open(os.path.join(args.output_dir, "training_metrics.json"), "w", encoding="utf-8") as handle:
            json.dump(summary, handle, indent=2)
    if ranks.distributed:
        dist.barrier()  # nobody leaves before the model is written
    return summary


SERVING_FILES = ("inference.py", "tabular.py")


def bundle_serving_code(model_dir: str) -> None:
    """Put the serving code inside the model (model.tar.gz: code/inference.py): endpoints run
    network-isolated, so the container cannot fetch code from anywhere else."""
    here = os.path.dirname(os.path.abspath(__file__))
    target = os.path.join(model_dir, "code")
    os.makedirs(target, exist_ok=True)
    for name in SERVING_FILES:
        shutil.copyfile(os.path.join(here, name), os.path.join(target, name))


def main(argv: Optional[list[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    try:
        train(parse_args(argv))
    except DataError as error:
        log.error("training data problem: %s", error)
        return 2
    except LaunchError as error:
        log.error("training launch problem: %s", error)
        return 2
    return 0


def run() -> None:
    """The script's entry point: `main`, then out of the process without the interpreter's finalization.

    Once `main` returns, every output is written and closed. What is left is the interpreter's
    teardown, and in a distributed run it races with the process group's worker threads: a thread
    that is still releasing a finished collective (a barrier holding the tensors of the gathers
    before it) needs the GIL, finds the interpreter finalizing, and the C++ runtime aborts the
    process (SIGABRT, "terminate called without an active exception"). torchrun then reports the
    whole training as failed although it succeeded. Leaving with `os._exit` skips that teardown."""
    try:
        code = main()
    except SystemExit as leaving:  # argparse: --help (0), a bad argument (2, already explained)
        if leaving.code is None or isinstance(leaving.code, int):
            code = leaving.code or 0
        else:  # sys.exit("message"): the message, and 1, as Python does
            print(leaving.code, file=sys.stderr)
            code = 1
    except BaseException:  # an unexpected failure: its traceback, as Python would print it
        traceback.print_exc()
        code = 1
    leave(code)


def leave(code: int) -> None:
    """Flush the log and both streams, then end the process with `code`, skipping the interpreter's
    teardown (see `run`): for any process that has joined a process group and has finished."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
