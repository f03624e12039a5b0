"""Disruption controller: keeps every PodDisruptionBudget's status, which the Eviction API obeys.

For each budget, from the pods its selector matches in its namespace (`{}` matches all of them,
no selector none):

* expectedPods: the number of pods matched, or — when the budget is a percentage or a
  maxUnavailable — the sum of the scale of the pods' controllers (a ReplicaSet's, or the
  Deployment's above it, a ReplicationController's, or any kind's scale subresource such as a
  StatefulSet's), as Kubernetes computes it; pods without a controller are then reported;
* desiredHealthy from minAvailable / maxUnavailable (rounded up), currentHealthy (ready pods not
  being deleted and not just evicted), disruptionsAllowed = currentHealthy - desiredHealthy;
* disruptedPods: the evictions the API server recorded, kept until the pod shows its deletion or
  for two minutes;
* the DisruptionAllowed condition and observedGeneration (the Eviction API refuses with 429
  while the status is older than the spec).

Status is written with the budget's resourceVersion: an eviction's decrement in between makes the
write fail, and the next sync starts from it. A budget whose expected count cannot be computed is
set to allow nothing (SyncFailed), as Kubernetes' fail-safe does.
"""

from __future__ import annotations

import asyncio
from typing import Hashable

from ..client import ApiClient, ApiError, NotFound
from ..client.kinds import PODS, REPLICASETS, resource
from ..client.shared import SharedInformer
from ..client.urls import object_key
from ..events import EventRecorder
from ..machinery import disruption as pdbmath
from ..machinery.meta import deep_copy
from ..machinery.selectors import LabelSelector, SelectorError, label_selector_from_spec
from ..machinery.types import Obj
from ..resources.registry import by_kind
from .job import Clock, utc_now
from .lifecycle import stop_controller
from .ownership import STATUS_BATCH, controller_ref
from .replicationcontroller import REPLICATIONCONTROLLERS
from .workqueue import WorkQueue

PDBS = resource("policy", "v1", "poddisruptionbudgets")
DEPLOYMENTS = resource("apps", "v1", "deployments")


class ScaleUnknown(Exception):
    """A pod's controller (or its scale) could not be found."""


def selector_of_pdb(pdb: Obj) -> LabelSelector:
    try:
        return label_selector_from_spec((pdb.get("spec") or {}).get("selector"))
    except SelectorError:
        return LabelSelector.nothing()


