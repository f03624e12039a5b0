"""The periodic flush that the gateway's write-back (pod status, node events) shares.

A writer accepts submissions at once into its own pending batch and `flush()`es it every
`interval` from one task; `stop()` ends the loop and writes what was already accepted.
"""

from __future__ import annotations

import asyncio
import contextlib


class FlushLoop:
    interval: float = 0.1
    task_name = "gateway-writer"

    _task: "asyncio.Task[None] | None" = None

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
            await asyncio.sleep(self.interval)
            await self.flush()

    async def flush(self) -> None:
        raise NotImplementedError
