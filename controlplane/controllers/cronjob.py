"""CronJob controller: creates a Job at each time a CronJob's schedule names.

Informers on CronJobs and Jobs. `sync(key)` follows kube's CronJob controller (v2):

* reconciles `status.active` with the Jobs the CronJob controls (finished ones leave it,
  vanished ones too; `lastSuccessfulTime` follows the latest completed Job);
* unless suspended, finds the most recent scheduled time missed since the last run
  (`machinery.cron.most_recent`): after any gap — a control-plane outage — only that one runs,
  once, and more than 100 missed times are reported (TooManyMissedTimes);
* skips it when past `startingDeadlineSeconds`, or when `concurrencyPolicy: Forbid` and a Job
  still runs; `Replace` deletes the running ones first;
* creates the Job `<cronjob>-<minutes since the epoch>`: a restarted controller (or a lost
  status write) finds the same name taken and adopts that Job instead of running twice;
* deletes the oldest finished Jobs beyond the history limits;
* looks again just after the next scheduled time.

Time is the injected clock's, so tests fake only time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Hashable

from ..client import AlreadyExists, ApiClient, ApiError, NotFound
from ..client.kinds import resource
from ..client.shared import SharedInformer
from ..client.urls import object_key
from ..events import EventRecorder
from ..machinery import cron
from ..machinery.jobtemplate import scheduled_job
from ..machinery.meta import deep_copy, now_rfc3339, parse_time
from ..machinery.types import Obj
from .job import JOBS, Clock, utc_now
from .job_tracking import COMPLETE, FAILED, has_true
from .lifecycle import stop_controller
from .ownership import STATUS_BATCH, controller_ref
from .workqueue import WorkQueue

log = logging.getLogger(__name__)

CRONJOBS = resource("batch", "v1", "cronjobs")
NEXT_DELTA = 0.1  # seconds after a scheduled time to look (kube's nextScheduleDelta)


def local_zone() -> dt.tzinfo:
    """The controller's own time zone: what a CronJob without `timeZone` runs in."""
    return dt.datetime.now().astimezone().tzinfo or dt.timezone.utc


def finished_as(job: Obj) -> str:
    status = job.get("status") or {}
    return COMPLETE if has_true(status, COMPLETE) else FAILED if has_true(status, FAILED) else ""


def job_reference(job: Obj) -> Obj:
    md = job["metadata"]
    return {"kind": "Job", "namespace": md.get("namespace", ""), "name": md["name"], "uid": md["uid"],
            "apiVersion": "batch/v1", "resourceVersion": md.get("resourceVersion", "")}


def _start_key(job: Obj) -> tuple:
    start = (job.get("status") or {}).get("startTime")
    return (start is None, start or "", job["metadata"]["name"])


