"""The work queue every reconciler drains: keys, deduplicated, never one key twice at once.

Event handlers only `add(key)`; workers `get()` a key, sync it, then `done(key)`. A key
added while it is being processed is queued again once it is done, so no change is lost
and no two workers ever reconcile the same object concurrently (client-go's semantics).
Failed syncs come back with per-key exponential back-off; a queue made with `conflict_retry`
treats a lost write race (409 Conflict) as ordinary and looks again after that many seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable, Hashable

from ..client import Conflict
from .metrics import QueueMetrics

log = logging.getLogger(__name__)


class WorkQueue:
    def __init__(self, name: str, base_delay: float = 0.005, max_delay: float = 30.0,
                 conflict_retry: float | None = None) -> None:
        self.name = name
        self._conflict_retry = conflict_retry
        self._queue: asyncio.Queue[Hashable] = asyncio.Queue()
        self._dirty: set[Hashable] = set()  # queued, not yet handed out
        self._processing: set[Hashable] = set()
        self._failures: dict[Hashable, int] = {}
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}
        self._base, self._max = base_delay, max_delay
        self._closed = False
        self._added_at: dict[Hashable, float] = {}  # queued keys: since when (for the metrics)
        self.metrics = QueueMetrics(name, self.__len__)

    def __len__(self) -> int:
        return len(self._dirty)

    def add(self, key: Hashable) -> None:
        if self._closed or key in self._dirty:
            return
        self._dirty.add(key)
        self.metrics.adds.inc()
        self._added_at.setdefault(key, time.monotonic())
        if key not in self._processing:
            self._queue.put_nowait(key)

    def add_after(self, key: Hashable, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        old = self._timers.get(key)
        loop = asyncio.get_running_loop()
        if old is not None and old.when() <= loop.time() + delay:
            return  # an earlier wake-up is already due
        if old is not None:
            old.cancel()
        self._timers[key] = loop.call_later(delay, self._fire, key)

    def _fire(self, key: Hashable) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: Hashable) -> None:
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        self.metrics.retries.inc()
        self.add_after(key, min(self._base * (2 ** n), self._max))

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    async def get(self) -> Hashable:
        key = await self._queue.get()
        self.metrics.queue_duration.observe(time.monotonic() - self._added_at.pop(key, time.monotonic()))
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: Hashable) -> None:
        self._processing.discard(key)
        if key in self._dirty:  # changed while we worked on it: go again
            self._queue.put_nowait(key)

    def shutdown(self) -> None:
        self._closed = True
        for t in self._timers.values():
            t.cancel()
        self._timers.clear()

    async def run(self, sync: Callable[[Hashable], Awaitable[None]], workers: int = 1) -> None:
        """Drain the queue with `workers` concurrent workers until cancelled."""
        await asyncio.gather(*(self._worker(sync) for _ in range(workers)))

    async def _worker(self, sync: Callable[[Hashable], Awaitable[None]]) -> None:
        while True:
            key = await self.get()
            started = time.monotonic()
            try:
                await sync(key)
                self.forget(key)
            except asyncio.CancelledError:
                self.done(key)
                raise
            except Conflict as exc:
                if self._conflict_retry is None:
                    self._failed(key, exc)
                else:  # someone wrote between our read and our write: settled by looking again
                    self.forget(key)
                    self.add_after(key, self._conflict_retry)
            except Exception as exc:  # level-triggered: retry later, never crash the loop
                self._failed(key, exc)
            self.metrics.work_duration.observe(time.monotonic() - started)
            self.done(key)

    def _failed(self, key: Hashable, exc: Exception) -> None:
        log.warning("%s: sync %s failed (%s); retrying", self.name, key, exc,
                    exc_info=log.isEnabledFor(logging.DEBUG))
        self.add_rate_limited(key)
