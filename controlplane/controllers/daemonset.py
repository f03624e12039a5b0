"""DaemonSet controller: one pod on every node a DaemonSet selects, rolled out by its strategy.

Informers on DaemonSets, Pods, Nodes and ControllerRevisions; handlers only enqueue keys.
`sync(key)`, as kube's syncDaemonSet:

1. history: the ControllerRevision whose template equals the DaemonSet's is current (made if
   none, numbered above every other); its hash labels the pods (`controller-revision-hash`);
2. manage: a node should run the pod when the template's nodeName, nodeSelector and required
   node affinity match it and the pod (with the daemon tolerations every DaemonSet pod gets)
   tolerates its NoSchedule and NoExecute taints; a pod may keep running where only untolerated
   NoExecute taints are missing. Nodes that should run one and have none get a pod; pods on
   nodes that may not keep them, failed or succeeded pods (with back-off) and surplus pods go;
3. RollingUpdate: old pods are deleted within maxUnavailable, or with maxSurge new pods start
   beside old ones, which go once their replacement is available (OnDelete: nothing);
4. revisions beyond revisionHistoryLimit that no pod uses are deleted; 5. status, last.

Pods are created unscheduled with a required node affinity on their node's name (matchFields
metadata.name) and the default scheduler binds them, as Kubernetes does since 1.12. A node
whose pod is terminating gets its new one only once the old one is gone. Expectations keep a
lagging pod watch from causing double creates, as in the ReplicaSet controller.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Callable, Hashable

from ..client import ApiClient, ApiError, Conflict, NotFound
from ..client.kinds import NODES, PODS, resource
from ..client.shared import SharedInformer
from ..client.urls import object_key
from ..events import EventRecorder
from ..machinery import history
from ..machinery.rollout import template_hash
from ..machinery.daemonpods import daemon_tolerations
from ..machinery.types import Obj
from ..resources.kinds.daemonset import TEMPLATE_GENERATION
from ..scheduler.plugins.node_affinity import compile_term
from ..scheduler.plugins.tolerations import tolerated
from ..scheduler.snapshot import NodeInfo
from . import podutil
from .adoption import Owned, claim
from .deployment.util import scaled_value
from .expectations import Expectations
from .lifecycle import stop_controller
from .ownership import STATUS_BATCH, owner_reference, selector_of
from .replicaset import slow_start_batches
from .revisions import NameCollision, Revisions
from .workqueue import WorkQueue

log = logging.getLogger(__name__)

DAEMONSETS = resource("apps", "v1", "daemonsets")
BURST_REPLICAS = 250  # creates or deletes per sync, as kube's DaemonSet controller
GENERATION_LABEL = "pod-template-generation"
FAILED_BACKOFF = (1.0, 900.0)  # seconds: first and longest wait before deleting a node's next failed pod

# -- pure decisions --------------------------------------------------------------------------

class NodeFit:
    """Where a DaemonSet's pods belong: `fit(node)` is (should run, may keep running) there."""

    def __init__(self, ds: Obj) -> None:
        tspec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
        self.node_name = tspec.get("nodeName") or ""
        self.selector = dict(tspec.get("nodeSelector") or {})
        required = (((tspec.get("affinity") or {}).get("nodeAffinity") or {})
                    .get("requiredDuringSchedulingIgnoredDuringExecution"))
        self.terms: list[Callable[[NodeInfo], bool]] | None = None
        self.broken = False  # an unparsable affinity fits no node
        if isinstance(required, dict):
            try:
                self.terms = [compile_term(t) for t in required.get("nodeSelectorTerms") or []]
            except (ValueError, TypeError):
                self.broken = True
        self.tolerations = daemon_tolerations(tspec)

    def __call__(self, node: Obj) -> tuple[bool, bool]:
        md = node.get("metadata") or {}
        name, labels = md.get("name", ""), md.get("labels") or {}
        if self.broken or (self.node_name and self.node_name != name):
            return False, False
        if any(labels.get(k) != v for k, v in self.selector.items()):
            return False, False
        if self.terms is not None and not any(t(NodeInfo(name, labels=labels)) for t in self.terms):
            return False, False
        untolerated = [t for t in (node.get("spec") or {}).get("taints") or []
                       if t.get("effect") in ("NoSchedule", "NoExecute") and not tolerated(self.tolerations, t)]
        if untolerated:
            return False, not any(t.get("effect") == "NoExecute" for t in untolerated)
        return True, True


