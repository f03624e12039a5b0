"""Starting and stopping a controller the same way everywhere: queue, worker task, side tasks,
informers; and the loop of a controller that recomputes everything periodically."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Iterable, Protocol

from .workqueue import WorkQueue

log = logging.getLogger(__name__)


class Stoppable(Protocol):
    async def stop(self) -> None: ...


async def cancel_and_wait(tasks: Iterable[asyncio.Task | None]) -> None:
    pending = [t for t in tasks if t is not None]
    for t in pending:
        t.cancel()
    for t in pending:
        # Cancel again while it runs on: Python 3.11's asyncio.wait_for swallows a cancel that
        # lands just as what it waits for finishes (a controller stopped while its caches sync).
        for _ in range(20):
            await asyncio.wait([t], timeout=0.5)
            if t.done():
                break
            t.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await t


async def stop_controller(queue: WorkQueue, task: asyncio.Task | None, informers: Iterable[Stoppable],
                          side_tasks: Iterable[asyncio.Task] = ()) -> None:
    """Stop taking work, end the workers and any side tasks (events), then the caches."""
    queue.shutdown()
    await cancel_and_wait([task])
    await cancel_and_wait(list(side_tasks))
    for informer in informers:
        await informer.stop()


class PeriodicController:
    """A controller that, once its informers have synced, makes one level-triggered pass every
    `period` seconds; a failed pass is logged and the next starts from what is observed then."""

    name = "controller"
    period = 5.0
    informers: tuple[Any, ...] = ()  # SharedInformers: started with it, stopped after it

    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for informer in self.informers:
            informer.start()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
        for informer in self.informers:
            await informer.stop()

    async def _run(self) -> None:
        for informer in self.informers:
            await informer.wait_synced()
        while True:
            try:
                await self.run_pass()
            except Exception:  # the next pass starts from the observed state again
                log.exception("%s: pass failed", self.name)
            await asyncio.sleep(self.period)

    async def run_pass(self) -> None:
        raise NotImplementedError
