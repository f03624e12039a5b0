"""StatefulSet controller: pods named `<set>-<ordinal>`, made, updated and removed in order.

Informers on StatefulSets, Pods, ControllerRevisions (and PersistentVolumeClaims when the API
serves them); handlers only enqueue keys. `sync(key)` follows kube's stateful_set_control.go:

* revisions: the update revision is the ControllerRevision whose data restores the current
  template (made or renumbered if need be), the current revision the one status names; pods
  carry their revision's name in `controller-revision-hash`;
* every ordinal in [start, start+replicas) gets a pod (from the current revision below the
  partition, else from the update revision) with its identity: the `statefulset.kubernetes.io/
  pod-name` and `apps.kubernetes.io/pod-index` labels, hostname = pod name and subdomain =
  spec.serviceName, so `<pod>.<service>.<ns>.svc.cluster.local` resolves through the headless
  Service; its volumeClaimTemplates' claims are created first (volumeclaims.py);
* OrderedReady: one step at a time, ordinal by ordinal, each pod Running and Ready (and
  available for minReadySeconds) before the next is made; pods beyond the range go from the
  highest ordinal down, one at a time. Parallel: everything at once, in slow-start batches;
* RollingUpdate: pods at the old revision are deleted from the highest ordinal down to the
  partition, at most maxUnavailable unavailable at any time; the manage step recreates them at
  the update revision. OnDelete: pods change revision only when someone deletes them;
* status last (currentRevision becomes the update revision once every pod runs it).

At most one pod per ordinal: a pod's name is its ordinal, and a new pod for an ordinal is made
only once the old pod object is gone, so a pod on an unreachable node, Terminating but not
confirmed, is never replaced while its containers may still run.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import logging
import re
from typing import Awaitable, Callable, Hashable

from ..client import AlreadyExists, ApiClient, ApiError, Conflict, NotFound
from ..client.kinds import PODS, resource
from ..client.shared import SharedInformer
from ..client.urls import object_key
from ..events import EventRecorder
from ..machinery import history
from ..machinery.rollout import template_hash
from ..machinery.types import Obj
from . import podutil
from .adoption import Owned, claim
from .deployment.util import scaled_value
from .lifecycle import stop_controller
from .ownership import STATUS_BATCH, owner_reference, selector_of
from .replicaset import slow_start_batches
from .revisions import NameCollision, Revisions
from .volumeclaims import ClaimBeingDeleted, Claims, ClaimsNotServed, claim_name, templates
from .workqueue import WorkQueue

log = logging.getLogger(__name__)

STATEFULSETS = resource("apps", "v1", "statefulsets")
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
NOT_SERVED_RETRY = 30.0  # seconds between attempts while the claims' kind is not served
_ORDINAL = re.compile(r"(.*)-([0-9]+)$")


# -- pure decisions --------------------------------------------------------------------------

def parent_and_ordinal(pod: Obj) -> tuple[str, int]:
    """The set a pod's name says it belongs to, and its ordinal (-1 when it has none)."""
    m = _ORDINAL.fullmatch((pod.get("metadata") or {}).get("name", ""))
    if m is None or len(m.group(2)) > 10 or int(m.group(2)) >= 2**31:
        return "", -1
    return m.group(1), int(m.group(2))


def ordinal(pod: Obj) -> int:
    return parent_and_ordinal(pod)[1]


def start_ordinal(sts: Obj) -> int:
    return int(((sts.get("spec") or {}).get("ordinals") or {}).get("start") or 0)


