"""Job controller: runs a Job's pods until enough succeed, counting every finished pod once.

Informers on Jobs and Pods; handlers only enqueue keys and keep expectations (as the
ReplicaSet controller does). `sync(key)` re-reads the Job and its pods from the caches and:

1. sorts the pods out (job_tracking.py): active, terminating, newly succeeded or failed;
   the pod failure policy may ignore a failure or fail the Job at once;
2. decides whether the Job has met its goal (completions, or a success policy) or failed
   (backoffLimit, activeDeadlineSeconds, a FailJob rule): it then gets the interim condition
   (SuccessCriteriaMet / FailureTarget) and its active pods are deleted;
3. otherwise creates pods up to `parallelism` (Indexed jobs: the lowest pending indexes),
   after the failure back-off, or deletes surplus ones (suspended: all of them);
4. counts finished pods as Kubernetes 1.37 tracks them: each pod carries the finalizer
   `batch.kubernetes.io/job-tracking`; a finished pod's uid is first written into
   `status.uncountedTerminatedPods`, then its finalizer is removed, then it moves into the
   succeeded/failed counters. A crash between any two steps repeats the step, never a count.
   Once no pod is left running or terminating, the final Complete/Failed condition is set.

Pods whose Job is gone (or being deleted) lose the finalizer, so they can go too. Time is the
injected clock's, so tests fake only time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Callable, Hashable

from ..client import ApiClient, ApiError, Conflict, NotFound
from ..client.kinds import PODS, resource
from ..client.shared import SharedInformer
from ..client.urls import object_key
from ..events import EventRecorder
from ..machinery.meta import deep_copy, now_rfc3339
from ..machinery.types import Obj
from . import job_tracking as jt
from . import podutil
from .expectations import Expectations
from .lifecycle import stop_controller
from .ownership import STATUS_BATCH, controller_ref, owner_reference, selector_of
from .replicaset import pods_to_delete, slow_start_batches
from .workqueue import WorkQueue

log = logging.getLogger(__name__)

JOBS = resource("batch", "v1", "jobs")
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class JobConfig:
    backoff_base: float = jt.BACKOFF_BASE
    """Seconds before the first replacement of a failed pod; doubles per failure."""
    backoff_max: float = jt.BACKOFF_MAX
    """The longest back-off."""
    workers: int = 4
    resync_period: float = 30.0


class JobController:
    """Run with `await start()`; `await stop()` ends every task it started."""

    def __init__(self, client: ApiClient, config: JobConfig | None = None, *, clock: Clock = utc_now) -> None:
        self.client = client
        self.config = config or JobConfig()
        self.clock = clock
        self.jobs = SharedInformer(client, JOBS, resync_period=self.config.resync_period)
        self.pods = SharedInformer(client, PODS)
        self.queue = WorkQueue("job", conflict_retry=STATUS_BATCH)
        self.expectations = Expectations()
        self.recorder = EventRecorder(client, "job-controller")
        # Pod uids whose tracking finalizer this controller removed, by Job uid, until the pod
        # cache shows it gone: a lagging cache must not make a counted pod look uncounted.
        self._unfinalized: dict[str, set[str]] = {}
        self._owned: dict[str, set[str]] = {}  # job uid -> pod keys
        self._orphans: dict[str, set[str]] = {}  # namespace -> keys of pods without a controller
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.jobs.add_handlers(on_add=self._job_changed, on_update=lambda old, new: self._job_changed(new),
                               on_delete=self._job_deleted)
        self.pods.add_handlers(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)
        self.jobs.start()
        self.pods.start()
        self._task = asyncio.create_task(self._run(), name="job-controller")

    async def stop(self) -> None:
        await stop_controller(self.queue, self._task, (self.jobs, self.pods), self.recorder.in_flight())
        self._task = None

    async def _run(self) -> None:
        await self.jobs.wait_synced()
        await self.pods.wait_synced()
        await self.queue.run(self.sync, self.config.workers)


    # -- handlers ----------------------------------------------------------------------------------

    def _job_changed(self, job: Obj) -> None:
        self.queue.add(object_key(job))

    def _job_deleted(self, job: Obj) -> None:
        key = object_key(job)
        self.expectations.forget(key)
        uid = job["metadata"].get("uid", "")
        self._unfinalized.pop(uid, None)
        for pod_key in list(self._owned.get(uid, ())):  # their finalizers must go now
            self.queue.add(("pod", pod_key))

    def _job_key(self, pod: Obj) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "Job":
            return None
        key = f"{pod['metadata'].get('namespace', '')}/{ref['name']}"
        job = self.jobs.get(key)
        return key if job is not None and job["metadata"].get("uid") == ref.get("uid") else None

    def _index(self, pod: Obj, present: bool) -> None:
        ref = controller_ref(pod)
        index, bucket_key = ((self._owned, ref.get("uid", "")) if ref is not None
                             else (self._orphans, pod["metadata"].get("namespace", "")))
        bucket = index.setdefault(bucket_key, set()) if present else index.get(bucket_key)
        if bucket is None:
            return
        if present:
            bucket.add(object_key(pod))
        else:
            bucket.discard(object_key(pod))
            if not bucket:
                del index[bucket_key]

    def _seen_finalizer(self, pod: Obj, gone: bool) -> None:
        ref = controller_ref(pod)
        removed = self._unfinalized.get(ref.get("uid", "")) if ref is not None else None
        if removed is not None and (gone or not jt.tracked(pod)):
            removed.discard(pod["metadata"].get("uid", ""))

    def _pod_added(self, pod: Obj) -> None:
        self._index(pod, True)
        key = self._job_key(pod)
        if key is None:
            self._maybe_orphan(pod)
            return
        self.expectations.creation_observed(key)
        if jt.deleting(pod):
            self.expectations.deletion_observed(key, pod["metadata"].get("uid", ""))
        self.queue.add_after(key, STATUS_BATCH)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        self._index(old, False)
        self._index(new, True)
        self._seen_finalizer(new, gone=False)
        key = self._job_key(new)
        if key is None:
            self._maybe_orphan(new)
            return
        if jt.deleting(new) and not jt.deleting(old):
            self.expectations.deletion_observed(key, new["metadata"].get("uid", ""))
        self.queue.add_after(key, STATUS_BATCH)

    def _pod_deleted(self, pod: Obj) -> None:
        self._index(pod, False)
        self._seen_finalizer(pod, gone=True)
        key = self._job_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, pod["metadata"].get("uid", ""))
            self.queue.add_after(key, STATUS_BATCH)

    def _maybe_orphan(self, pod: Obj) -> None:
        """A pod with our finalizer and no live Job of its own: its finalizer must go."""
        if jt.tracked(pod):
            self.queue.add(("pod", object_key(pod)))
        elif controller_ref(pod) is None and not jt.finished(pod):
            ns = pod["metadata"].get("namespace", "")
            labels = pod["metadata"].get("labels") or {}
            for job in self.jobs.list():  # a Job with a manual selector may adopt it
                if job["metadata"].get("namespace") == ns and selector_of(job).matches(labels):
                    self.queue.add(object_key(job))

    # -- sync --------------------------------------------------------------------------------------

    async def sync(self, key: Hashable) -> None:
        if isinstance(key, tuple):
            await self._sync_orphan(key[1])
        else:
            assert isinstance(key, str)
            await self._sync_job(key)

    async def _sync_orphan(self, pod_key: str) -> None:
        pod = self.pods.get(pod_key)
        if pod is None or not jt.tracked(pod):
            return
        ref = controller_ref(pod)
        ns = pod["metadata"].get("namespace", "")
        if ref is not None and ref.get("kind") == "Job":
            job = self.jobs.get(f"{ns}/{ref['name']}")
            if job is not None and job["metadata"].get("uid") == ref.get("uid") \
                    and not job["metadata"].get("deletionTimestamp"):
                self.queue.add(object_key(job))  # alive: its own sync counts the pod
                return
            try:  # the cache may lag a Job just created: ask the API before letting go
                live = await self.client.get(JOBS, ref["name"], ns)
                if live["metadata"].get("uid") == ref.get("uid") and not live["metadata"].get("deletionTimestamp"):
                    return
            except NotFound:
                pass
        await self._unfinalize([pod])

    async def _sync_job(self, key: str) -> None:
        job = self.jobs.get(key)
        if job is None:
            self.expectations.forget(key)
            return
        uid = job["metadata"]["uid"]
        pods = await self._claim(job)
        if job["metadata"].get("deletionTimestamp") or jt.is_finished(job):
            await self._unfinalize([p for p in pods if self._tracked(uid, p)], uid)
            return
        now = self.clock()
        satisfied = self.expectations.satisfied(key)
        spec = job["spec"]
        status = deep_copy(job.get("status") or {})
        indexed = spec.get("completionMode") == "Indexed"
        uncounted = status.get("uncountedTerminatedPods") or {}
        unc_succeeded = list(uncounted.get("succeeded") or [])
        unc_failed = list(uncounted.get("failed") or [])
        in_uncounted = set(unc_succeeded) | set(unc_failed)
        done = jt.parse_index_set(status.get("completedIndexes")) if indexed else set()
        per_index = indexed and spec.get("backoffLimitPerIndex") is not None

        # 1. Sort the pods out.
        active = [p for p in pods if podutil.pod_active(p)]
        terminating = [p for p in pods if jt.terminating(p)]
        seen = jt.classify(job, pods, lambda p: self._tracked(uid, p), in_uncounted, done,
                           jt.parse_index_set(status.get("failedIndexes")))
        unc_succeeded += seen.succeeded
        unc_failed += seen.failed
        release, done, failed_indexes = seen.release, seen.done, seen.failed_indexes
        succeeded = int(status.get("succeeded") or 0) + len(unc_succeeded)
        failed = int(status.get("failed") or 0) + len(unc_failed)

        # 2. Suspension, start time, and where the Job is heading.
        suspended = spec.get("suspend") is True
        self._suspension(job, status, suspended, now)
        target = jt.goal(job, status, active, done, succeeded, failed, seen.fail_message, now, failed_indexes)
        if target is not None and target.failure:
            # A failing Job counts every pod that did not finish as failed (kube does the same).
            for p in terminating:
                if self._tracked(uid, p) and p["metadata"]["uid"] not in set(unc_failed) | in_uncounted:
                    unc_failed.append(p["metadata"]["uid"])

        # 3. Create or delete pods.
        created = deleted = 0
        if satisfied:
            if target is not None:
                deleted = await self._delete(key, job, active, keep_finalizer=target.failure)
            elif suspended:
                deleted = await self._delete(key, job, active, keep_finalizer=False)
            else:
                created, deleted = await self._manage(key, job, pods, active, terminating, done | failed_indexes,
                                                      succeeded, now)
        elif not suspended and target is None:
            self._requeue_for_deadline(key, job, now)

        # 4. Count: uncounted first, then finalizers, then the counters.
        status["active"] = max(0, len(active) - deleted) + created
        status["ready"] = jt.ready_count(active)
        status["terminating"] = len(terminating) + deleted
        if indexed:
            status["completedIndexes"] = jt.format_index_set(done)
            if not status["completedIndexes"]:
                status.pop("completedIndexes")
        if per_index:
            status["failedIndexes"] = jt.format_index_set(failed_indexes)
        self._set_uncounted(status, unc_succeeded, unc_failed)
        if target is not None:
            jt.set_condition(status, target.interim, "True", target.reason, target.message, now)
        job = await self._write_status(job, status)
        if job is None:
            return
        status = deep_copy(job.get("status") or {})
        wanted = set(unc_succeeded) | set(unc_failed)
        by_uid = {p["metadata"]["uid"]: p for p in pods}
        removed = await self._unfinalize([p for p in pods if p["metadata"]["uid"] in wanted
                                          and self._tracked(uid, p)] + release, uid)
        counted_s = [u for u in unc_succeeded if u in removed or not self._tracked(uid, by_uid.get(u))]
        counted_f = [u for u in unc_failed if u in removed or not self._tracked(uid, by_uid.get(u))]
        status["succeeded"] = int(status.get("succeeded") or 0) + len(counted_s)
        status["failed"] = int(status.get("failed") or 0) + len(counted_f)
        for field in ("succeeded", "failed"):
            if not status[field]:
                status.pop(field)
        unc_succeeded = [u for u in unc_succeeded if u not in counted_s]
        unc_failed = [u for u in unc_failed if u not in counted_f]
        self._set_uncounted(status, unc_succeeded, unc_failed)
        if target is not None and not unc_succeeded and not unc_failed \
                and status["active"] == 0 and status["terminating"] == 0:
            self._finish(job, status, target, now)
        await self._write_status(job, status)

    # -- deciding ------------------------------------------------------------------------------------

    def _suspension(self, job: Obj, status: Obj, suspended: bool, now: dt.datetime) -> None:
        if suspended:
            if jt.set_condition(status, jt.SUSPENDED, "True", "JobSuspended", "Job suspended", now):
                self.recorder.emit(job, "Normal", "Suspended", "Job suspended")
            status.pop("startTime", None)  # suspending resets the active deadline's clock
            return
        was = jt.condition(status, jt.SUSPENDED)
        if was is not None and was.get("status") == "True":
            jt.set_condition(status, jt.SUSPENDED, "False", "JobResumed", "Job resumed", now)
            self.recorder.emit(job, "Normal", "Resumed", "Job resumed")
            # activeDeadlineSeconds counts from the resumption, as from a start.
            status["startTime"] = now_rfc3339(now)
        if not status.get("startTime"):
            status["startTime"] = now_rfc3339(now)

    def _finish(self, job: Obj, status: Obj, target: jt.Target, now: dt.datetime) -> None:
        jt.set_condition(status, target.final, "True", target.reason, target.message, now)
        if target.failure:
            self.recorder.emit(job, "Warning", target.reason, target.message)
        else:
            status["completionTime"] = now_rfc3339(now)
            self.recorder.emit(job, "Normal", "Completed", "Job completed")

    def _requeue_for_deadline(self, key: str, job: Obj, now: dt.datetime) -> None:
        left = jt.active_deadline_left(job, now)
        if left is not None and left > 0:
            self.queue.add_after(key, left + 0.05)

    # -- acting --------------------------------------------------------------------------------------

    async def _manage(self, key: str, job: Obj, pods: list[Obj], active: list[Obj], terminating: list[Obj],
                      done: set[int], succeeded: int, now: dt.datetime) -> tuple[int, int]:
        """Pods towards the parallelism the Job wants now; (created, deleted)."""
        spec = job["spec"]
        self._requeue_for_deadline(key, job, now)
        parallelism, completions = int(spec.get("parallelism", 1)), spec.get("completions")
        indexed = spec.get("completionMode") == "Indexed"
        surplus: list[Obj] = []
        if indexed:
            seen: set[int] = set()
            for p in sorted(active, key=lambda p: (not podutil.pod_ready(p), p["metadata"].get("creationTimestamp", ""))):
                i = jt.index_of(p)
                if i is None or completions is None or i >= completions or i in done or i in seen:
                    surplus.append(p)
                else:
                    seen.add(i)
            active = [p for p in active if p not in surplus]
        if completions is None:
            want = len(active) if succeeded > 0 else parallelism
        else:
            remaining = completions - (len(done) if indexed else succeeded)
            want = max(0, min(parallelism, remaining))
        running = len(active) + (len(terminating) if jt.only_replaces_failed(job) else 0)
        if len(active) > want:
            extra = len(active) - want
            if indexed:
                surplus += sorted(active, key=lambda p: -(jt.index_of(p) or 0))[:extra]
            else:
                surplus += pods_to_delete(active, extra)
        deleted = await self._delete(key, job, surplus, keep_finalizer=False) if surplus else 0
        if running >= want:
            return 0, deleted
        n = min(want - running, jt.MAX_CREATES_PER_SYNC)
        if indexed and spec.get("backoffLimitPerIndex") is not None:
            return await self._create_per_index(key, job, pods, active + terminating, done, n, now), deleted
        wait = jt.backoff_remaining([p for p in pods if jt.finished(p)], job, now,
                                    self.config.backoff_base, self.config.backoff_max)
        if wait > 0:
            self.queue.add_after(key, wait + 0.05)
            return 0, deleted
        indexes: list[int | None] = [None] * n
        if indexed:
            indexes = list(jt.pending_indexes(int(completions or 0), done,
                                              (i for p in active + terminating if (i := jt.index_of(p)) is not None), n))
        return await self._create(key, job, indexes), deleted

    async def _create_per_index(self, key: str, job: Obj, pods: list[Obj], running: list[Obj], done: set[int],
                                n: int, now: dt.datetime) -> int:
        """backoffLimitPerIndex: each index backs off on its own failures."""
        failures = jt.index_failures(job, pods, now)
        busy = [i for p in running if (i := jt.index_of(p)) is not None]
        ready: list[int | None] = []
        waits: list[float] = []
        completions = int(job["spec"].get("completions") or 0)
        for i in jt.pending_indexes(completions, done, busy, completions):
            count, last = failures.get(i, (0, now))
            wait = jt.backoff_delay(count, self.config.backoff_base, self.config.backoff_max) - (now - last).total_seconds()
            if wait > 0:
                waits.append(wait)
            elif len(ready) < n:
                ready.append(i)
        if waits:
            self.queue.add_after(key, min(waits) + 0.05)
        return await self._create(key, job, ready, {i: failures.get(i, (0, now))[0] for i in ready if i is not None})

    async def _create(self, key: str, job: Obj, indexes: list[int | None],
                      failures: dict[int, int] | None = None) -> int:
        if not indexes:
            return 0
        self.expectations.expect_creations(key, len(indexes))
        ref = owner_reference(job, "Job", "batch/v1")
        ns = job["metadata"].get("namespace", "")
        made, left = 0, list(indexes)
        for batch in slow_start_batches(len(indexes)):
            chunk, left = left[:batch], left[batch:]
            results = await asyncio.gather(*(self.client.create(PODS, jt.pod_for(
                job, i, ref, failures.get(i, 0) if failures is not None and i is not None else None), ns)
                for i in chunk), return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            for r in results:
                if not isinstance(r, BaseException):
                    made += 1
                    self.recorder.emit(job, "Normal", "SuccessfulCreate", f"Created pod: {r['metadata']['name']}")
            if errors:
                self.expectations.creation_failed(key, len(errors) + len(left))
                err = errors[0]
                self.recorder.emit(job, "Warning", "FailedCreate", f"Error creating: {err}")
                if isinstance(err, ApiError) and err.code == 403:  # a namespace being deleted
                    return made
                raise err if isinstance(err, Exception) else RuntimeError(str(err))
        return made

    async def _delete(self, key: str, job: Obj, victims: list[Obj], *, keep_finalizer: bool) -> int:
        """Delete pods; without their finalizer unless they are to be counted (as failed)."""
        if not victims:
            return 0
        if not keep_finalizer:
            await self._unfinalize(victims, job["metadata"]["uid"])
        self.expectations.expect_deletions(key, [p["metadata"]["uid"] for p in victims])
        results = await asyncio.gather(*(self.client.delete(PODS, p["metadata"]["name"], p["metadata"].get("namespace", ""),
                                                            uid=p["metadata"]["uid"]) for p in victims),
                                       return_exceptions=True)
        gone = 0
        for pod, result in zip(victims, results):
            if isinstance(result, BaseException):
                self.expectations.deletion_observed(key, pod["metadata"]["uid"])
                if not isinstance(result, NotFound):
                    log.warning("job %s: deleting pod %s: %s", key, pod["metadata"]["name"], result)
                continue
            gone += 1
            self.recorder.emit(job, "Normal", "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")
        return gone

    def _tracked(self, job_uid: str, pod: Obj | None) -> bool:
        return pod is not None and jt.tracked(pod) and \
            pod["metadata"].get("uid") not in self._unfinalized.get(job_uid, ())

    async def _unfinalize(self, pods: list[Obj], job_uid: str = "") -> set[str]:
        """Remove the tracking finalizer; the uids of pods now without it (or gone)."""
        patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": [jt.TRACKING_FINALIZER]}}
        targets = [p for p in pods if jt.tracked(p)]
        # Recorded before the patches: the pods' updates may arrive before they return.
        removed = self._unfinalized.setdefault(job_uid, set()) if job_uid else set()
        removed.update(p["metadata"]["uid"] for p in targets)
        results = await asyncio.gather(*(self.client.patch(PODS, p["metadata"]["name"], patch,
                                                           p["metadata"].get("namespace", ""), patch_type="strategic")
                                         for p in targets), return_exceptions=True)
        done: set[str] = set()
        for pod, result in zip(targets, results):
            uid = pod["metadata"]["uid"]
            if isinstance(result, BaseException) and not isinstance(result, NotFound):
                log.warning("removing the finalizer of pod %s: %s", pod["metadata"]["name"], result)
                removed.discard(uid)
                continue
            done.add(uid)
            cached = self.pods.get(object_key(pod))
            if cached is None or not jt.tracked(cached):  # the cache has caught up already
                removed.discard(uid)
        return done

    async def _claim(self, job: Obj) -> list[Obj]:
        """The Job's pods, adopting orphans its (manual) selector matches."""
        md = job["metadata"]
        uid, ns = md["uid"], md.get("namespace", "")
        owned = [p for k in list(self._owned.get(uid, ())) if (p := self.pods.get(k)) is not None]
        if md.get("deletionTimestamp") or jt.is_finished(job):
            return owned
        selector = selector_of(job)
        for k in list(self._orphans.get(ns, ())):
            pod = self.pods.get(k)
            if pod is None or jt.finished(pod) or jt.deleting(pod) or controller_ref(pod) is not None \
                    or selector.empty or not selector.matches(pod["metadata"].get("labels") or {}):
                continue
            refs = list(pod["metadata"].get("ownerReferences") or []) + [owner_reference(job, "Job", "batch/v1")]
            try:
                owned.append(await self.client.patch(PODS, pod["metadata"]["name"], {"metadata": {
                    "ownerReferences": refs, "resourceVersion": pod["metadata"]["resourceVersion"]}}, ns))
            except (Conflict, NotFound):
                continue
        return owned

    @staticmethod
    def _set_uncounted(status: Obj, succeeded: list[str], failed: list[str]) -> None:
        unc: Obj = {}
        if succeeded:
            unc["succeeded"] = succeeded
        if failed:
            unc["failed"] = failed
        status["uncountedTerminatedPods"] = unc

    async def _write_status(self, job: Obj, status: Obj) -> Obj | None:
        """The Job after a compare-and-swap of its status (unchanged: as it was); None if gone."""
        if status == (job.get("status") or {}):
            return job
        try:
            return await self.client.update_status(JOBS, {**job, "status": status})
        except NotFound:
            return None