class DisruptionController:
    def __init__(self, client: ApiClient, *, clock: Clock = utc_now, workers: int = 2) -> None:
        self.client = client
        self.clock = clock
        self.workers = workers
        self.pdbs = SharedInformer(client, PDBS)
        self.pods = SharedInformer(client, PODS)
        self.replicasets = SharedInformer(client, REPLICASETS)
        self.deployments = SharedInformer(client, DEPLOYMENTS)
        self.rcs = SharedInformer(client, REPLICATIONCONTROLLERS)
        self.queue = WorkQueue("disruption", conflict_retry=STATUS_BATCH)
        self.recorder = EventRecorder(client, "controllermanager")
        self._task: asyncio.Task[None] | None = None

    @property
    def _informers(self) -> tuple[SharedInformer, ...]:
        return (self.pdbs, self.pods, self.replicasets, self.deployments, self.rcs)

    async def start(self) -> None:
        self.pdbs.add_handlers(on_add=self._pdb_changed, on_update=lambda old, new: self._pdb_changed(new),
                               on_delete=self._pdb_changed)
        self.pods.add_handlers(on_add=self._pod_changed, on_update=self._pod_updated, on_delete=self._pod_changed)
        for informer in (self.replicasets, self.deployments, self.rcs):
            informer.add_handlers(on_add=self._scale_changed, on_update=lambda old, new: self._scale_changed(new),
                                  on_delete=self._scale_changed)
        for informer in self._informers:
            informer.start()
        self._task = asyncio.create_task(self._run(), name="disruption-controller")

    async def stop(self) -> None:
        await stop_controller(self.queue, self._task, self._informers, self.recorder.in_flight())
        self._task = None

    async def _run(self) -> None:
        for informer in self._informers:
            await informer.wait_synced()
        await self.queue.run(self.sync, self.workers)


    # -- handlers: which budgets to look at again --------------------------------------------------

    def _pdb_changed(self, pdb: Obj) -> None:
        self.queue.add(object_key(pdb))

    def _budgets_of(self, namespace: str, labels: dict | None = None) -> list[Obj]:
        return [p for p in self.pdbs.list() if p["metadata"].get("namespace") == namespace
                and (labels is None or selector_of_pdb(p).matches(labels))]

    def _pod_changed(self, pod: Obj) -> None:
        md = pod["metadata"]
        for pdb in self._budgets_of(md.get("namespace", ""), md.get("labels") or {}):
            self.queue.add_after(object_key(pdb), STATUS_BATCH)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        self._pod_changed(new)
        if (old["metadata"].get("labels") or {}) != (new["metadata"].get("labels") or {}):
            self._pod_changed(old)

    def _scale_changed(self, controller: Obj) -> None:
        for pdb in self._budgets_of(controller["metadata"].get("namespace", "")):
            self.queue.add_after(object_key(pdb), STATUS_BATCH)

    # -- sync ----------------------------------------------------------------------------------------

    async def sync(self, key: Hashable) -> None:
        assert isinstance(key, str)
        pdb = self.pdbs.get(key)
        if pdb is None:
            return
        md, spec = pdb["metadata"], pdb.get("spec") or {}
        ns = md.get("namespace", "")
        selector = selector_of_pdb(pdb)
        pods = [p for p in self.pods.list() if p["metadata"].get("namespace") == ns
                and selector.matches(p["metadata"].get("labels") or {})]
        if not pods:
            self.recorder.emit(pdb, "Normal", "NoPods", "No matching pods found")
        now = self.clock()
        status = deep_copy(pdb.get("status") or {})
        try:
            expected, unmanaged = await self._expected(pdb, pods)
            desired = pdbmath.desired_healthy(spec, expected)
        except (ScaleUnknown, ValueError) as exc:
            self.recorder.emit(pdb, "Warning", "CalculateExpectedPodCountFailed",
                               f"Failed to calculate the number of expected pods: {exc}")
            status["disruptionsAllowed"] = 0
            status["observedGeneration"] = int(md.get("generation") or 0)
            pdbmath.set_allowed_condition(status, status["observedGeneration"], now, reason="SyncFailed",
                                          message=str(exc))
            await self._write(pdb, status)
            return
        if unmanaged:
            self.recorder.emit(pdb, "Warning", "UnmanagedPods",
                               f"Pods selected by this PodDisruptionBudget (selector: {selector}) were found to be "
                               "unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may "
                               "result in undefined behavior. To account for these pods please set \".spec.minAvailable\" "
                               "field of the PDB to an integer value.")
        disrupted, recheck = pdbmath.recent_disruptions(pods, status.get("disruptedPods") or {}, now)
        current = pdbmath.healthy(pods, disrupted)
        allowed = current - desired if expected > 0 and current > desired else 0
        status.update(currentHealthy=current, desiredHealthy=desired, expectedPods=expected,
                      disruptionsAllowed=allowed, observedGeneration=int(md.get("generation") or 0))
        if disrupted:
            status["disruptedPods"] = disrupted
        else:
            status.pop("disruptedPods", None)
        pdbmath.set_allowed_condition(status, status["observedGeneration"], now)
        await self._write(pdb, status)
        if recheck is not None:
            self.queue.add_after(key, (recheck - now).total_seconds() + 0.05)

    async def _write(self, pdb: Obj, status: Obj) -> None:
        if status == (pdb.get("status") or {}):
            return
        try:
            await self.client.update_status(PDBS, {**pdb, "status": status})
        except NotFound:
            return

    # -- expected pods -------------------------------------------------------------------------------

    async def _expected(self, pdb: Obj, pods: list[Obj]) -> tuple[int, list[Obj]]:
        """(expected pods, pods without a controller), as getExpectedPodCount computes them."""
        if not pdbmath.needs_scale(pdb.get("spec") or {}):
            return len(pods), []
        scales: dict[str, int] = {}
        unmanaged: list[Obj] = []
        for pod in pods:
            ref = controller_ref(pod)
            if ref is None:
                unmanaged.append(pod)
                continue
            if ref.get("uid") in scales:
                continue
            uid, replicas = await self._scale_of(pod, ref)
            scales[uid] = replicas
        return sum(scales.values()), unmanaged

    async def _scale_of(self, pod: Obj, ref: Obj) -> tuple[str, int]:
        """(controller uid, its desired replicas): a ReplicaSet counts as its Deployment."""
        ns = pod["metadata"].get("namespace", "")
        kind, name, uid = ref.get("kind"), ref.get("name", ""), ref.get("uid")
        cached = {"ReplicaSet": self.replicasets, "ReplicationController": self.rcs,
                  "Deployment": self.deployments}.get(kind or "")
        if cached is not None:
            owner = cached.get(f"{ns}/{name}")
            if owner is not None and owner["metadata"].get("uid") == uid:
                above = controller_ref(owner)
                if kind == "ReplicaSet" and above is not None and above.get("kind") == "Deployment":
                    deployment = self.deployments.get(f"{ns}/{above.get('name', '')}")
                    if deployment is not None and deployment["metadata"].get("uid") == above.get("uid"):
                        owner = deployment
                return owner["metadata"]["uid"], int((owner.get("spec") or {}).get("replicas", 1))
            raise ScaleUnknown(f'found no controllers for pod "{pod["metadata"]["name"]}"')
        info = by_kind(ref.get("apiVersion", ""), kind or "")
        if info is None or info.subresource("scale") is None:
            raise ScaleUnknown(f'found no controllers for pod "{pod["metadata"]["name"]}"')
        try:
            scale = await self.client.request("GET", self.client.url(info, ns, name, "scale"))
        except ApiError as exc:
            raise ScaleUnknown(f'found no controllers for pod "{pod["metadata"]["name"]}": {exc.message}') from None
        return str(uid), int((scale.get("spec") or {}).get("replicas") or 0)
