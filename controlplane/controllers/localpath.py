"""The built-in local provisioner, control-plane half (k3s's local-path-provisioner, as a
controller): it makes a PersistentVolume for each claim the binder hands to `pyctl.io/local-path`
and takes it away again when its reclaim policy says Delete.

Provisioning: a claim annotated `volume.kubernetes.io/storage-provisioner: pyctl.io/local-path`
gets the volume `pvc-<claim uid>` on one node: the scheduler's choice for a WaitForFirstConsumer
class (`volume.kubernetes.io/selected-node`), else the Ready node with local storage and the most
room. The volume is a `local` one at `<the node's volume dir>/pvc-<uid>`, pinned to the node by
affinity and pre-bound to the claim; the node's agent makes the directory (gateway/volumes.py).
Too little room on the node, or no local storage there: ProvisioningFailed, and the selected
node is taken off the claim so the scheduler chooses again.

Deletion: a Released volume with reclaim policy Delete is deleted; its finalizer
(`external-provisioner.volume.kubernetes.io/finalizer`) keeps the object until its node's agent
has removed the directory. A Retain volume being deleted loses only that finalizer: the data stays.

On start it makes the StorageClass `local-path` (the default class, WaitForFirstConsumer) when
the cluster has no class of that name, as k3s installs its local-path class.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Hashable

from ..client import AlreadyExists, ApiClient, ApiError, NotFound
from ..client.kinds import NODES, PERSISTENT_VOLUME_CLAIMS, PERSISTENT_VOLUMES, STORAGE_CLASSES
from ..client.finalizers import set_finalizers
from ..client.shared import SharedInformer
from ..events import EventRecorder
from ..machinery import volumes as v
from ..machinery.meta import deep_copy
from ..machinery.types import Obj
from .lifecycle import stop_controller
from .workqueue import WorkQueue

log = logging.getLogger(__name__)

DEFAULT_CLASS = "local-path"
CONFLICT_RETRY = 0.05


@dataclass(frozen=True)
class LocalPathConfig:
    storage_class: str = DEFAULT_CLASS
    """The class made at start if absent (the cluster's default); "" to make none."""


def default_storage_class(name: str = DEFAULT_CLASS) -> Obj:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": name, "annotations": {v.DEFAULT_CLASS: "true"}},
            "provisioner": v.LOCAL_PATH, "reclaimPolicy": v.DELETE,
            "volumeBindingMode": v.WAIT_FOR_FIRST_CONSUMER}


def _node_ready(node: Obj) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions) \
        and not (node.get("spec") or {}).get("unschedulable")


def format_bytes(n: int) -> str:
    for unit, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    for unit, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


class ProvisioningFailed(Exception):
    """The claim cannot get a volume this way; `reschedule`: another node might do."""

    def __init__(self, message: str, reschedule: bool = False) -> None:
        super().__init__(message)
        self.reschedule = reschedule