class CronJobController:
    def __init__(self, client: ApiClient, *, clock: Clock = utc_now, workers: int = 2,
                 zone: dt.tzinfo | None = None) -> None:
        self.client = client
        self.clock = clock
        self.workers = workers
        self.zone = zone or local_zone()
        self.cronjobs = SharedInformer(client, CRONJOBS)
        self.jobs = SharedInformer(client, JOBS)
        self.queue = WorkQueue("cronjob", conflict_retry=STATUS_BATCH)
        self.recorder = EventRecorder(client, "cronjob-controller")
        self._children: dict[str, set[str]] = {}  # "ns/cronjob name" -> keys of the Jobs it controls
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.cronjobs.add_handlers(on_add=self._changed, on_update=lambda old, new: self._changed(new))
        self.jobs.add_handlers(on_add=self._job_added, on_update=self._job_updated, on_delete=self._job_deleted)
        self.cronjobs.start()
        self.jobs.start()
        self._task = asyncio.create_task(self._run(), name="cronjob-controller")

    async def stop(self) -> None:
        await stop_controller(self.queue, self._task, (self.cronjobs, self.jobs), self.recorder.in_flight())
        self._task = None

    async def _run(self) -> None:
        await self.cronjobs.wait_synced()
        await self.jobs.wait_synced()
        await self.queue.run(self.sync, self.workers)


    # -- handlers ---------------------------------------------------------------------------------------

    def _changed(self, cronjob: Obj) -> None:
        self.queue.add(object_key(cronjob))

    @staticmethod
    def _parent(job: Obj) -> str | None:
        ref = controller_ref(job)
        if ref is None or ref.get("kind") != "CronJob":
            return None
        return f"{job['metadata'].get('namespace', '')}/{ref.get('name', '')}"

    def _job_added(self, job: Obj) -> None:
        parent = self._parent(job)
        if parent is not None:
            self._children.setdefault(parent, set()).add(object_key(job))
            self.queue.add(parent)

    def _job_updated(self, old: Obj, new: Obj) -> None:
        before, after = self._parent(old), self._parent(new)
        if before is not None and before != after:
            self._job_deleted(old)
        self._job_added(new)

    def _job_deleted(self, job: Obj) -> None:
        parent = self._parent(job)
        if parent is None:
            return
        children = self._children.get(parent)
        if children is not None:
            children.discard(object_key(job))
            if not children:
                del self._children[parent]
        self.queue.add(parent)

    # -- sync -------------------------------------------------------------------------------------------

    async def sync(self, key: Hashable) -> None:
        assert isinstance(key, str)
        cj = self.cronjobs.get(key)
        if cj is None:
            return
        jobs = [j for k in list(self._children.get(key, ())) if (j := self.jobs.get(k)) is not None]
        status = deep_copy(cj.get("status") or {})
        cj = await self._reconcile_active(cj, status, jobs)
        delay = await self._schedule(cj, status, jobs)
        await self._clean_history(cj, status, jobs)
        if status != (cj.get("status") or {}):
            try:
                await self.client.update_status(CRONJOBS, {**cj, "status": status})
            except NotFound:
                return
        if delay is not None:
            self.queue.add_after(key, max(0.0, delay))

    async def _reconcile_active(self, cj: Obj, status: Obj, jobs: list[Obj]) -> Obj:
        active = list(status.get("active") or [])
        uids = {j["metadata"]["uid"] for j in jobs}
        for job in jobs:
            uid, name = job["metadata"]["uid"], job["metadata"]["name"]
            listed = any(r.get("uid") == uid for r in active)
            done = finished_as(job)
            if not listed and not done:
                fresh = await self.client.get(CRONJOBS, cj["metadata"]["name"], cj["metadata"].get("namespace", ""))
                if any(r.get("uid") == uid for r in (fresh.get("status") or {}).get("active") or []):
                    cj = fresh  # our cache was behind our own write
                    status.clear()
                    status.update(deep_copy(fresh.get("status") or {}))
                    active = list(status.get("active") or [])
                    continue
                self.recorder.emit(cj, "Warning", "UnexpectedJob", f"Saw a job that the controller did not create or forgot: {name}")
            elif listed and done:
                active = [r for r in active if r.get("uid") != uid]
                self.recorder.emit(cj, "Normal", "SawCompletedJob", f"Saw completed job: {name}, condition: {done}")
            if done == COMPLETE:
                completed = (job.get("status") or {}).get("completionTime")
                last = parse_time(status.get("lastSuccessfulTime"))
                if completed and (last is None or (parse_time(completed) or last) > last):
                    status["lastSuccessfulTime"] = completed
        for ref in list(active):
            if ref.get("uid") in uids:
                continue
            try:  # not in our cache: gone, or just not seen yet
                await self.client.get(JOBS, ref.get("name", ""), ref.get("namespace", ""))
            except NotFound:
                self.recorder.emit(cj, "Normal", "MissingJob", f"Active job went missing: {ref.get('name')}")
                active = [r for r in active if r.get("uid") != ref.get("uid")]
        self._set_active(status, active)
        return cj

    @staticmethod
    def _set_active(status: Obj, active: list[Obj]) -> None:
        if active:
            status["active"] = active
        else:
            status.pop("active", None)

    def _zone(self, cj: Obj) -> dt.tzinfo:
        name = (cj.get("spec") or {}).get("timeZone")
        return cron.load_zone(name) if name is not None else self.zone

    async def _schedule(self, cj: Obj, status: Obj, jobs: list[Obj]) -> float | None:
        """Start the Job that is due, if any; seconds until the next look (None: never by itself)."""
        spec, md = cj.get("spec") or {}, cj["metadata"]
        if md.get("deletionTimestamp"):
            return None
        try:
            zone = self._zone(cj)
        except cron.ScheduleError as exc:
            self.recorder.emit(cj, "Warning", "UnknownTimeZone", f'invalid timeZone: "{spec.get("timeZone")}": {exc}')
            return None
        if spec.get("suspend") is True:
            return None
        schedule_text = spec.get("schedule") or ""
        if "TZ" in schedule_text:
            self.recorder.emit(cj, "Warning", "UnsupportedSchedule",
                               f'CRON_TZ or TZ used in schedule "{schedule_text}" is not officially supported, see '
                               "https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details")
        try:
            schedule = cron.parse(schedule_text)
        except cron.ScheduleError as exc:
            self.recorder.emit(cj, "Warning", "UnparseableSchedule", f'unparseable schedule: "{schedule_text}" : {exc}')
            return None
        now = self.clock()
        created = parse_time(md.get("creationTimestamp")) or now
        last = parse_time(status.get("lastScheduleTime"))
        try:
            missed = cron.most_recent(schedule, created=created, last_scheduled=last, now=now,
                                      starting_deadline=spec.get("startingDeadlineSeconds"), zone=zone)
            upcoming = (cron.next_run(schedule, missed, now, zone) - now).total_seconds() + NEXT_DELTA
        except cron.ScheduleError as exc:
            self.recorder.emit(cj, "Warning", "InvalidSchedule", f"invalid schedule: {schedule_text} : {exc}")
            return None
        if missed.count > cron.TOO_MANY_MISSED:
            self.recorder.emit(cj, "Warning", "TooManyMissedTimes", f"too many missed start times: {missed.count}. "
                               "Set or decrease .spec.startingDeadlineSeconds or check clock skew")
        scheduled = missed.latest
        if scheduled is None:
            return upcoming
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None and scheduled + dt.timedelta(seconds=int(deadline)) < now:
            self.recorder.emit(cj, "Warning", "MissSchedule", "Missed scheduled time to start a job: "
                               + scheduled.strftime("%a, %d %b %Y %H:%M:%S +0000"))
            return upcoming
        name = cron.job_name(md["name"], scheduled)
        active = list(status.get("active") or [])
        if any(r.get("name") == name for r in active) or (last is not None and last == scheduled):
            return upcoming
        if spec.get("concurrencyPolicy") == "Forbid" and active:
            self.recorder.emit(cj, "Normal", "JobAlreadyActive",
                               "Not starting job because prior execution is running and concurrency policy is Forbid")
            return upcoming
        if spec.get("concurrencyPolicy") == "Replace":
            for ref in active:
                await self._delete_job(cj, ref.get("name", ""), ref.get("namespace", ""))
            active = []
            self._set_active(status, active)
        job = await self._create(cj, name, scheduled, zone)
        if job is None:
            return upcoming
        self._set_active(status, [r for r in active if r.get("uid") != job["metadata"]["uid"]] + [job_reference(job)])
        status["lastScheduleTime"] = now_rfc3339(scheduled)
        return upcoming

    async def _create(self, cj: Obj, name: str, scheduled: dt.datetime, zone: dt.tzinfo) -> Obj | None:
        ns = cj["metadata"].get("namespace", "")
        try:
            job = await self.client.create(JOBS, scheduled_job(cj, name, scheduled, zone), ns)
        except AlreadyExists:
            # Created before a crash or a lost status write: it is this slot's Job, if it is ours.
            job = await self.client.get(JOBS, name, ns)
            ref = controller_ref(job)
            if ref is None or ref.get("uid") != cj["metadata"]["uid"]:
                self.recorder.emit(cj, "Warning", "FailedCreate", f'Error creating job: jobs.batch "{name}" already exists')
                return None
            return job
        except ApiError as exc:
            if exc.code == 403:  # the namespace is being deleted
                return None
            self.recorder.emit(cj, "Warning", "FailedCreate", f"Error creating job: {exc.message}")
            raise
        self.recorder.emit(cj, "Normal", "SuccessfulCreate", f"Created job {name}")
        return job

    async def _delete_job(self, cj: Obj, name: str, ns: str) -> bool:
        try:
            await self.client.delete(JOBS, name, ns, propagation_policy="Background")
        except NotFound:
            return True
        except ApiError as exc:
            self.recorder.emit(cj, "Warning", "FailedDelete", f"Deleted job: {exc.message}")
            return False
        self.recorder.emit(cj, "Normal", "SuccessfulDelete", f"Deleted job {name}")
        return True

    async def _clean_history(self, cj: Obj, status: Obj, jobs: list[Obj]) -> None:
        spec = cj.get("spec") or {}
        for outcome, field in ((COMPLETE, "successfulJobsHistoryLimit"), (FAILED, "failedJobsHistoryLimit")):
            limit = spec.get(field)
            if limit is None:
                continue
            done = sorted((j for j in jobs if finished_as(j) == outcome), key=_start_key)
            for job in done[:max(0, len(done) - int(limit))]:
                if await self._delete_job(cj, job["metadata"]["name"], job["metadata"].get("namespace", "")):
                    self._set_active(status, [r for r in status.get("active") or []
                                              if r.get("uid") != job["metadata"]["uid"]])