def target_node(pod: Obj) -> str | None:
    """The node a daemon pod is for: its nodeName, or before binding its node-name affinity."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("operator") == "In":
                values = field.get("values") or []
                return str(values[0]) if len(values) == 1 else None
    return None


def _terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded")


def pods_by_node(pods: list[Obj], include_deleted_terminal: bool = False) -> dict[str, list[Obj]]:
    """The DaemonSet's pods by the node they are for (finished, deleted pods left out)."""
    out: dict[str, list[Obj]] = {}
    for pod in pods:
        if not include_deleted_terminal and _terminal(pod) and pod["metadata"].get("deletionTimestamp"):
            continue
        node = target_node(pod)
        if node is not None:
            out.setdefault(node, []).append(pod)
    return out


def oldest_first(pods: list[Obj]) -> list[Obj]:
    """Scheduled pods first, then by creation time and name (podByCreationTimestampAndPhase)."""
    return sorted(pods, key=lambda p: (not (p.get("spec") or {}).get("nodeName"),
                                       p["metadata"].get("creationTimestamp") or "", p["metadata"].get("name", "")))


def is_updated(pod: Obj, hash_: str, generation: str | None) -> bool:
    labels = pod["metadata"].get("labels") or {}
    return bool(hash_) and labels.get(history.REVISION_HASH) == hash_ or \
        (generation is not None and labels.get(GENERATION_LABEL) == generation)


def _available(pod: Obj, min_ready: int, now: dt.datetime) -> bool:
    return podutil.pod_available(pod, min_ready, now)


@dataclass
class NodePlan:
    create: bool = False
    delete: tuple[Obj, ...] = ()
    failed: tuple[Obj, ...] = ()  # failed or succeeded pods: deleted, subject to back-off


def plan_node(should_run: bool, should_continue: bool, pods: list[Obj] | None, hash_: str,
              surge: bool, min_ready: int, now: dt.datetime) -> NodePlan:
    """What one node needs (podsShouldBeOnNode)."""
    if should_run and not pods:
        return NodePlan(create=True)
    if not pods:
        return NodePlan()
    if not should_continue:
        return NodePlan(delete=tuple(p for p in pods if not p["metadata"].get("deletionTimestamp")))
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    failed = tuple(p for p in live if _terminal(p))
    running = oldest_first([p for p in live if not _terminal(p)])
    if not surge:
        return NodePlan(delete=tuple(running[1:]), failed=failed)
    if len(running) <= 1:
        return NodePlan(create=not running and should_run, failed=failed)
    # Surging: keep the oldest new pod and, while it is not available yet, the oldest old one.
    newest: Obj | None = None
    oldest_old: Obj | None = None
    doomed: list[Obj] = []
    for pod in running:
        if (pod["metadata"].get("labels") or {}).get(history.REVISION_HASH) == hash_:
            if newest is None:
                newest = pod
                continue
        elif oldest_old is None:
            oldest_old = pod
            continue
        doomed.append(pod)
    if newest is not None and oldest_old is not None and (
            not podutil.pod_ready(oldest_old) or _available(newest, min_ready, now)):
        doomed.append(oldest_old)
    return NodePlan(delete=tuple(doomed), failed=failed)


def updated_and_old(pods: list[Obj], hash_: str, generation: str | None) -> tuple[Obj | None, Obj | None, bool]:
    """The node's one new and one old pod (deleted ones ignored); False when there are more."""
    new = old = None
    for pod in pods:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        if is_updated(pod, hash_, generation):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


