"""Stopping a controller the same way everywhere: queue, worker task, side tasks, informers."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Iterable, Protocol

from .workqueue import WorkQueue


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
