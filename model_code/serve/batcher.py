"""Dynamic batching on the event loop: requests queue up while the model runs, and the next batch
takes everything waiting (up to `max_batch_rows`), so a busy model sees one forward pass per batch
instead of one per request.

- The model runs on one worker thread (`run_in_executor`): torch releases the GIL, so the event
  loop keeps reading and parsing requests meanwhile.
- The queue is bounded (`queue_size` requests): a full queue refuses at once (`Overloaded`, a 503
  with Retry-After) instead of growing until the pod is killed for memory.
- The worker cannot die of a bad batch: a batch that raises fails exactly its own requests, and
  the loop goes on. If the worker stops anyway (cancelled, or a batch has run longer than
  `stall_seconds`), `healthy` turns False and `/ping` answers 503, so Kubernetes takes the pod out of
  rotation and restarts it instead of leaving requests to time out.
- A request that gave up waiting (deadline, client gone) is skipped when its batch is assembled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

import numpy as np

from .codec import Rows

log = logging.getLogger("modelform.serve")
Predict = Callable[[np.ndarray, np.ndarray], np.ndarray]


class Overloaded(Exception):
    """The queue is full: answer 503 with Retry-After."""


class Batcher:
    def __init__(
        self,
        predict: Predict,
        *,
        max_batch_rows: int = 256,
        max_delay: float = 0.002,
        queue_size: int = 1024,
        stall_seconds: float = 30.0,
        on_batch: Optional[Callable[[int, int], None]] = None,
    ):
        self.predict = predict
        self.max_batch_rows = max_batch_rows
        self.max_delay = max_delay
        self.stall_seconds = stall_seconds
        self.on_batch = on_batch  # (rows, requests) of every batch: metrics
        self.queue: asyncio.Queue[tuple[Rows, asyncio.Future]] = asyncio.Queue(maxsize=queue_size)
        self.batches = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._task: Optional[asyncio.Task] = None
        self._busy_since: Optional[float] = None
        self._held: Optional[tuple[Rows, asyncio.Future]] = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    @property
    def healthy(self) -> bool:
        if self._task is None or self._task.done():
            return False
        busy = self._busy_since
        return busy is None or time.monotonic() - busy < self.stall_seconds

    def submit(self, rows: Rows) -> asyncio.Future:
        """The request's future (its predictions), or `Overloaded` when the queue is full."""
        future = asyncio.get_running_loop().create_future()
        try:
            self.queue.put_nowait((rows, future))
        except asyncio.QueueFull:
            raise Overloaded from None
        return future

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            if not batch:
                continue
            try:
                await self._predict(batch)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the loop must survive any batch
                log.error("batch of %d requests failed: %s: %s", len(batch), type(error).__name__, error)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)

    async def _collect(self) -> list[tuple[Rows, asyncio.Future]]:
        first = self._held or await self.queue.get()
        self._held = None
        if self.max_delay > 0 and self.queue.qsize() * len(first[0]) < self.max_batch_rows:
            await asyncio.sleep(self.max_delay)  # light load: give concurrent requests a moment to join
        batch, rows = [], 0
        item: Optional[tuple[Rows, asyncio.Future]] = first
        while item is not None:
            if not item[1].done():  # a request that gave up waiting is skipped
                if batch and rows + len(item[0]) > self.max_batch_rows:
                    self._held = item  # does not fit: it opens the next batch
                    break
                batch.append(item)
                rows += len(item[0])
            item = self.queue.get_nowait() if not self.queue.empty() else None
        return batch

    async def _predict(self, batch: list[tuple[Rows, asyncio.Future]]) -> None:
        numeric = np.concatenate([rows.numeric for rows, _ in batch]) if len(batch) > 1 else batch[0][0].numeric
        categorical = (
            np.concatenate([rows.categorical for rows, _ in batch]) if len(batch) > 1 else batch[0][0].categorical
        )
        self._busy_since = time.monotonic()
        try:
            predictions = await asyncio.get_running_loop().run_in_executor(
                self._executor, self.predict, numeric, categorical
            )
        finally:
            self._busy_since = None
        self.batches += 1
        if self.on_batch is not None:
            self.on_batch(len(numeric), len(batch))
        start = 0
        for rows, future in batch:
            end = start + len(rows)
            if not future.done():
                future.set_result(predictions[start:end])
            start = end