def surge_and_unavailable(ds: Obj, desired: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) of a RollingUpdate DaemonSet for `desired` nodes, both
    rounded up; never both zero when there is something to roll."""
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    rolling = strategy.get("rollingUpdate") or {}
    surge = scaled_value(rolling.get("maxSurge", 0), desired, True, default="0")
    unavailable = scaled_value(rolling.get("maxUnavailable", 1), desired, True, default="1")
    if desired > 0 and surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def plan_rolling(by_node: dict[str, list[Obj]], desired: set[str], should_run: Callable[[str], bool],
                 hash_: str, generation: str | None, max_surge: int, max_unavailable: int,
                 min_ready: int, now: dt.datetime) -> tuple[list[Obj], list[str]]:
    """(old pods to delete, nodes to start a new pod on) for one step of a rolling update."""
    nodes = sorted(set(by_node) | desired)
    if max_surge == 0:
        unavailable = 0
        replace: list[Obj] = []
        candidates: list[Obj] = []
        for node in nodes:
            new, old, ok = updated_and_old(by_node.get(node) or [], hash_, generation)
            if not ok or (new is None) == (old is None):
                unavailable += 1  # the manage step sorts it out; until then it counts as down
            elif new is not None:
                unavailable += not _available(new, min_ready, now)
            elif old is not None and not _available(old, min_ready, now):
                replace.append(old)
                unavailable += 1
            elif old is not None and unavailable < max_unavailable:
                candidates.append(old)
        room = min(max(max_unavailable - unavailable, 0), len(candidates))
        return replace + candidates[:room], []
    delete: list[Obj] = []
    leaving: list[Obj] = []  # old, available pods on nodes that should no longer run one
    allowed: list[str] = []
    candidate_nodes: list[str] = []
    surging = available = 0
    for node in nodes:
        new, old, ok = updated_and_old(by_node.get(node) or [], hash_, generation)
        if not ok:
            surging += 1
            continue
        shown = old if old is not None else new
        if shown is not None and _available(shown, min_ready, now):
            available += 1
        if old is None:
            continue
        if new is None:
            if not _available(old, min_ready, now):
                if should_run(node):
                    allowed.append(node)
                else:
                    delete.append(old)
            elif not should_run(node):
                leaving.append(old)
            elif surging < max_surge:
                candidate_nodes.append(node)
        elif not _available(new, min_ready, now):
            surging += 1
        else:
            delete.append(old)
    # With surge, availability stays whole: a node's pod that no longer belongs there goes only
    # once as many pods elsewhere are available.
    delete += leaving[:max(0, min(available - len(desired), len(leaving)))]
    room = min(max(max_surge - surging, 0), len(candidate_nodes))
    return delete, allowed + candidate_nodes[:room]


def calculate_status(ds: Obj, fits: dict[str, tuple[bool, bool]], by_node: dict[str, list[Obj]], hash_: str,
                     generation: str | None, now: dt.datetime, observed: bool) -> Obj:
    """The DaemonSet's status from the nodes and the pods on them (updateDaemonSetStatus)."""
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
    desired = current = misscheduled = ready = updated = available = 0
    for node, (should_run, _) in fits.items():
        pods = by_node.get(node)
        if not should_run:
            misscheduled += bool(pods)
            continue
        desired += 1
        if not pods:
            continue
        current += 1
        pod = oldest_first(pods)[0]
        if podutil.pod_ready(pod):
            ready += 1
            available += _available(pod, min_ready, now)
        updated += is_updated(pod, hash_, generation)
    status = {k: v for k, v in (ds.get("status") or {}).items() if k not in (
        "updatedNumberScheduled", "numberAvailable", "numberUnavailable")}
    status.update(desiredNumberScheduled=desired, currentNumberScheduled=current, numberMisscheduled=misscheduled,
                  numberReady=ready)
    for field, value in (("updatedNumberScheduled", updated), ("numberAvailable", available),
                         ("numberUnavailable", desired - available)):
        if value:  # omitempty, as the API serves them
            status[field] = value
    if observed:
        status["observedGeneration"] = int(ds["metadata"].get("generation") or 0)
    return status


