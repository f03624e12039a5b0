"""Persistent volumes on the nodes: what each agent mounts for its pods' claims, which local
volumes it keeps or deletes, and what it reports back.

* `claims_for(pod)`: each PersistentVolumeClaim volume of a pod bound to the node, resolved to
  the directory the node mounts (a `local` or `hostPath` PersistentVolume), or the kubelet's
  reason it cannot be (not found, not bound, a source the node cannot mount). A claim or volume
  change offers the pods that use it again (the same path as Secrets and ConfigMaps take).
* `node_volumes(node)`: the built-in provisioner's volumes on that node, always complete; KEEP,
  or DELETE once `local_data_deletable` says the reclaim policy asks for it and nothing uses it.
* `report(node, VolumeReport)`: a deletion done lets the volume object go (its provisioner
  finalizer is removed); a failure becomes a Warning event on the volume.

Node annotations record where an agent keeps local volumes and how much room they have (from
its Register), for the provisioner and the scheduler.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Coroutine

from pyctl_proto import node_pb2 as pb

from ..client import ApiClient, ApiError
from ..client.finalizers import set_finalizers
from ..client.kinds import PERSISTENT_VOLUME_CLAIMS, PERSISTENT_VOLUMES
from ..client.shared import SharedInformer
from ..events import EventRecorder
from ..machinery import volumes as v
from ..machinery.types import Obj

log = logging.getLogger(__name__)

ClaimChanged = Callable[[str, str], None]  # (namespace, claim name)


def node_annotations(reg: pb.Register) -> dict[str, str | None]:
    """The Node annotations for an agent's local storage (None: remove, it has none now)."""
    if not reg.HasField("local_storage") or not reg.local_storage.path:
        return {v.NODE_VOLUME_DIR: None, v.NODE_VOLUME_CAPACITY: None}
    return {v.NODE_VOLUME_DIR: reg.local_storage.path,
            v.NODE_VOLUME_CAPACITY: str(max(reg.local_storage.capacity_bytes, 0))}


def _mountable(pv: Obj) -> tuple[str, str, str] | None:
    """(kind, path, hostPath type) of a volume a node can mount itself, else None."""
    spec = pv.get("spec") or {}
    if isinstance(spec.get("local"), dict):
        return "local", str(spec["local"].get("path") or ""), ""
    if isinstance(spec.get("hostPath"), dict):
        return "hostPath", str(spec["hostPath"].get("path") or ""), str(spec["hostPath"].get("type") or "")
    return None


