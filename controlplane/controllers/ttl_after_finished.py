"""TTL-after-finished controller: deletes a finished Job `ttlSecondsAfterFinished` after it ended.

A Job is finished when its Complete or Failed condition is True; it expires that many seconds
after the condition's lastTransitionTime. Before deleting, the Job is read again from the API
(a cached copy may be stale: its TTL may just have been raised); the deletion is Foreground, with
the uid as precondition, so its pods go first and a new Job of the same name is never touched.
Time is the injected clock's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Hashable

from ..client import ApiClient, Conflict, NotFound
from ..client.shared import SharedInformer
from ..client.urls import object_key, split_key
from ..machinery.meta import parse_time
from ..machinery.types import Obj
from .job import JOBS, Clock, utc_now
from .job_tracking import COMPLETE, FAILED, condition
from .lifecycle import stop_controller
from .workqueue import WorkQueue


def finished_at(job: Obj) -> dt.datetime | None:
    status = job.get("status") or {}
    for kind in (COMPLETE, FAILED):
        c = condition(status, kind)
        if c is not None and c.get("status") == "True":
            return parse_time(c.get("lastTransitionTime"))
    return None


def expires_in(job: Obj, now: dt.datetime) -> float | None:
    """Seconds until the Job may be deleted (<= 0: now); None if it never expires (yet)."""
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    end = finished_at(job)
    if ttl is None or end is None or (job.get("metadata") or {}).get("deletionTimestamp"):
        return None
    return (end + dt.timedelta(seconds=int(ttl)) - now).total_seconds()


class TTLAfterFinishedController:
    def __init__(self, client: ApiClient, *, clock: Clock = utc_now, workers: int = 2) -> None:
        self.client = client
        self.clock = clock
        self.workers = workers
        self.jobs = SharedInformer(client, JOBS)
        self.queue = WorkQueue("ttl-after-finished")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.jobs.add_handlers(on_add=self._changed, on_update=lambda old, new: self._changed(new))
        self.jobs.start()
        self._task = asyncio.create_task(self._run(), name="ttl-after-finished-controller")

    async def stop(self) -> None:
        await stop_controller(self.queue, self._task, (self.jobs,))
        self._task = None

    async def _run(self) -> None:
        await self.jobs.wait_synced()
        await self.queue.run(self.sync, self.workers)

    def _changed(self, job: Obj) -> None:
        if expires_in(job, self.clock()) is not None:
            self.queue.add(object_key(job))

    async def sync(self, key: Hashable) -> None:
        assert isinstance(key, str)
        job = self.jobs.get(key)
        left = expires_in(job, self.clock()) if job is not None else None
        if job is None or left is None:
            return
        if left > 0:
            self.queue.add_after(key, left + 0.05)
            return
        ns, name = split_key(key)
        try:
            fresh = await self.client.get(JOBS, name, ns)
        except NotFound:
            return
        left = expires_in(fresh, self.clock())
        if left is None:
            return
        if left > 0:
            self.queue.add_after(key, left + 0.05)
            return
        try:
            await self.client.delete(JOBS, name, ns, uid=fresh["metadata"]["uid"], propagation_policy="Foreground")
        except (NotFound, Conflict):
            return