def pod_template(ds: Obj, hash_: str, generation: str | None) -> Obj:
    """The DaemonSet's template as its pods get it: hash and generation labels, daemon tolerations."""
    template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
    md = template.setdefault("metadata", {})
    labels = md.setdefault("labels", {})
    if generation is not None:
        labels[GENERATION_LABEL] = generation
    if hash_:
        labels[history.REVISION_HASH] = hash_
    spec = template.setdefault("spec", {})
    spec["tolerations"] = daemon_tolerations(spec)
    return template


def pod_for_node(ds: Obj, template: Obj, node: str) -> Obj:
    """A new pod of the DaemonSet, pinned to `node` by a required node affinity on its name."""
    md = ds["metadata"]
    tmeta = template.get("metadata") or {}
    meta: Obj = {"generateName": f"{md['name']}-", "namespace": md.get("namespace", ""),
                 "ownerReferences": [owner_reference(ds, "DaemonSet", "apps/v1")]}
    for field in ("labels", "annotations"):
        if tmeta.get(field):
            meta[field] = dict(tmeta[field])
    spec = copy.deepcopy(template.get("spec") or {})
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    pinned = {"nodeSelectorTerms": [{"matchFields": [
        {"key": "metadata.name", "operator": "In", "values": [node]}]}]}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if isinstance(required, dict):
        required["nodeSelectorTerms"] = pinned["nodeSelectorTerms"]
    else:
        node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = pinned
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def template_generation(ds: Obj) -> str | None:
    value = ((ds.get("metadata") or {}).get("annotations") or {}).get(TEMPLATE_GENERATION)
    return value if isinstance(value, str) and value.isdigit() else None


# -- the controller --------------------------------------------------------------------------

class Requeue(Exception):
    """Something changed under this sync (a revision name collision): look again shortly."""


