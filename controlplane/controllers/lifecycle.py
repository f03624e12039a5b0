"""Stopping a controller the same way everywhere: queue, worker task, side tasks, informers."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Iterable

from ..client import Informer
from .workqueue import WorkQueue


async def cancel_and_wait(tasks: Iterable[asyncio.Task | None]) -> None:
    pending = [t for t in tasks if t is not None]
    for t in pending:
        t.cancel()
    for t in pending:
        with contextlib.suppress(asyncio.CancelledError):
            await t


async def stop_controller(queue: WorkQueue, task: asyncio.Task | None, informers: Iterable[Informer],
                          side_tasks: Iterable[asyncio.Task] = ()) -> None:
    """Stop taking work, end the workers and any side tasks (events), then the caches."""
    queue.shutdown()
    await cancel_and_wait([task])
    await cancel_and_wait(list(side_tasks))
    for informer in informers:
        await informer.stop()