def replica_count(sts: Obj) -> int:
    replicas = (sts.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def in_range(sts: Obj, pod: Obj) -> bool:
    start = start_ordinal(sts)
    return start <= ordinal(pod) < start + replica_count(sts)


def pod_name(sts: Obj, n: int) -> str:
    return f"{sts['metadata']['name']}-{n}"


def is_member(sts: Obj, pod: Obj) -> bool:
    return parent_and_ordinal(pod)[0] == sts["metadata"]["name"]


def identity_matches(sts: Obj, pod: Obj) -> bool:
    parent, n = parent_and_ordinal(pod)
    md = pod["metadata"]
    return n >= 0 and parent == sts["metadata"]["name"] and md.get("namespace") == sts["metadata"].get("namespace") \
        and (md.get("labels") or {}).get(POD_NAME_LABEL) == md.get("name")


def storage_matches(sts: Obj, pod: Obj) -> bool:
    n = ordinal(pod)
    if n < 0:
        return False
    volumes = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or []}
    return all(((volumes.get((t.get("metadata") or {}).get("name")) or {}).get("persistentVolumeClaim") or {})
               .get("claimName") == claim_name(sts, t, n) for t in templates(sts))


def revision_of(pod: Obj) -> str:
    return ((pod.get("metadata") or {}).get("labels") or {}).get(history.REVISION_HASH, "")


def new_pod(sts: Obj, template: Obj, n: int, revision: str) -> Obj:
    """The pod for ordinal `n` from `template`, with its identity, storage and revision."""
    tmeta = template.get("metadata") or {}
    name = pod_name(sts, n)
    labels = {**(tmeta.get("labels") or {}), POD_NAME_LABEL: name, POD_INDEX_LABEL: str(n),
              history.REVISION_HASH: revision}
    md: Obj = {"name": name, "namespace": sts["metadata"].get("namespace", ""), "labels": labels,
               "ownerReferences": [owner_reference(sts, "StatefulSet", "apps/v1")]}
    for field in ("annotations", "finalizers"):
        if tmeta.get(field):
            md[field] = copy.deepcopy(tmeta[field])
    spec = copy.deepcopy(template.get("spec") or {})
    spec["hostname"] = name
    if (sts.get("spec") or {}).get("serviceName"):
        spec["subdomain"] = sts["spec"]["serviceName"]
    claims = {(t.get("metadata") or {}).get("name", ""): claim_name(sts, t, n) for t in templates(sts)}
    spec["volumes"] = [{"name": v, "persistentVolumeClaim": {"claimName": c}} for v, c in claims.items()] + \
        [v for v in spec.get("volumes") or [] if v.get("name") not in claims]
    if not spec["volumes"]:
        del spec["volumes"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec}


def created(pod: Obj) -> bool:
    return bool((pod.get("status") or {}).get("phase"))