class DaemonSetController:
    """Run with `await start()`; `await stop()` ends every task it started."""

    def __init__(self, client: ApiClient, *, workers: int = 2, resync_period: float = 30.0) -> None:
        self.client = client
        self.workers = workers
        self.daemonsets = SharedInformer(client, DAEMONSETS, resync_period=resync_period)
        self.pods = SharedInformer(client, PODS)
        self.nodes = SharedInformer(client, NODES)
        self.queue = WorkQueue("daemonset", conflict_retry=STATUS_BATCH)
        self.revisions = Revisions(client, "DaemonSet", self.daemonsets, self.queue)
        self.expectations = Expectations()
        self.recorder = EventRecorder(client, "daemonset-controller")
        self.owned = Owned(self.pods, self.daemonsets, "DaemonSet", self.queue,
                           lambda ds, pod: selector_of(ds).matches(pod["metadata"].get("labels") or {}),
                           self.expectations)
        self._fits: dict[str, tuple[int, NodeFit]] = {}  # ds uid -> (generation, its NodeFit)
        self._backoff: dict[tuple[str, str], tuple[float, float]] = {}  # (ds uid, node) -> (not before, delay)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.daemonsets.add_handlers(on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new),
                                     on_delete=self._ds_deleted)
        self.owned.attach()
        self.nodes.add_handlers(on_add=self._node_added, on_update=self._node_updated, on_delete=self._node_added)
        for informer in (self.daemonsets, self.pods, self.nodes):
            informer.start()
        self.revisions.start()
        self._task = asyncio.create_task(self._run(), name="daemonset-controller")

    async def stop(self) -> None:
        await stop_controller(self.queue, self._task, (self.daemonsets, self.pods, self.nodes, self.revisions),
                              self.recorder.in_flight())
        self._task = None

    async def _run(self) -> None:
        for informer in (self.daemonsets, self.pods, self.nodes, self.revisions.informer):
            await informer.wait_synced()
        await self.queue.run(self.sync, self.workers)


    def _fit(self, ds: Obj) -> NodeFit:
        md = ds["metadata"]
        cached = self._fits.get(md["uid"])
        if cached is None or cached[0] != md.get("generation"):  # the template is in spec
            cached = self._fits[md["uid"]] = (int(md.get("generation") or 0), NodeFit(ds))
        return cached[1]

    # -- handlers: bookkeeping and keys only ---------------------------------------------------

    def _enqueue(self, ds: Obj) -> None:
        self.queue.add(object_key(ds))

    def _ds_deleted(self, ds: Obj) -> None:
        self.expectations.forget(object_key(ds))
        self._fits.pop(ds["metadata"].get("uid", ""), None)
        self._backoff = {k: v for k, v in self._backoff.items() if k[0] != ds["metadata"].get("uid")}
        self._enqueue(ds)

    def _node_added(self, node: Obj) -> None:
        for ds in self.daemonsets.list():
            should_run, should_continue = self._fit(ds)(node)
            if should_run or should_continue:
                self._enqueue(ds)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        if (old.get("metadata") or {}).get("labels") == (new.get("metadata") or {}).get("labels") and \
                old.get("spec") == new.get("spec"):
            return  # status and heartbeats: nothing a DaemonSet places by
        for ds in self.daemonsets.list():
            fit = self._fit(ds)
            if fit(old) != fit(new):
                self._enqueue(ds)

    # -- sync ------------------------------------------------------------------------------------

    async def sync(self, key: Hashable) -> None:
        assert isinstance(key, str)
        ds = self.daemonsets.get(key)
        if ds is None:
            self.expectations.forget(key)
            return
        if ds["metadata"].get("deletionTimestamp"):
            return  # its revisions may be going: no status can be trusted (the GC takes its pods)
        if selector_of(ds).empty:
            self.recorder.emit(ds, "Warning", "SelectingAll",
                               "This daemon set is selecting all pods. A non-empty selector is required.")
            return
        try:
            current, old = await self._history(ds)
        except Requeue as exc:
            log.info("daemonset %s: %s", key, exc)
            self.queue.add_after(key, STATUS_BATCH)
            return
        hash_ = (current["metadata"].get("labels") or {}).get(history.REVISION_HASH, "")
        generation = template_generation(ds)
        nodes = self.nodes.list()
        fit = self._fit(ds)
        fits = {n["metadata"]["name"]: fit(n) for n in nodes}
        pods = await self._claim_pods(ds)
        now = dt.datetime.now(dt.timezone.utc)
        satisfied = self.expectations.satisfied(key)
        if satisfied:
            await self._manage(key, ds, fits, pods, hash_, generation, now)
            if self.expectations.satisfied(key) and \
                    ((ds["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"):
                await self._rolling_update(key, ds, fits, pods, hash_, generation, now)
            await self._cleanup_history(ds, old, pods)
        status = calculate_status(ds, fits, pods_by_node(pods), hash_, generation, now, observed=satisfied)
        await self._write_status(ds, status)
        self._requeue_for_availability(key, ds, pods, now)

    async def _claim_pods(self, ds: Obj) -> list[Obj]:
        selector = selector_of(ds)
        return await claim(self.client, PODS, ds, "DaemonSet", "apps/v1", self.owned.candidates(ds),
                           lambda p: selector.matches(p["metadata"].get("labels") or {}))

    async def _manage(self, key: str, ds: Obj, fits: dict[str, tuple[bool, bool]], pods: list[Obj], hash_: str,
                      generation: str | None, now: dt.datetime) -> None:
        by_node = pods_by_node(pods)
        surge = surge_and_unavailable(ds, 1)[0] > 0  # kube's AllowsSurge
        min_ready = int(ds["spec"].get("minReadySeconds") or 0)
        create: list[str] = []
        delete: list[Obj] = []
        for node, (should_run, should_continue) in sorted(fits.items()):
            plan = plan_node(should_run, should_continue, by_node.get(node), hash_, surge, min_ready, now)
            if plan.create:
                create.append(node)
            delete += plan.delete
            delete += self._failed_to_delete(key, ds, node, plan.failed)
        # Pods for nodes that are gone, never scheduled: nothing else would ever delete them.
        delete += [p for node, ps in by_node.items() if node not in fits
                   for p in ps if not (p.get("spec") or {}).get("nodeName")
                   and not p["metadata"].get("deletionTimestamp")]
        await self._sync_nodes(key, ds, delete, create, hash_, generation)

    def _failed_to_delete(self, key: str, ds: Obj, node: str, failed: tuple[Obj, ...]) -> list[Obj]:
        """Failed pods of a node, once its back-off allows (a node that keeps failing them waits
        longer and longer, as kube's failedPodsBackoff)."""
        out: list[Obj] = []
        for pod in failed:
            slot = (ds["metadata"]["uid"], node)
            not_before, delay = self._backoff.get(slot, (0.0, FAILED_BACKOFF[0] / 2))
            left = not_before - time.monotonic()
            if left > 0:
                self.queue.add_after(key, left)
                continue
            delay = min(delay * 2, FAILED_BACKOFF[1])
            self._backoff[slot] = (time.monotonic() + delay, delay)
            phase = (pod.get("status") or {}).get("phase")
            name = f"{pod['metadata'].get('namespace', '')}/{pod['metadata']['name']}"
            if phase == "Failed":
                self.recorder.emit(ds, "Warning", "FailedDaemonPod",
                                   f"Found failed daemon pod {name} on node {node}, will try to kill it")
            else:
                self.recorder.emit(ds, "Normal", "SucceededDaemonPod",
                                   f"Found succeeded daemon pod {name} on node {node}, will try to delete it")
            out.append(pod)
        return out

    async def _rolling_update(self, key: str, ds: Obj, fits: dict[str, tuple[bool, bool]], pods: list[Obj],
                              hash_: str, generation: str | None, now: dt.datetime) -> None:
        desired = {node for node, (run, _) in fits.items() if run}
        max_surge, max_unavailable = surge_and_unavailable(ds, len(desired))
        delete, create = plan_rolling(pods_by_node(pods), desired, lambda n: fits.get(n, (False, False))[0],
                                      hash_, generation, max_surge, max_unavailable,
                                      int(ds["spec"].get("minReadySeconds") or 0), now)
        await self._sync_nodes(key, ds, delete, create, hash_, generation)

    async def _sync_nodes(self, key: str, ds: Obj, delete: list[Obj], create: list[str], hash_: str,
                          generation: str | None) -> None:
        create, delete = create[:BURST_REPLICAS], delete[:BURST_REPLICAS]
        if not create and not delete:
            return
        uids = [p["metadata"]["uid"] for p in delete]
        self.expectations.expect_creations(key, len(create))
        self.expectations.expect_deletions(key, uids)
        errors: list[BaseException] = []
        if create:
            errors += await self._create(key, ds, create, pod_template(ds, hash_, generation))
        results = await asyncio.gather(*(self.client.delete(PODS, p["metadata"]["name"], p["metadata"].get("namespace", ""),
                                                            uid=p["metadata"]["uid"]) for p in delete),
                                       return_exceptions=True)
        for pod, result in zip(delete, results):
            if isinstance(result, BaseException):
                self.expectations.deletion_observed(key, pod["metadata"]["uid"])  # never to be seen
                if not isinstance(result, NotFound):
                    errors.append(result)
            else:
                self.recorder.emit(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")
        if errors:
            err = errors[0]
            raise err if isinstance(err, Exception) else RuntimeError(str(err))

    async def _create(self, key: str, ds: Obj, nodes: list[str], template: Obj) -> list[BaseException]:
        ns = ds["metadata"].get("namespace", "")
        left = len(nodes)
        pos = 0
        for batch in slow_start_batches(len(nodes)):
            chunk = nodes[pos:pos + batch]
            pos += batch
            left -= batch
            results = await asyncio.gather(*(self.client.create(PODS, pod_for_node(ds, template, n), ns)
                                             for n in chunk), return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            for r in results:
                if not isinstance(r, BaseException):
                    self.recorder.emit(ds, "Normal", "SuccessfulCreate", f"Created pod: {r['metadata']['name']}")
            if errors:
                # Failed creates will never be observed, nor will the batches skipped now.
                self.expectations.creation_failed(key, len(errors) + left)
                self.recorder.emit(ds, "Warning", "FailedCreate", f"Error creating: {errors[0]}")
                if isinstance(errors[0], ApiError) and errors[0].code == 403:
                    log.info("daemonset %s: cannot create pods: %s", key, errors[0])
                    return []
                return errors
        return []

    # -- history -------------------------------------------------------------------------------

    async def _history(self, ds: Obj) -> tuple[Obj, list[Obj]]:
        """(current revision, old ones), making or renumbering the current one (constructHistory)."""
        template = ds["spec"].get("template")
        revisions = await self.revisions.claimed(ds)
        current = [r for r in revisions if history.matches(template, r)]
        old = [r for r in revisions if not history.matches(template, r)]
        number = history.next_number(old)
        if not current:
            return await self._snapshot(ds, number), old
        keep = await self._dedup(ds, current)
        if history.number(keep) < number:
            keep = await self.revisions.renumber(keep, number)
        return keep, old

    async def _snapshot(self, ds: Obj, number: int) -> Obj:
        template = ds["spec"].get("template") or {}
        collisions = int((ds.get("status") or {}).get("collisionCount") or 0)
        hash_ = template_hash(template, collisions)
        labels = {**((template.get("metadata") or {}).get("labels") or {}), history.REVISION_HASH: hash_}
        body = self.revisions.body(ds, history.revision_name(ds["metadata"]["name"], hash_),
                                   history.revision_data(template), number, labels)
        try:
            return await self.revisions.create(body)
        except NameCollision:
            fresh = await self.client.get(DAEMONSETS, ds["metadata"]["name"], ds["metadata"].get("namespace", ""))
            if int((fresh.get("status") or {}).get("collisionCount") or 0) != collisions:
                raise Requeue("stale collisionCount; waiting for the cache") from None
            fresh.setdefault("status", {})["collisionCount"] = collisions + 1
            await self.client.update_status(DAEMONSETS, fresh)
            raise Requeue(f"hash collision: collisionCount is now {collisions + 1}") from None

    async def _dedup(self, ds: Obj, current: list[Obj]) -> Obj:
        """Several revisions hold the current template: keep the newest, relabel its pods, drop the rest."""
        keep = history.by_number(current)[-1]
        if len(current) == 1:
            return keep
        keep_hash = (keep["metadata"].get("labels") or {}).get(history.REVISION_HASH, "")
        for pod in await self._claim_pods(ds):
            if (pod["metadata"].get("labels") or {}).get(history.REVISION_HASH) != keep_hash:
                await self.client.patch(PODS, pod["metadata"]["name"], {"metadata": {"labels": {
                    history.REVISION_HASH: keep_hash}}}, pod["metadata"].get("namespace", ""))
        for rev in current:
            if rev is not keep:
                await self.revisions.delete(rev)
        return keep

    async def _cleanup_history(self, ds: Obj, old: list[Obj], pods: list[Obj]) -> None:
        limit = int(ds["spec"].get("revisionHistoryLimit", 10))
        excess = len(old) - limit
        if excess <= 0:
            return
        live = {(p["metadata"].get("labels") or {}).get(history.REVISION_HASH) for p in pods}
        for rev in history.by_number(old):
            if excess <= 0:
                break
            if (rev["metadata"].get("labels") or {}).get(history.REVISION_HASH) in live:
                continue
            await self.revisions.delete(rev)
            excess -= 1

    # -- status ----------------------------------------------------------------------------------

    async def _write_status(self, ds: Obj, status: Obj) -> None:
        if status == (ds.get("status") or {}):
            return
        try:
            await self.client.update_status(DAEMONSETS, {**ds, "status": status})
        except NotFound:
            return
        except Conflict:
            self.queue.add_after(object_key(ds), STATUS_BATCH)  # the cache is behind: look again

    def _requeue_for_availability(self, key: str, ds: Obj, pods: list[Obj], now: dt.datetime) -> None:
        min_ready = int(ds["spec"].get("minReadySeconds") or 0)
        waits = [w for p in pods if (w := podutil.seconds_until_available(p, min_ready, now)) is not None]
        if waits:
            self.queue.add_after(key, min(waits) + 0.05)
