"""The PersistentVolume binder (kube's persistentvolume controller): claims meet volumes.

Claims (keys `claim:<ns>/<name>`) and volumes (`volume:<name>`) share one work queue; every
sync re-reads the caches and takes one step, so a binder killed between two writes finishes
the binding on its next look:

* an unbound claim binds the volume pre-bound to it, else the smallest Available volume that
  serves it (capacity, access modes, class, selector, volumeMode; for a WaitForFirstConsumer
  class only once the scheduler has picked a node, and only a volume that node may use);
  failing that, a class with a provisioner gets the `volume.kubernetes.io/storage-provisioner`
  annotation and the provisioner makes one (ExternalProvisioning), a WaitForFirstConsumer
  claim waits for its pod (WaitForFirstConsumer);
* binding writes the volume's claimRef and phase Bound, then the claim's volumeName and phase
  Bound with the volume's capacity and access modes (bind-completed / bound-by-controller);
* a bound claim whose volume vanished is Lost; a volume whose claim is gone is Released, then
  its reclaim policy applies: Retain keeps it (and its data) for an administrator, Delete is
  the provisioner's to carry out (a volume nobody provisioned cannot be deleted: Failed).

A claim with no storageClassName is given the default class once one exists (kube's
retroactive default StorageClass assignment).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Hashable

from ..client import ApiClient, NotFound
from ..client.kinds import NODES, PERSISTENT_VOLUME_CLAIMS, PERSISTENT_VOLUMES, STORAGE_CLASSES
from ..client.shared import SharedInformer
from ..events import EventRecorder
from ..machinery import volumes as v
from ..machinery.meta import deep_copy, now_rfc3339
from ..machinery.types import Obj
from .lifecycle import cancel_and_wait, stop_controller
from .workqueue import WorkQueue

log = logging.getLogger(__name__)

COMPONENT = "persistentvolume-controller"
RESYNC = 30.0  # seconds between looks at every claim and volume (events are only hints)
CONFLICT_RETRY = 0.05

NO_CLASS = "no persistent volumes available for this claim and no storage class is set"
WAIT_FOR_CONSUMER = "waiting for first consumer to be created before binding"
EXTERNAL = ("Waiting for a volume to be created either by the external provisioner '{}' or manually by the "
            "system administrator. If volume creation is delayed, please verify that the provisioner is "
            "running and correctly registered.")
LOST = "Bound claim has lost its PersistentVolume. Data on the volume is lost!"
MISBOUND = "Two claims are bound to the same volume, this one is bound incorrectly"
NO_DELETER = 'error getting deleter volume plugin for volume "{}": no deletable volume plugin matched'
NO_RECYCLER = "No recycler plugin found for the volume!"


def claim_key(key: str) -> str:
    return f"claim:{key}"


def volume_key(name: str) -> str:
    return f"volume:{name}"


def _claim_reference(pvc: Obj) -> Obj:
    md = pvc["metadata"]
    return {"kind": "PersistentVolumeClaim", "namespace": md.get("namespace", ""), "name": md["name"],
            "uid": md.get("uid", ""), "apiVersion": "v1", "resourceVersion": md.get("resourceVersion", "")}


def _set_annotation(obj: Obj, key: str, value: str) -> None:
    obj["metadata"]["annotations"] = {**(obj["metadata"].get("annotations") or {}), key: value}


class PersistentVolumeController:
    def __init__(self, client: ApiClient, *, resync: float = RESYNC) -> None:
        self.client = client
        self.resync = resync
        self.claims = SharedInformer(client, PERSISTENT_VOLUME_CLAIMS)
        self.volumes = SharedInformer(client, PERSISTENT_VOLUMES)
        self.classes = SharedInformer(client, STORAGE_CLASSES)
        self.nodes = SharedInformer(client, NODES)
        self.queue = WorkQueue("persistentvolume", conflict_retry=CONFLICT_RETRY)
        self.recorder = EventRecorder(client, COMPONENT)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def _informers(self) -> tuple[SharedInformer, ...]:
        return (self.claims, self.volumes, self.classes, self.nodes)

    async def start(self) -> None:
        self.claims.add_handlers(on_add=self._claim_changed, on_update=lambda old, new: self._claim_changed(new),
                                 on_delete=self._claim_deleted)
        self.volumes.add_handlers(on_add=self._volume_changed, on_update=lambda old, new: self._volume_changed(new),
                                  on_delete=self._volume_deleted)
        self.classes.add_handlers(on_add=self._class_changed, on_update=lambda old, new: self._class_changed(new))
        for informer in self._informers:
            informer.start()
        self._tasks = [asyncio.create_task(self._run(), name=COMPONENT),
                       asyncio.create_task(self._resync_loop(), name=f"{COMPONENT}-resync")]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks[1:])
        await stop_controller(self.queue, self._tasks[0] if self._tasks else None, self._informers)

    async def _run(self) -> None:
        for informer in self._informers:
            await informer.wait_synced()
        await self.queue.run(self.sync)

    async def _resync_loop(self) -> None:
        for informer in self._informers:
            await informer.wait_synced()
        while True:
            await asyncio.sleep(self.resync)
            self._enqueue_all()

    def _enqueue_all(self) -> None:
        for key in self.claims.keys():
            self.queue.add(claim_key(key))
        for name in self.volumes.keys():
            self.queue.add(volume_key(name))

    # -- handlers: they only say what to look at ------------------------------------------------

    def _claim_changed(self, pvc: Obj) -> None:
        self.queue.add(claim_key(v.key_of(pvc)))
        if pvc.get("spec", {}).get("volumeName"):
            self.queue.add(volume_key(pvc["spec"]["volumeName"]))

    def _claim_deleted(self, pvc: Obj) -> None:
        self._claim_changed(pvc)
        key = v.key_of(pvc)
        for pv in self.volumes.list():
            if v.claim_ref_key(pv) == key:
                self.queue.add(volume_key(pv["metadata"]["name"]))

    def _volume_changed(self, pv: Obj) -> None:
        self.queue.add(volume_key(pv["metadata"]["name"]))
        if v.claim_ref_key(pv):
            self.queue.add(claim_key(v.claim_ref_key(pv)))
        elif v.phase(pv) in ("", v.PENDING, v.AVAILABLE):
            self._enqueue_unbound()  # a new or freed volume may serve a waiting claim

    def _volume_deleted(self, pv: Obj) -> None:
        if v.claim_ref_key(pv):
            self.queue.add(claim_key(v.claim_ref_key(pv)))
        for pvc in self.claims.list():
            if pvc.get("spec", {}).get("volumeName") == pv["metadata"]["name"]:
                self.queue.add(claim_key(v.key_of(pvc)))

    def _class_changed(self, sc: Obj) -> None:
        self._enqueue_unbound()

    def _enqueue_unbound(self) -> None:
        for pvc in self.claims.list():
            if not (pvc.get("spec") or {}).get("volumeName"):
                self.queue.add(claim_key(v.key_of(pvc)))

    # -- sync -------------------------------------------------------------------------------------

    async def sync(self, key: Hashable) -> None:
        kind, _, name = str(key).partition(":")
        if kind == "claim":
            pvc = self.claims.get(name)
            if pvc is not None:
                await self._sync_claim(pvc)
        else:
            pv = self.volumes.get(name)
            if pv is not None:
                await self._sync_volume(pv)

    def _class(self, name: str) -> Obj | None:
        return self.classes.get(name) if name else None

    async def _sync_claim(self, pvc: Obj) -> None:
        if (pvc.get("spec") or {}).get("volumeName"):
            await self._sync_bound_claim(pvc)
        else:
            await self._sync_unbound_claim(pvc)

    async def _sync_unbound_claim(self, pvc: Obj) -> None:
        spec = pvc.get("spec") or {}
        if spec.get("storageClassName") is None and v.BETA_CLASS not in v.annotations_of(pvc):
            default = v.default_class(self.classes.list())
            if default is not None:  # retroactive default StorageClass assignment
                new = deep_copy(pvc)
                new["spec"]["storageClassName"] = default["metadata"]["name"]
                await self.client.update(PERSISTENT_VOLUME_CLAIMS, new)
                return
        class_name = v.class_of(pvc)
        sc = self._class(class_name)
        delayed = v.binding_mode(sc) == v.WAIT_FOR_FIRST_CONSUMER
        node_name = v.selected_node(pvc)
        node = self.nodes.get(node_name) if node_name else None
        if delayed and node is None:  # no node chosen yet (or it is gone): only a pre-bound volume
            if node_name:
                self.recorder.warning(pvc, "FailedBinding", f'node "{node_name}" selected for the claim was not '
                                                            "found; waiting for the scheduler to select another")
            pv = v.best_volume([pv for pv in self.volumes.list() if v.bound_to(pv, pvc)], pvc)
        elif node is not None:
            pv = v.best_volume(self.volumes.list(), pvc, node=((node.get("metadata") or {}).get("labels") or {},
                                                                node_name))
        else:
            pv = v.best_volume(self.volumes.list(), pvc)
        if pv is not None:
            if v.class_of(pv) != class_name or v.capacity_bytes(pv) < v.requested_bytes(pvc):
                self.recorder.warning(pvc, "VolumeMismatch", "Volume's size is smaller than requested or volume's "
                                                             "class does not match with claim")
                return
            await self._bind(pv, pvc)
            return
        await self._claim_status(pvc, v.PENDING)
        if not class_name:
            self.recorder.normal(pvc, "FailedBinding", NO_CLASS)
        elif sc is None:
            self.recorder.warning(pvc, "ProvisioningFailed", f'storageclass.storage.k8s.io "{class_name}" not found')
        elif delayed and not node_name:
            self.recorder.normal(pvc, "WaitForFirstConsumer", WAIT_FOR_CONSUMER)
        elif sc.get("provisioner") == v.NO_PROVISIONER:
            self.recorder.normal(pvc, "FailedBinding", "no persistent volumes available for this claim and its "
                                                       f'storage class "{class_name}" provisions none')
        else:
            await self._ask_provisioner(pvc, str(sc.get("provisioner") or ""))

    async def _ask_provisioner(self, pvc: Obj, provisioner: str) -> None:
        ann = v.annotations_of(pvc)
        if ann.get(v.STORAGE_PROVISIONER) != provisioner or ann.get(v.BETA_STORAGE_PROVISIONER) != provisioner:
            new = deep_copy(pvc)
            _set_annotation(new, v.STORAGE_PROVISIONER, provisioner)
            _set_annotation(new, v.BETA_STORAGE_PROVISIONER, provisioner)
            await self.client.update(PERSISTENT_VOLUME_CLAIMS, new)
        self.recorder.normal(pvc, "ExternalProvisioning", EXTERNAL.format(provisioner))

    async def _bind(self, pv: Obj, pvc: Obj) -> None:
        """Volume first (claimRef, then Bound), then the claim: a crash in between leaves a
        pre-bound volume, which the claim's next sync binds again."""
        if not v.bound_to(pv, pvc) or not (v.claim_ref(pv) or {}).get("uid"):
            new = deep_copy(pv)
            new["spec"]["claimRef"] = _claim_reference(pvc)
            if not v.bound_to(pv, pvc):
                _set_annotation(new, v.BOUND_BY_CONTROLLER, "yes")
            pv = await self.client.update(PERSISTENT_VOLUMES, new)
        pv = await self._volume_status(pv, v.BOUND)
        name = pv["metadata"]["name"]
        claim = deep_copy(pvc)
        changed = claim["spec"].get("volumeName") != name or v.annotations_of(pvc).get(v.BIND_COMPLETED) != "yes"
        if claim["spec"].get("volumeName") != name:
            claim["spec"]["volumeName"] = name
            _set_annotation(claim, v.BOUND_BY_CONTROLLER, "yes")
        _set_annotation(claim, v.BIND_COMPLETED, "yes")
        if changed:
            claim = await self.client.update(PERSISTENT_VOLUME_CLAIMS, claim)
        await self._claim_status(claim, v.BOUND, pv)
        log.info("bound claim %s to volume %s", v.key_of(pvc), name)

    async def _sync_bound_claim(self, pvc: Obj) -> None:
        name = pvc["spec"]["volumeName"]
        pv = self.volumes.get(name)
        if pv is None:
            if v.phase(pvc) != v.LOST:
                await self._claim_status(pvc, v.LOST)
                self.recorder.warning(pvc, "ClaimLost", LOST)
            return
        ref = v.claim_ref(pv)
        if ref is None or (v.bound_to(pv, pvc) and not ref.get("uid")):
            why = v.unsuitable(pv, pvc)  # the user named the volume; it must still serve the claim
            if why:
                self.recorder.warning(pvc, "FailedBinding", f'volume "{name}" cannot serve this claim: {why}')
                await self._claim_status(pvc, v.PENDING)
                return
            await self._bind(pv, pvc)
        elif v.bound_to(pv, pvc):
            if v.phase(pv) != v.BOUND:
                await self._volume_status(pv, v.BOUND)
            if v.annotations_of(pvc).get(v.BIND_COMPLETED) != "yes":
                claim = deep_copy(pvc)
                _set_annotation(claim, v.BIND_COMPLETED, "yes")
                pvc = await self.client.update(PERSISTENT_VOLUME_CLAIMS, claim)
            await self._claim_status(pvc, v.BOUND, pv)
        elif v.BOUND_BY_CONTROLLER in v.annotations_of(pvc):
            if v.phase(pvc) != v.LOST:
                await self._claim_status(pvc, v.LOST)
                self.recorder.warning(pvc, "ClaimMisbound", MISBOUND)
        else:
            self.recorder.warning(pvc, "FailedBinding", f'volume "{name}" already bound to a different claim.')
            await self._claim_status(pvc, v.PENDING)

    async def _sync_volume(self, pv: Obj) -> None:
        ref = v.claim_ref(pv)
        if ref is None:
            await self._volume_status(pv, v.AVAILABLE)
            return
        if not ref.get("uid"):  # pre-bound by an administrator: its claim binds it
            await self._volume_status(pv, v.AVAILABLE)
            self.queue.add(claim_key(v.claim_ref_key(pv)))
            return
        pvc = self.claims.get(v.claim_ref_key(pv))
        if pvc is not None and pvc["metadata"].get("uid") == ref.get("uid"):
            bound_name = (pvc.get("spec") or {}).get("volumeName")
            if bound_name == pv["metadata"]["name"]:
                await self._volume_status(pv, v.BOUND)
            elif not bound_name:
                self.queue.add(claim_key(v.key_of(pvc)))  # binding in progress: the claim finishes it
            elif v.BOUND_BY_CONTROLLER in v.annotations_of(pv):
                new = deep_copy(pv)  # the claim took another volume: free this one
                new["spec"].pop("claimRef", None)
                await self._volume_status(await self.client.update(PERSISTENT_VOLUMES, new), v.AVAILABLE)
            return
        await self._release(pv)

    async def _release(self, pv: Obj) -> None:
        if v.phase(pv) not in (v.RELEASED, v.FAILED):
            pv = await self._volume_status(pv, v.RELEASED)
        policy = (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy") or v.RETAIN
        if policy == v.DELETE and not v.annotations_of(pv).get(v.PROVISIONED_BY) and v.phase(pv) != v.FAILED:
            message = NO_DELETER.format(pv["metadata"]["name"])
            await self._volume_status(pv, v.FAILED, "VolumeFailedDelete", message)
            self.recorder.warning(pv, "VolumeFailedDelete", message)
        elif policy == v.RECYCLE and v.phase(pv) != v.FAILED:
            await self._volume_status(pv, v.FAILED, "VolumeFailedRecycle", NO_RECYCLER)
            self.recorder.warning(pv, "VolumeFailedRecycle", NO_RECYCLER)
        # Retain: the volume and its data wait for an administrator. Delete of a provisioned
        # volume: its provisioner deletes the storage, then the volume object.

    # -- status writes --------------------------------------------------------------------------------

    async def _volume_status(self, pv: Obj, phase: str, reason: str = "", message: str = "") -> Obj:
        status = pv.get("status") or {}
        if (status.get("phase"), status.get("reason", ""), status.get("message", "")) == (phase, reason, message):
            return pv
        new = deep_copy(pv)
        new_status = {k: val for k, val in status.items() if k not in ("reason", "message")}
        if status.get("phase") != phase:
            new_status["lastPhaseTransitionTime"] = now_rfc3339()
        new_status["phase"] = phase
        if reason:
            new_status["reason"], new_status["message"] = reason, message
        new["status"] = new_status
        try:
            return await self.client.update_status(PERSISTENT_VOLUMES, new)
        except NotFound:
            return pv

    async def _claim_status(self, pvc: Obj, phase: str, pv: Obj | None = None) -> Obj:
        status = dict(pvc.get("status") or {})
        wanted = dict(status, phase=phase)
        if pv is not None:
            wanted["capacity"] = dict((pv.get("spec") or {}).get("capacity") or {})
            wanted["accessModes"] = list((pv.get("spec") or {}).get("accessModes") or [])
        elif phase == v.PENDING:
            wanted.pop("capacity", None)
            wanted.pop("accessModes", None)
        if wanted == status:
            return pvc
        new = deep_copy(pvc)
        new["status"] = wanted
        try:
            return await self.client.update_status(PERSISTENT_VOLUME_CLAIMS, new, v.key_of(pvc).partition("/")[0])
        except NotFound:
            return pvc
