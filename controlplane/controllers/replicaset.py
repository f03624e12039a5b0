"""ReplicaSet controller: keeps `spec.replicas` active pods for every ReplicaSet.

The same controller serves every kind that keeps N copies of a pod template the same way
(a `ReplicatedKind`: its descriptor and how its selector reads); ReplicationControllers are
the other one (replicationcontroller.py).

Informers on ReplicaSets and Pods; handlers only enqueue `namespace/name` keys (and
count the creations/deletions the controller is waiting for). `sync(key)` re-reads the
ReplicaSet and its pods from the caches, adopts matching orphans, creates missing pods
in slow-start batches (1, 2, 4, ...) or deletes surplus ones (unscheduled, then pending,
then not ready, then newest first), and writes status last.

Expectations keep a lagging watch from causing double creates: after asking for N pods
the key is not acted on again until N pod ADDs have been seen (or the expectation expires).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Callable, Hashable

from ..client import ApiClient, ApiError, Conflict, NotFound
from ..client.batch import BatchWriter
from ..client.shared import SharedInformer
from ..client.kinds import PODS, REPLICASETS
from ..client.urls import object_key
from ..machinery.selectors import LabelSelector
from ..machinery.types import Obj
from ..resources.registry import ResourceInfo
from ..events import EventRecorder
from . import podutil
from .expectations import Expectations
from .ownership import STATUS_BATCH, controller_ref, owner_reference, selector_of
from .workqueue import WorkQueue
from .lifecycle import stop_controller

log = logging.getLogger(__name__)

BURST_REPLICAS = 500  # at most this many creates/deletes per sync, as kube's burstReplicas


@dataclass(frozen=True)
class ReplicatedKind:
    """A kind this controller keeps replicas of."""

    info: ResourceInfo
    name: str
    """`replicaset`: names its queue, task and event source (`replicaset-controller`)."""
    selector: Callable[[Obj], LabelSelector]
    """The pods an object selects."""


REPLICA_SET = ReplicatedKind(REPLICASETS, "replicaset", selector_of)


# -- pure decisions --------------------------------------------------------------------------

def slow_start_batches(n: int, initial: int = 1) -> list[int]:
    """Batch sizes for n creates: 1, 2, 4, ... (the last one what is left)."""
    out, size = [], max(1, initial)
    while n > 0:
        out.append(min(size, n))
        n -= out[-1]
        size *= 2
    return out


def deletion_rank(pod: Obj) -> tuple:
    """Sort key: pods to delete first come first (kube's ActivePods ordering)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(status.get("phase") or "Pending", 0)
    since = podutil.ready_since(pod)
    restarts = sum(int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or [])
    created = (pod.get("metadata") or {}).get("creationTimestamp") or ""
    return (
        bool(spec.get("nodeName")),       # unscheduled first
        phase_rank,                       # then pending, unknown, running
        podutil.pod_ready(pod),              # then not ready before ready
        -(since.timestamp() if since else 0.0),  # ready for less time first
        -restarts,                        # more restarts first
        _desc(created),                   # newest first
    )


def _desc(text: str) -> tuple[int, ...]:
    return tuple(-ord(ch) for ch in text)


def pods_to_delete(pods: list[Obj], n: int) -> list[Obj]:
    return sorted(pods, key=deletion_rank)[:n]


def calculate_status(rs: Obj, pods: list[Obj], now: dt.datetime, observed: bool) -> Obj:
    """The RS status from its active pods; observedGeneration only once the spec was acted on."""
    template_labels = ((rs["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = int(rs["spec"].get("minReadySeconds") or 0)
    ready = [p for p in pods if podutil.pod_ready(p)]
    status = dict(rs.get("status") or {})
    status.update(
        replicas=len(pods),
        fullyLabeledReplicas=sum(1 for p in pods if all(
            ((p["metadata"].get("labels") or {}).get(k) == v) for k, v in template_labels.items())),
        readyReplicas=len(ready),
        availableReplicas=sum(1 for p in ready if podutil.pod_available(p, min_ready, now)),
    )
    for field in ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"):
        if not status[field]:
            status.pop(field)  # omitempty, as the API serves them
    if observed:
        status["observedGeneration"] = int(rs["metadata"].get("generation") or 0)
    return status


# -- the controller --------------------------------------------------------------------------

class ReplicaSetController:
    """Run with `await start()`; `await stop()` ends every task it started."""

    def __init__(self, client: ApiClient, *, kind: ReplicatedKind = REPLICA_SET, workers: int = 4,
                 resync_period: float = 30.0) -> None:
        self.client = client
        self.kind = kind
        self.workers = workers
        self.replicasets = SharedInformer(client, kind.info, resync_period=resync_period)
        self.pods = SharedInformer(client, PODS)
        self.queue = WorkQueue(kind.name)
        self.expectations = Expectations()
        # A sync's creates (slow-start batches of up to BURST_REPLICAS) and their Events go
        # as one batch request each, not one request per pod.
        self.writes = BatchWriter(client)
        self.recorder = EventRecorder(client, f"{kind.name}-controller", writes=self.writes)
        # Pod keys by controller uid, and orphans by namespace: a sync reads its own pods
        # instead of scanning every pod in the cluster.
        self._owned: dict[str, set[str]] = {}
        self._orphans: dict[str, set[str]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.replicasets.add_handlers(on_add=self._rs_changed, on_update=lambda old, new: self._rs_changed(new),
                                      on_delete=self._rs_deleted)
        self.pods.add_handlers(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)
        self.replicasets.start()
        self.pods.start()
        self._task = asyncio.create_task(self._run(), name=f"{self.kind.name}-controller")

    async def stop(self) -> None:
        await stop_controller(self.queue, self._task, (self.replicasets, self.pods), self.recorder.in_flight())
        self._task = None

    async def _run(self) -> None:
        # Act only on complete caches: a half-listed pod cache would look like missing pods.
        await self.replicasets.wait_synced()
        await self.pods.wait_synced()
        await self.queue.run(self.sync, self.workers)


    # -- handlers: only bookkeeping and keys -----------------------------------------------------

    def _rs_changed(self, rs: Obj) -> None:
        self.queue.add(object_key(rs))

    def _rs_deleted(self, rs: Obj) -> None:
        self.expectations.forget(object_key(rs))
        self.queue.add(object_key(rs))

    def _owner_key(self, pod: Obj) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != self.kind.info.kind:
            return None
        key = f"{pod['metadata'].get('namespace', '')}/{ref['name']}"
        rs = self.replicasets.get(key)
        return key if rs is None or rs["metadata"].get("uid") == ref.get("uid") else None

    def _enqueue_matching(self, pod: Obj) -> None:
        """An orphan: every RS whose selector matches it may want to adopt it."""
        ns = pod["metadata"].get("namespace", "")
        labels = pod["metadata"].get("labels") or {}
        for rs in self.replicasets.list():
            if rs["metadata"].get("namespace") == ns and self.kind.selector(rs).matches(labels):
                self.queue.add(object_key(rs))

    def _index(self, pod: Obj, present: bool) -> None:
        ref = controller_ref(pod)
        index, bucket_key = ((self._owned, ref.get("uid", "")) if ref is not None
                             else (self._orphans, pod["metadata"].get("namespace", "")))
        if present:
            index.setdefault(bucket_key, set()).add(object_key(pod))
            return
        bucket = index.get(bucket_key)
        if bucket is not None:
            bucket.discard(object_key(pod))
            if not bucket:
                del index[bucket_key]

    def _pod_added(self, pod: Obj) -> None:
        self._index(pod, True)
        key = self._owner_key(pod)
        if key is None:
            if controller_ref(pod) is None:
                self._enqueue_matching(pod)
            return
        if pod["metadata"].get("deletionTimestamp"):
            self._pod_deleted(pod)  # seen for the first time already terminating
            return
        self.expectations.creation_observed(key)
        if self.expectations.satisfied(key):
            self.queue.add(key)  # the last pod of a batch: the next batch may go at once
        else:
            self.queue.add_after(key, STATUS_BATCH)  # more are coming: one sync for the lot

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        self._index(old, False)
        self._index(new, True)
        key = self._owner_key(new)
        if new["metadata"].get("deletionTimestamp") and not old["metadata"].get("deletionTimestamp"):
            # A graceful delete: count it now, or a replacement waits for the grace period.
            if key:
                self.expectations.deletion_observed(key, new["metadata"].get("uid", ""))
        old_key = self._owner_key(old)
        if old_key and old_key != key:
            self.queue.add(old_key)
        if key and old_key == key and not new["metadata"].get("deletionTimestamp"):
            # A status change (ready, phase): at most one status sync per STATUS_BATCH
            # seconds, so a thousand pods turning Ready cost a few syncs, not a thousand.
            self.queue.add_after(key, STATUS_BATCH)
        elif key:
            self.queue.add(key)
        elif controller_ref(new) is None:
            self._enqueue_matching(new)

    def _pod_deleted(self, pod: Obj) -> None:
        self._index(pod, False)
        key = self._owner_key(pod)
        if key:
            self.expectations.deletion_observed(key, pod["metadata"].get("uid", ""))
            self.queue.add(key)

    # -- sync ------------------------------------------------------------------------------------

    async def sync(self, key: Hashable) -> None:
        assert isinstance(key, str)
        rs = self.replicasets.get(key)
        if rs is None:
            self.expectations.forget(key)
            return
        if rs["metadata"].get("deletionTimestamp"):
            return  # the garbage collector takes it and its pods
        # Expectations first, then the cache: once they are met, every pod we created is in it.
        satisfied = self.expectations.satisfied(key)
        pods = await self._claim_pods(rs)
        deleted: set[str] = set()
        if satisfied:
            deleted = await self._manage(key, rs, pods)
        now = dt.datetime.now(dt.timezone.utc)
        remaining = [p for p in pods if p["metadata"].get("uid") not in deleted]
        await self._write_status(rs, calculate_status(rs, remaining, now, observed=satisfied))
        self._requeue_for_availability(key, rs, remaining, now)

    async def _claim_pods(self, rs: Obj) -> list[Obj]:
        """Active pods this RS controls, adopting matching orphans (ownerReferences + selector)."""
        ns, uid = rs["metadata"].get("namespace", ""), rs["metadata"]["uid"]
        selector = self.kind.selector(rs)
        owned: list[Obj] = []
        candidates = self._owned.get(uid, set()) | self._orphans.get(ns, set())
        for pod in (p for k in candidates if (p := self.pods.get(k)) is not None):
            md = pod["metadata"]
            if md.get("namespace") != ns or not podutil.pod_active(pod):
                continue
            ref = controller_ref(pod)
            if ref is not None:
                if ref.get("uid") != uid:
                    continue
                if selector.matches(md.get("labels") or {}):
                    owned.append(pod)
                else:  # relabelled out of the selector: no longer ours
                    await self._set_owner(pod, [r for r in md.get("ownerReferences") or [] if r.get("uid") != uid])
                continue
            if selector.empty or not selector.matches(md.get("labels") or {}):
                continue
            refs = list(md.get("ownerReferences") or []) + [self._owner_reference(rs)]
            adopted = await self._set_owner(pod, refs)
            if adopted is not None:
                owned.append(adopted)
        return owned

    async def _set_owner(self, pod: Obj, refs: list[Obj]) -> Obj | None:
        """Adopt or release a pod; the resourceVersion in the patch makes it conditional,
        so a pod that changed meanwhile is left for the next sync to judge."""
        md = pod["metadata"]
        patch = {"metadata": {"ownerReferences": refs or None, "resourceVersion": md["resourceVersion"]}}
        try:
            return await self.client.patch(PODS, md["name"], patch, md.get("namespace", ""))
        except (Conflict, NotFound):
            return None

    async def _manage(self, key: str, rs: Obj, pods: list[Obj]) -> set[str]:
        """Create or delete pods towards spec.replicas; returns the uids it deleted."""
        diff = len(pods) - int(rs["spec"].get("replicas", 1))
        if diff < 0:
            await self._create(key, rs, min(-diff, BURST_REPLICAS))
            return set()
        if diff > 0:
            victims = pods_to_delete(pods, min(diff, BURST_REPLICAS))
            return await self._delete(key, rs, victims)
        return set()

    def _owner_reference(self, rs: Obj) -> Obj:
        return owner_reference(rs, self.kind.info.kind, self.kind.info.api_version)

    def pod_from_template(self, rs: Obj) -> Obj:
        template = rs["spec"].get("template") or {}
        tmeta = template.get("metadata") or {}
        md: Obj = {"generateName": f"{rs['metadata']['name']}-",
                   "namespace": rs["metadata"].get("namespace", ""),
                   "ownerReferences": [self._owner_reference(rs)]}
        for field in ("labels", "annotations"):
            if tmeta.get(field):
                md[field] = dict(tmeta[field])
        return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": template.get("spec") or {}}

    async def _create(self, key: str, rs: Obj, n: int) -> None:
        self.expectations.expect_creations(key, n)
        pod = self.pod_from_template(rs)
        ns = rs["metadata"].get("namespace", "")
        left = n
        for batch in slow_start_batches(n):
            results = await asyncio.gather(*(self.writes.write("POST", PODS, ns or "default", body=pod)
                                             for _ in range(batch)), return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            for r in results:
                if not isinstance(r, BaseException):
                    self.recorder.emit(rs, "Normal", "SuccessfulCreate", f"Created pod: {r['name']}")
            left -= batch
            if errors:
                # Failed creates will never be observed; nor will the batches we now skip.
                self.expectations.creation_failed(key, len(errors) + left)
                err = errors[0]
                self.recorder.emit(rs, "Warning", "FailedCreate", f"Error creating: {err}")
                if isinstance(err, ApiError) and err.code == 403:  # e.g. namespace terminating
                    log.info("replicaset %s: cannot create pods: %s", key, err)
                    return
                raise err if isinstance(err, Exception) else RuntimeError(str(err))

    async def _delete(self, key: str, rs: Obj, victims: list[Obj]) -> set[str]:
        uids = [p["metadata"]["uid"] for p in victims]
        self.expectations.expect_deletions(key, uids)
        results = await asyncio.gather(*(self.client.delete(PODS, p["metadata"]["name"],
                                                            p["metadata"].get("namespace", ""),
                                                            uid=p["metadata"]["uid"])
                                         for p in victims), return_exceptions=True)
        done: set[str] = set()
        for pod, result in zip(victims, results):
            uid = pod["metadata"]["uid"]
            if isinstance(result, NotFound) or not isinstance(result, BaseException):
                done.add(uid)
            if not isinstance(result, BaseException):
                self.recorder.emit(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")
            if isinstance(result, BaseException):
                self.expectations.deletion_observed(key, uid)  # will never be seen: stop waiting
        failed = [r for r in results if isinstance(r, BaseException) and not isinstance(r, NotFound)]
        if failed:
            raise failed[0] if isinstance(failed[0], Exception) else RuntimeError(str(failed[0]))
        return done

    async def _write_status(self, rs: Obj, status: Obj) -> None:
        if status == (rs.get("status") or {}):
            return
        body = {**rs, "status": status}
        try:
            await self.client.update_status(self.kind.info, body)
        except NotFound:
            return
        except Conflict:
            self.queue.add(object_key(rs))  # the cache is behind: the next sync reads it again

    def _requeue_for_availability(self, key: str, rs: Obj, pods: list[Obj], now: dt.datetime) -> None:
        min_ready = int(rs["spec"].get("minReadySeconds") or 0)
        if min_ready <= 0:
            return
        waits = [w for p in pods if (w := podutil.seconds_until_available(p, min_ready, now)) is not None]
        if waits:
            self.queue.add_after(key, min(waits) + 0.05)
