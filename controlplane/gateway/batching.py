"""The periodic flush that the gateway's write-back (pod status, node events) shares.

A writer accepts submissions at once into its own pending batch and `flush()`es it every
`interval` from one task; `stop()` ends the loop and writes what was already accepted.

An `eager` writer flushes as soon as `wake()` is called instead of on the next tick: when no
flush is under way a submission is written at once, and what arrives during a flush (one API
round trip) goes in the next one, so batches grow with load and an idle cluster waits for no
timer. Its `interval` then only paces retries of what a flush put back.
"""

from __future__ import annotations

import asyncio
import contextlib


class FlushLoop:
    interval: float = 0.1
    task_name = "gateway-writer"
    eager = False

    _task: "asyncio.Task[None] | None" = None
    _wake: asyncio.Event | None = None

    def wake(self) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.task_name)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()  # what was accepted is written, if the API is still there

    async def _run(self) -> None:
        while True:
            if self.eager:
                if self._wake is None:
                    self._wake = asyncio.Event()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.interval)
                self._wake.clear()
            else:
                await asyncio.sleep(self.interval)
            await self.flush()

    async def flush(self) -> None:
        raise NotImplementedError