def terminating(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def running_and_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and podutil.pod_ready(pod)


def running_and_available(pod: Obj, min_ready: int, now: dt.datetime) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and podutil.pod_available(pod, min_ready, now)


def healthy(pod: Obj) -> bool:
    return running_and_ready(pod) and not terminating(pod)


def finished(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded")


def max_unavailable(sts: Obj, replicas: int) -> int:
    """rollingUpdate.maxUnavailable of `replicas` (rounded down, at least 1)."""
    rolling = ((sts.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}
    return max(1, scaled_value(rolling.get("maxUnavailable", 1), replicas, False, default="1"))


def partition(sts: Obj) -> int:
    rolling = ((sts.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}
    return int(rolling.get("partition") or 0)


def counts(pods: list[Obj], min_ready: int, current: str, update: str, now: dt.datetime) -> Obj:
    """replicas, readyReplicas, availableReplicas, currentReplicas, updatedReplicas of `pods`."""
    out = dict.fromkeys(("replicas", "readyReplicas", "availableReplicas", "currentReplicas", "updatedReplicas"), 0)
    for pod in pods:
        out["replicas"] += created(pod)
        if running_and_ready(pod):
            out["readyReplicas"] += 1
            out["availableReplicas"] += running_and_available(pod, min_ready, now)
        if created(pod) and not terminating(pod):
            out["currentReplicas"] += revision_of(pod) == current
            out["updatedReplicas"] += revision_of(pod) == update
    return out


def final_status(sts: Obj, base: Obj, tally: Obj) -> Obj:
    """The status to store: the counts, completing a rolling update once every pod is updated
    and ready (completeRollingUpdate); zero counters left out as the API omits them."""
    status = {**base, **tally}
    strategy = ((sts.get("spec") or {}).get("updateStrategy") or {}).get("type", "RollingUpdate")
    want = replica_count(sts)
    if strategy == "RollingUpdate" and status["updatedReplicas"] == want and status["readyReplicas"] == want \
            and status["replicas"] == want:
        status["currentReplicas"] = status["updatedReplicas"]
        status["currentRevision"] = status["updateRevision"]
    for field in ("readyReplicas", "currentReplicas", "updatedReplicas"):
        if not status[field]:
            del status[field]
    return status


def history_to_delete(revisions: list[Obj], live: set[str], limit: int) -> list[Obj]:
    """The oldest revisions nothing uses, beyond revisionHistoryLimit (truncateHistory)."""
    idle = [r for r in history.by_number(revisions) if r["metadata"]["name"] not in live]
    return idle[:max(0, len(idle) - limit)]


# -- the controller --------------------------------------------------------------------------

class Requeue(Exception):
    """Look again after `delay` seconds (a collision resolved, a stale cache, claims not served)."""

    def __init__(self, message: str, delay: float = STATUS_BATCH) -> None:
        super().__init__(message)
        self.delay = delay


class StatefulSetController:
    """Run with `await start()`; `await stop()` ends every task it started."""

    def __init__(self, client: ApiClient, *, workers: int = 2, resync_period: float = 30.0) -> None:
        self.client = client
        self.workers = workers
        self.sets = SharedInformer(client, STATEFULSETS, resync_period=resync_period)
        self.pods = SharedInformer(client, PODS)
        self.queue = WorkQueue("statefulset", conflict_retry=STATUS_BATCH)
        self.revisions = Revisions(client, "StatefulSet", self.sets, self.queue)
        self.claims = Claims(client, self._claim_changed)
        self.recorder = EventRecorder(client, "statefulset-controller")
        self.owned = Owned(self.pods, self.sets, "StatefulSet", self.queue,
                           lambda sts, pod: is_member(sts, pod) and
                           selector_of(sts).matches(pod["metadata"].get("labels") or {}))
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.sets.add_handlers(on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new),
                               on_delete=self._enqueue)
        self.owned.attach()
        self.sets.start()
        self.pods.start()
        self.revisions.start()
        self.claims.start()
        self._task = asyncio.create_task(self._run(), name="statefulset-controller")

    async def stop(self) -> None:
        await stop_controller(self.queue, self._task, (self.sets, self.pods, self.revisions, self.claims),
                              self.recorder.in_flight())
        self._task = None

    async def _run(self) -> None:
        for informer in (self.sets, self.pods, self.revisions.informer):
            await informer.wait_synced()
        await self.claims.wait_synced()
        await self.queue.run(self.sync, self.workers)


    # -- handlers --------------------------------------------------------------------------------

    def _enqueue(self, sts: Obj) -> None:
        self.queue.add(object_key(sts))

    def _claim_changed(self, claim: Obj) -> None:
        ns = claim["metadata"].get("namespace", "")
        for sts in self.sets.list():
            if sts["metadata"].get("namespace") == ns and templates(sts):
                self._enqueue(sts)

    # -- sync ------------------------------------------------------------------------------------

    async def sync(self, key: Hashable) -> None:
        assert isinstance(key, str)
        sts = self.sets.get(key)
        if sts is None:
            return
        try:
            revisions = await self.revisions.claimed(sts)
            pods = await self._claim_pods(sts)
            await self._update(copy.deepcopy(sts), pods, revisions)
        except Requeue as exc:
            log.info("statefulset %s: %s", key, exc)
            self.queue.add_after(key, exc.delay)
        except AlreadyExists:
            self.queue.add_after(key, STATUS_BATCH)  # a pod the cache had not shown yet

    async def _claim_pods(self, sts: Obj) -> list[Obj]:
        selector = selector_of(sts)
        return await claim(self.client, PODS, sts, "StatefulSet", "apps/v1", self.owned.candidates(sts),
                           lambda p: is_member(sts, p) and selector.matches(p["metadata"].get("labels") or {}))

    async def _update(self, sts: Obj, pods: list[Obj], revisions: list[Obj]) -> None:
        current_rev, update_rev, collisions = await self._current_and_update(sts, revisions)
        current, update = current_rev["metadata"]["name"], update_rev["metadata"]["name"]
        base: Obj = {**(sts.get("status") or {}), "observedGeneration": int(sts["metadata"].get("generation") or 0),
                     "currentRevision": current, "updateRevision": update, "collisionCount": collisions}
        min_ready = int(sts["spec"].get("minReadySeconds") or 0)
        now = dt.datetime.now(dt.timezone.utc)
        start, n = start_ordinal(sts), replica_count(sts)
        replicas: list[Obj | None] = [None] * n
        condemned: list[Obj] = []
        for pod in pods:
            o = ordinal(pod)
            if start <= o < start + n:
                replicas[o - start] = pod
            elif o >= 0:
                condemned.append(pod)
        below = start + (partition(sts) if (sts["spec"].get("updateStrategy") or {}).get("rollingUpdate") is not None
                         else int((sts.get("status") or {}).get("currentReplicas") or 0))
        rolling = (sts["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"
        slots: list[Obj] = []
        for i, found in enumerate(replicas):
            o = start + i
            rev = current_rev if rolling and o < below else update_rev
            slots.append(found if found is not None else
                         new_pod(sts, history.template_of(rev), o, rev["metadata"]["name"]))
        condemned.sort(key=ordinal, reverse=True)
        first_unhealthy = next((p for p in slots if not healthy(p)), None) or \
            next((p for p in reversed(condemned) if not healthy(p)), None)
        try:
            if not sts["metadata"].get("deletionTimestamp"):
                await self._act(sts, slots, condemned, first_unhealthy, update, update_rev, min_ready, now)
        finally:
            tally = counts(slots + condemned, min_ready, current, update, now)
            await self._write_status(sts, final_status(sts, base, tally))
            live = {current, update} | {revision_of(p) for p in pods}
            for rev in history_to_delete(revisions, live, int(sts["spec"].get("revisionHistoryLimit", 10))):
                await self.revisions.delete(rev)
        self._requeue_for_availability(sts, pods, min_ready, now)

    async def _act(self, sts: Obj, slots: list[Obj], condemned: list[Obj], first_unhealthy: Obj | None,
                   update: str, update_rev: Obj, min_ready: int, now: dt.datetime) -> None:
        monotonic = sts["spec"].get("podManagementPolicy", "OrderedReady") != "Parallel"
        update_set = {**sts, "spec": {**sts["spec"], "template": history.template_of(update_rev)}}

        async def replica(i: int) -> bool:
            return await self._process_replica(sts, update_set, slots, i, monotonic, min_ready, now)

        async def fix_claims(i: int) -> bool:
            pod = condemned[i]
            if not self.claims.match_retention(sts, pod, ordinal(pod), False):
                await self.claims.apply_retention(sts, pod, ordinal(pod), False)
            return False

        async def condemn(i: int) -> bool:
            pod = condemned[i]
            if terminating(pod):
                return monotonic  # in order: wait for it to go
            if monotonic and pod is not first_unhealthy and not running_and_available(pod, min_ready, now):
                return True  # in order: the pod below must be healthy before this one goes
            await self._delete_pod(sts, pod)
            return True

        for step, items in ((replica, slots), (fix_claims, condemned), (condemn, condemned)):
            if await _run_for_all(len(items), step, monotonic):
                return
        if (sts["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate") == "OnDelete":
            return
        await self._roll(sts, slots, update, min_ready, now, monotonic)

    async def _process_replica(self, sts: Obj, update_set: Obj, slots: list[Obj], i: int, monotonic: bool,
                               min_ready: int, now: dt.datetime) -> bool:
        """processReplica: True when an ordered set must stop here for now."""
        pod = slots[i]
        n = ordinal(pod)
        if finished(pod):
            if not terminating(pod):
                await self._delete_pod(sts, pod)  # a new one is made once this one is gone
            return True
        if not created(pod):
            if self.claims.stale(sts, pod, n):
                return True  # an earlier pod's claim is about to be collected
            await self._create_pod(sts, pod, n)
            return monotonic
        if (pod.get("status") or {}).get("phase") == "Pending":
            await self._ensure_claims(sts, pod, n)
        if monotonic and (terminating(pod) or not running_and_ready(pod)
                          or not running_and_available(pod, min_ready, now)):
            return True
        retention_ok = self.claims.match_retention(update_set, pod, n, True)
        if identity_matches(sts, pod) and storage_matches(sts, pod) and retention_ok:
            return False
        if not retention_ok:
            await self.claims.apply_retention(update_set, pod, n, True)
        if not identity_matches(sts, pod):
            labels = {POD_NAME_LABEL: pod["metadata"]["name"], POD_INDEX_LABEL: str(n)}
            try:
                await self.client.patch(PODS, pod["metadata"]["name"], {"metadata": {"labels": labels}},
                                        pod["metadata"].get("namespace", ""))
            except NotFound:
                pass
        return False

    async def _ensure_claims(self, sts: Obj, pod: Obj, n: int) -> None:
        try:
            for name in await self.claims.ensure(sts, pod, n, True):
                self.recorder.emit(sts, "Normal", "SuccessfulCreate",
                                   f"create Claim {name} Pod {pod['metadata']['name']} in StatefulSet "
                                   f"{sts['metadata']['name']} success")
        except (ClaimsNotServed, ClaimBeingDeleted, ApiError) as exc:
            names = ", ".join(claim_name(sts, t, n) for t in templates(sts))
            self.recorder.emit(sts, "Warning", "FailedCreate",
                               f"create Claim {names} for Pod {pod['metadata']['name']} in StatefulSet "
                               f"{sts['metadata']['name']} failed error: {exc}")
            if isinstance(exc, ClaimsNotServed):
                raise Requeue(f"volumeClaimTemplates: {exc}", NOT_SERVED_RETRY) from None
            raise Requeue(str(exc), 1.0) from None

    async def _create_pod(self, sts: Obj, pod: Obj, n: int) -> None:
        await self._ensure_claims(sts, pod, n)
        name = pod["metadata"]["name"]
        try:
            await self.client.create(PODS, pod, pod["metadata"].get("namespace", ""))
        except AlreadyExists:
            raise
        except ApiError as exc:
            self.recorder.emit(sts, "Warning", "FailedCreate",
                               f"create Pod {name} in StatefulSet {sts['metadata']['name']} failed error: {exc}")
            raise
        self.recorder.emit(sts, "Normal", "SuccessfulCreate", f"create Pod {name} in StatefulSet {sts['metadata']['name']} "
                                                       "successful")

    async def _delete_pod(self, sts: Obj, pod: Obj) -> None:
        md = pod["metadata"]
        try:
            await self.client.delete(PODS, md["name"], md.get("namespace", ""), uid=md.get("uid", ""))
        except (NotFound, Conflict):
            return  # gone, or already another pod of that name
        self.recorder.emit(sts, "Normal", "SuccessfulDelete",
                           f"delete Pod {md['name']} in StatefulSet {sts['metadata']['name']} successful")

    async def _roll(self, sts: Obj, slots: list[Obj], update: str, min_ready: int, now: dt.datetime,
                    monotonic: bool) -> None:
        """Delete pods at old revisions, top down to the partition, within maxUnavailable
        (updateStatefulSetAfterInvariantEstablished)."""
        low = partition(sts)
        budget = max_unavailable(sts, len(slots))
        down = [p for p in slots if terminating(p) or not running_and_available(p, min_ready, now)]
        old = [i for i in range(len(slots) - 1, low - 1, -1)
               if revision_of(slots[i]) != update and not terminating(slots[i]) and created(slots[i])]
        if monotonic:
            for i in old[:max(0, budget - len(down))]:
                await self._delete_pod(sts, slots[i])
            return
        # Parallel: old pods already down go first (they cost nothing), then up to the budget.
        old_down = [i for i in old if not running_and_available(slots[i], min_ready, now)]
        if len(down) >= budget and not old_down:
            return
        room = max(0, budget - len(down))
        for i in old_down + [i for i in old if i not in old_down][:room]:
            await self._delete_pod(sts, slots[i])

    # -- revisions -------------------------------------------------------------------------------

    async def _current_and_update(self, sts: Obj, revisions: list[Obj]) -> tuple[Obj, Obj, int]:
        """getStatefulSetRevisions: (current revision, update revision, collision count)."""
        collisions = int((sts.get("status") or {}).get("collisionCount") or 0)
        template = sts["spec"].get("template")
        number = history.next_number(revisions)
        equal = [r for r in revisions if history.matches(template, r)]
        if equal and revisions[-1] is equal[-1]:
            update = revisions[-1]
        elif equal:
            update = await self.revisions.renumber(equal[-1], number)
        else:
            update, collisions = await self._create_revision(sts, template, number, collisions)
        current = next((r for r in revisions if r["metadata"]["name"] == (sts.get("status") or {})
                        .get("currentRevision")), update)
        return current, update, collisions

    async def _create_revision(self, sts: Obj, template: Obj, number: int, collisions: int) -> tuple[Obj, int]:
        data = history.revision_data(template)
        labels = dict(((template or {}).get("metadata") or {}).get("labels") or {})
        for _ in range(100):  # each collision changes the hash; a hundred in a row is not chance
            hash_ = template_hash(data, collisions)
            body = self.revisions.body(sts, history.revision_name(sts["metadata"]["name"], hash_), data, number,
                                       {**labels, history.HASH_LABEL: hash_})
            try:
                return await self.revisions.create(body), collisions
            except NameCollision:
                collisions += 1
        raise Requeue("revision names keep colliding", 1.0)

    # -- status ----------------------------------------------------------------------------------

    async def _write_status(self, sts: Obj, status: Obj) -> None:
        if status == (sts.get("status") or {}):
            return
        try:
            await self.client.update_status(STATEFULSETS, {**sts, "status": status})
        except NotFound:
            return
        except Conflict:
            self.queue.add_after(object_key(sts), STATUS_BATCH)

    def _requeue_for_availability(self, sts: Obj, pods: list[Obj], min_ready: int, now: dt.datetime) -> None:
        waits = [w for p in pods if (w := podutil.seconds_until_available(p, min_ready, now)) is not None]
        if waits:
            self.queue.add_after(object_key(sts), min(waits) + 0.05)


async def _run_for_all(count: int, step: Callable[[int], Awaitable[bool]], monotonic: bool) -> bool:
    """runForAll: in order, stop at the first step that says so; in parallel, every step in
    slow-start batches, stopping at the first batch with an error. True: stop this sync here."""
    if monotonic:
        for i in range(count):
            if await step(i):
                return True
        return False
    done = 0
    for batch in slow_start_batches(count):
        results = await asyncio.gather(*(step(i) for i in range(done, done + batch)), return_exceptions=True)
        done += batch
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
    return False