class LocalPathProvisioner:
    def __init__(self, client: ApiClient, config: LocalPathConfig | None = None) -> None:
        self.client = client
        self.config = config or LocalPathConfig()
        self.claims = SharedInformer(client, PERSISTENT_VOLUME_CLAIMS)
        self.volumes = SharedInformer(client, PERSISTENT_VOLUMES)
        self.classes = SharedInformer(client, STORAGE_CLASSES)
        self.nodes = SharedInformer(client, NODES)
        self.queue = WorkQueue("local-path-provisioner", conflict_retry=CONFLICT_RETRY)
        # The source of its events, as an external provisioner names itself (<name>_<identity>).
        self.recorder = EventRecorder(client, f"{v.LOCAL_PATH}_{uuid.uuid4()}")
        self._made: dict[str, Obj] = {}  # volumes created, until the cache shows them
        self._task: asyncio.Task[None] | None = None

    @property
    def _informers(self) -> tuple[SharedInformer, ...]:
        return (self.claims, self.volumes, self.classes, self.nodes)

    async def start(self) -> None:
        self.claims.add_handlers(on_add=self._claim, on_update=lambda old, new: self._claim(new))
        self.volumes.add_handlers(on_add=self._volume, on_update=lambda old, new: self._volume(new),
                                  on_delete=self._volume_gone)
        self.classes.add_handlers(on_add=lambda sc: self._all_claims(), on_update=lambda old, new: self._all_claims())
        for informer in self._informers:
            informer.start()
        self._task = asyncio.create_task(self._run(), name="local-path-provisioner")

    async def stop(self) -> None:
        await stop_controller(self.queue, self._task, self._informers)

    async def _run(self) -> None:
        for informer in self._informers:
            await informer.wait_synced()
        await self._ensure_class()
        await self.queue.run(self.sync)

    async def _ensure_class(self) -> None:
        name = self.config.storage_class
        if not name or self.classes.get(name) is not None:
            return
        try:
            await self.client.create(STORAGE_CLASSES, default_storage_class(name))
            log.info("created the StorageClass %s (provisioner %s)", name, v.LOCAL_PATH)
        except AlreadyExists:
            pass
        except ApiError as exc:
            log.warning("cannot create the StorageClass %s: %s", name, exc)

    # -- handlers ----------------------------------------------------------------------------------

    def _claim(self, pvc: Obj) -> None:
        if v.provisioner_of(pvc) == v.LOCAL_PATH:
            self.queue.add(f"claim:{v.key_of(pvc)}")

    def _all_claims(self) -> None:
        for pvc in self.claims.list():
            self._claim(pvc)

    def _volume(self, pv: Obj) -> None:
        if v.annotations_of(pv).get(v.PROVISIONED_BY) == v.LOCAL_PATH:
            self._made.pop(pv["metadata"]["name"], None)
            self.queue.add(f"volume:{pv['metadata']['name']}")

    def _volume_gone(self, pv: Obj) -> None:
        self._made.pop(pv["metadata"]["name"], None)
        if v.claim_ref_key(pv):
            self.queue.add(f"claim:{v.claim_ref_key(pv)}")

    # -- sync -----------------------------------------------------------------------------------------

    async def sync(self, key: Hashable) -> None:
        kind, _, name = str(key).partition(":")
        if kind == "claim":
            pvc = self.claims.get(name)
            if pvc is not None:
                await self._provision(pvc)
        else:
            pv = self.volumes.get(name)
            if pv is not None and v.annotations_of(pv).get(v.PROVISIONED_BY) == v.LOCAL_PATH:
                await self._reclaim(pv)

    def _wants_volume(self, pvc: Obj) -> bool:
        return (v.provisioner_of(pvc) == v.LOCAL_PATH and not (pvc.get("spec") or {}).get("volumeName")
                and not pvc["metadata"].get("deletionTimestamp") and v.phase(pvc) in ("", v.PENDING))

    def _all_volumes(self) -> list[Obj]:
        cached = {pv["metadata"]["name"]: pv for pv in self.volumes.list()}
        return list({**self._made, **cached}.values())

    async def _provision(self, pvc: Obj) -> None:
        if not self._wants_volume(pvc):
            return
        name = f"pvc-{pvc['metadata']['uid']}"
        if self.volumes.get(name) is not None or name in self._made:
            return  # made already: the binder binds it
        sc = self.classes.get(v.class_of(pvc))
        if sc is None or sc.get("provisioner") != v.LOCAL_PATH:
            return
        if v.binding_mode(sc) == v.WAIT_FOR_FIRST_CONSUMER and not v.selected_node(pvc):
            return  # the scheduler picks the node when the first pod comes
        try:
            node = self._node_for(pvc, sc)
            pv = self._volume_for(pvc, sc, node, name)
        except ProvisioningFailed as exc:
            message = f'failed to provision volume with StorageClass "{sc["metadata"]["name"]}": {exc}'
            self.recorder.warning(pvc, "ProvisioningFailed", message)
            if exc.reschedule and v.selected_node(pvc):
                await self._unselect(pvc)
            return
        self.recorder.normal(pvc, "Provisioning", f'External provisioner is provisioning volume for claim '
                                                  f'"{v.key_of(pvc)}"')
        try:
            created = await self.client.create(PERSISTENT_VOLUMES, pv)
        except AlreadyExists:
            return
        self._made[name] = created
        log.info("provisioned %s on node %s for claim %s", name, node["metadata"]["name"], v.key_of(pvc))
        self.recorder.normal(pvc, "ProvisioningSucceeded", f"Successfully provisioned volume {name}")

    def _node_for(self, pvc: Obj, sc: Obj) -> Obj:
        wanted, selected = v.requested_bytes(pvc), v.selected_node(pvc)
        if selected:
            node = self.nodes.get(selected)
            if node is None:
                raise ProvisioningFailed(f'node "{selected}" not found', reschedule=True)
            self._check_room(node, wanted)
            return node
        candidates = [n for n in self.nodes.list() if _node_ready(n) and v.node_volume_dir(n)
                      and v.topology_allows(sc, n)]
        if not candidates:
            raise ProvisioningFailed("no Ready node has local storage for pyctl-agent volumes")
        best = max(candidates, key=lambda n: (self._free(n), n["metadata"]["name"]))
        self._check_room(best, wanted)
        return best

    def _free(self, node: Obj) -> int:
        capacity = v.node_volume_capacity(node) or 0
        return capacity - v.local_bytes_used(node["metadata"]["name"], self._all_volumes())

    def _check_room(self, node: Obj, wanted: int) -> None:
        name = node["metadata"]["name"]
        if not v.node_volume_dir(node):
            raise ProvisioningFailed(f'node "{name}" has no local storage for volumes (its agent provisions none)',
                                     reschedule=True)
        free = self._free(node)
        if free < wanted:
            raise ProvisioningFailed(f'node "{name}" has {format_bytes(max(free, 0))} free for local volumes, '
                                     f"the claim requests {format_bytes(wanted)}", reschedule=True)

    def _volume_for(self, pvc: Obj, sc: Obj, node: Obj, name: str) -> Obj:
        spec = pvc.get("spec") or {}
        if spec.get("dataSource") or spec.get("dataSourceRef"):
            raise ProvisioningFailed(f"{v.LOCAL_PATH} cannot fill a volume from a data source")
        if v.volume_mode(pvc) != v.FILESYSTEM:
            raise ProvisioningFailed(f"{v.LOCAL_PATH} provisions Filesystem volumes only, not {v.volume_mode(pvc)}")
        if spec.get("selector") is not None:
            raise ProvisioningFailed("claim Selector is not supported")
        node_name, md = node["metadata"]["name"], pvc["metadata"]
        directory = v.node_volume_dir(node).rstrip("/")
        pv_spec: Obj = {
            "capacity": {"storage": str((spec.get("resources") or {}).get("requests", {}).get("storage"))},
            "accessModes": list(spec.get("accessModes") or []),
            "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or v.DELETE,
            "storageClassName": sc["metadata"]["name"],
            "volumeMode": v.FILESYSTEM,
            "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": md.get("namespace", ""),
                         "name": md["name"], "uid": md["uid"], "resourceVersion": md.get("resourceVersion", "")},
            "local": {"path": f"{directory}/{name}"},
            "nodeAffinity": v.hostname_affinity(node_name),
        }
        if sc.get("mountOptions"):
            pv_spec["mountOptions"] = list(sc["mountOptions"])
        return {"apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": name, "annotations": {v.PROVISIONED_BY: v.LOCAL_PATH},
                             "finalizers": [v.PROVISIONER_FINALIZER]},
                "spec": pv_spec}

    async def _unselect(self, pvc: Obj) -> None:
        """Give the claim back to the scheduler: it picks another node (kube's reschedule)."""
        new = deep_copy(pvc)
        new["metadata"]["annotations"] = {k: val for k, val in v.annotations_of(pvc).items() if k != v.SELECTED_NODE}
        try:
            await self.client.update(PERSISTENT_VOLUME_CLAIMS, new)
        except NotFound:
            pass

    async def _reclaim(self, pv: Obj) -> None:
        policy = (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy")
        md = pv["metadata"]
        if not md.get("deletionTimestamp"):
            if v.phase(pv) == v.RELEASED and policy == v.DELETE:
                try:  # the finalizer keeps it until the node has deleted the directory
                    await self.client.delete(PERSISTENT_VOLUMES, md["name"], uid=md.get("uid", ""))
                except NotFound:
                    pass
            return
        if policy != v.DELETE and v.PROVISIONER_FINALIZER in (md.get("finalizers") or []):
            # Retain: the object goes, the directory and its data stay.
            await set_finalizers(self.client, PERSISTENT_VOLUMES, pv,
                                 [f for f in md["finalizers"] if f != v.PROVISIONER_FINALIZER])
