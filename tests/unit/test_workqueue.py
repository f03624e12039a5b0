"""The work queue's retries: a lost write race is looked at again soon and quietly when the
queue asks for that; any other failure (or a Conflict on a queue that did not) is a warning
and per-key exponential back-off."""

from __future__ import annotations

import asyncio
import logging

from controlplane.client import Conflict
from controlplane.controllers.workqueue import WorkQueue


async def _drain(queue: WorkQueue, fail_times: int, error: Exception) -> list[float]:
    seen: list[float] = []
    done = asyncio.Event()

    async def sync(key):
        seen.append(asyncio.get_running_loop().time())
        if len(seen) <= fail_times:
            raise error
        done.set()

    runner = asyncio.create_task(queue.run(sync))
    queue.add("ns/a")
    try:
        await asyncio.wait_for(done.wait(), 5)
    finally:
        queue.shutdown()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    return seen


async def test_a_conflict_is_retried_after_the_queue_s_delay_without_a_warning(caplog):
    caplog.set_level(logging.WARNING)
    seen = await _drain(WorkQueue("t", base_delay=5.0, conflict_retry=0.01), 3, Conflict(409, {}))
    assert len(seen) == 4  # three lost races, then the sync that wins; no 5 s back-off between them
    assert not [r for r in caplog.records if "failed" in r.getMessage()]


async def test_without_conflict_retry_a_conflict_is_an_ordinary_failure(caplog):
    caplog.set_level(logging.WARNING)
    seen = await _drain(WorkQueue("t", base_delay=0.01), 2, Conflict(409, {}))
    assert len(seen) == 3
    assert len([r for r in caplog.records if "sync ns/a failed" in r.getMessage()]) == 2