class VolumeDirectory:
    """Claims and volumes, as the gateway's sessions need them."""

    def __init__(self, client: ApiClient, claim_changed: ClaimChanged) -> None:
        self.client = client
        self._claim_changed = claim_changed
        self.claims = SharedInformer(client, PERSISTENT_VOLUME_CLAIMS)
        self.pvs = SharedInformer(client, PERSISTENT_VOLUMES)
        self._listeners: dict[str, Callable[[], None]] = {}
        self.recorder = EventRecorder(client, v.LOCAL_PATH)
        self.claims.add_handlers(on_add=self._claim, on_update=lambda old, new: self._claim(new),
                                 on_delete=self._claim)
        self.pvs.add_handlers(on_add=self._volume, on_update=self._volume_updated, on_delete=self._volume)

    def start(self) -> None:
        self.claims.start()
        self.pvs.start()

    async def stop(self) -> None:
        await self.claims.stop()
        await self.pvs.stop()

    async def wait_synced(self, timeout: float | None = None) -> None:
        await self.claims.wait_synced(timeout)
        await self.pvs.wait_synced(timeout)

    def subscribe(self, node: str, changed: Callable[[], None]) -> None:
        self._listeners[node] = changed

    def unsubscribe(self, node: str, changed: Callable[[], None]) -> None:
        if self._listeners.get(node) == changed:
            del self._listeners[node]

    # -- informer handlers ----------------------------------------------------------------------------

    def _claim(self, pvc: Obj) -> None:
        md = pvc.get("metadata") or {}
        self._claim_changed(md.get("namespace") or "default", md.get("name", ""))

    def _volume(self, pv: Obj) -> None:
        node = v.local_volume_on(pv)
        if node in self._listeners:
            self._listeners[node]()
        for key in {v.claim_ref_key(pv)} | {v.key_of(c) for c in self.claims.list()
                                             if (c.get("spec") or {}).get("volumeName") == pv["metadata"]["name"]}:
            if key:
                namespace, _, name = key.partition("/")
                self._claim_changed(namespace, name)

    def _volume_updated(self, old: Obj, new: Obj) -> None:
        if old is not new:
            self._volume(new)

    # -- what a node mounts ---------------------------------------------------------------------------

    def claims_for(self, pod: Obj) -> list[pb.ClaimVolume]:
        namespace = (pod.get("metadata") or {}).get("namespace") or "default"
        out = []
        for vol in (pod.get("spec") or {}).get("volumes") or []:
            source = vol.get("persistentVolumeClaim")
            if not isinstance(source, dict) or not source.get("claimName"):
                continue
            claim = str(source["claimName"])
            item = pb.ClaimVolume(volume=vol.get("name", ""), claim=claim, read_only=bool(source.get("readOnly")))
            self._resolve(item, namespace, claim)
            out.append(item)
        return out

    def _resolve(self, item: pb.ClaimVolume, namespace: str, claim: str) -> None:
        where = f"error processing PVC {namespace}/{claim}"
        pvc = self.claims.get(f"{namespace}/{claim}")
        if pvc is None:
            item.error = f'{where}: failed to fetch PVC from API server: persistentvolumeclaims "{claim}" not found'
            return
        name = (pvc.get("spec") or {}).get("volumeName")
        pv = self.pvs.get(name) if name else None
        if not name or v.phase(pvc) != v.BOUND or pv is None or not v.bound_to(pv, pvc):
            item.error = f"{where}: PVC is not bound"
            return
        source = _mountable(pv)
        if source is None or v.volume_mode(pv) != v.FILESYSTEM:
            item.error = (f'MountVolume.NewMounter initialization failed for volume "{name}" : this node mounts '
                          "local and hostPath Filesystem volumes only")
            return
        item.persistent_volume = name
        item.kind, item.path, item.host_path_type = source
        item.provisioned = bool(v.local_volume_on(pv))

    # -- the local volumes a node keeps ----------------------------------------------------------------

    def node_volumes(self, node: str) -> pb.NodeVolumes:
        out = []
        for pv in sorted(self.pvs.list(), key=lambda pv: pv["metadata"]["name"]):
            if v.local_volume_on(pv) != node:
                continue
            action = pb.LocalVolume.DELETE if v.local_data_deletable(pv) else pb.LocalVolume.KEEP
            out.append(pb.LocalVolume(name=pv["metadata"]["name"], path=str((pv["spec"].get("local") or {}).get("path")),
                                      capacity_bytes=v.capacity_bytes(pv), action=action, claim=v.claim_ref_key(pv)))
        return pb.NodeVolumes(volumes=out)

    def report(self, node: str, report: pb.VolumeReport) -> list[Coroutine[Any, Any, None]]:
        """What to do about an agent's report (coroutines for the hub to run)."""
        work: list[Coroutine[Any, Any, None]] = []
        for state in report.volumes:
            pv = self.pvs.get(state.name)
            if pv is None or v.local_volume_on(pv) != node:
                continue  # not this node's to speak for
            if state.phase == pb.VolumeState.DELETED and v.local_data_deletable(pv) \
                    and v.PROVISIONER_FINALIZER in (pv["metadata"].get("finalizers") or []):
                work.append(self._release(pv))
            elif state.phase == pb.VolumeState.FAILED:
                reason = "VolumeFailedDelete" if pv["metadata"].get("deletionTimestamp") else "VolumeFailedCreate"
                work.append(self.recorder.event(pv, "Warning", reason, f"node {node}: {state.message}"))
        return work

    async def _release(self, pv: Obj) -> None:
        try:
            await set_finalizers(self.client, PERSISTENT_VOLUMES, pv,
                                 [f for f in pv["metadata"]["finalizers"] if f != v.PROVISIONER_FINALIZER])
            log.info("volume %s: deleted on its node; the object goes", pv["metadata"]["name"])
        except ApiError as exc:  # a conflict: the agent repeats its report on the next NodeVolumes
            log.info("volume %s: removing the provisioner's finalizer: %s", pv["metadata"]["name"], exc)
