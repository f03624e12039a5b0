"""Which pods are bound to which node, and each session's stream of assignment changes.

One pod informer for the whole gateway (not one watch per node) feeds `PodIndex`; each
connected node has one `AssignmentStream` that turns changes into SwarmKit-style
messages: a COMPLETE snapshot, then INCREMENTAL changes with seq chained to prev_seq.
Changes for one pod are coalesced while the stream is busy, so a slow agent gets the
latest state of each pod rather than a backlog.
"""

from __future__ import annotations

import asyncio
import time

from pyctl_proto import node_pb2 as pb

from ..client import ApiClient
from ..client.shared import SharedInformer
from ..client.urls import object_key
from ..client.kinds import PODS
from ..machinery import jsonio
from . import metrics
from ..machinery.volumes import claim_names
from .podconfig import ConfigIndex, Ref, references
from .volumes import VolumeDirectory
from ..machinery.types import Obj



def node_of(pod: Obj | None) -> str:
    return ((pod or {}).get("spec") or {}).get("nodeName") or ""


class AssignmentStream:
    """The outgoing assignment state of one session. Only the session's writer drains it."""

    def __init__(self, node: str, index: "PodIndex") -> None:
        self.node = node
        self._index = index
        self.seq = 0
        self._needs_complete = True
        self._pending: dict[str, tuple["pb.PodAssignment.Action", Obj]] = {}  # key -> (action, pod)
        self.wake = asyncio.Event()
        self.wake.set()
        self._since = 0.0  # when the oldest change not yet sent came (stream lag)

    def resync(self) -> None:
        """Send a COMPLETE snapshot next (the agent saw a gap)."""
        self._needs_complete = True
        self.wake.set()

    def offer(self, action: "pb.PodAssignment.Action", pod: Obj) -> None:
        if not self._needs_complete:
            self._since = self._since or time.monotonic()
            self._pending[object_key(pod)] = (action, pod)
            self.wake.set()

    def take(self) -> pb.Assignments | None:
        """The next message to send, or None. Synchronous, so a snapshot and the
        changes after it can never interleave with an informer event."""
        if self._needs_complete:
            self._needs_complete = False
            self._pending.clear()
            self._since = 0.0
            pods = self._index.pods_on(self.node)
            self.seq += 1
            return pb.Assignments(
                type=pb.Assignments.COMPLETE, seq=self.seq, prev_seq=0,
                changes=[self._index.assignment(pb.PodAssignment.UPSERT, p) for p in pods])
        if not self._pending:
            return None
        changes = [self._index.assignment(a, p) for a, p in self._pending.values()]
        self._pending.clear()
        metrics.ASSIGNMENT_LAG.observe(time.monotonic() - self._since)
        self._since = 0.0
        self.seq += 1
        return pb.Assignments(type=pb.Assignments.INCREMENTAL, seq=self.seq, prev_seq=self.seq - 1,
                              changes=changes)


class PodIndex:
    """Pods by node, kept by one informer; fans changes out to the node's stream."""

    def __init__(self, client: ApiClient) -> None:
        # Only bound pods: unscheduled ones are none of the gateway's business. A predicate, not
        # the field selector spec.nodeName!=, so the process's one pod watch serves it too.
        self.informer = SharedInformer(client, PODS, where=lambda pod: bool(node_of(pod)))
        self._by_node: dict[str, dict[str, Obj]] = {}
        self._streams: dict[str, AssignmentStream] = {}
        self.informer.add_handlers(on_add=self._added, on_update=self._updated, on_delete=self._deleted)
        # The Secrets/ConfigMaps that travel with the pods that reference them (podconfig.py).
        self.configs = ConfigIndex(client, self._config_changed)
        # The PersistentVolumeClaims they mount, resolved to their volumes (volumes.py).
        self.volumes = VolumeDirectory(client, self._claim_changed)

    async def start(self) -> None:
        self.informer.start()
        self.configs.start()
        self.volumes.start()

    async def stop(self) -> None:
        await self.informer.stop()
        await self.configs.stop()
        await self.volumes.stop()

    async def wait_synced(self, timeout: float | None = None) -> None:
        await self.informer.wait_synced(timeout)
        await self.configs.wait_synced(timeout)
        await self.volumes.wait_synced(timeout)

    def assignment(self, action: "pb.PodAssignment.Action", pod: Obj) -> pb.PodAssignment:
        a = pb.PodAssignment(action=action, pod_json=_dump(pod))
        if action == pb.PodAssignment.UPSERT:
            a.config_objects.extend(self.configs.objects_for(pod))
            a.claim_volumes.extend(self.volumes.claims_for(pod))
        return a

    def by_node_items(self) -> list[tuple[str, list[Obj]]]:
        """(node, its pods) for every node with a session now."""
        return [(n, self.pods_on(n)) for n in list(self._streams)]

    def _config_changed(self, ref: Ref) -> None:
        """Send again every bound pod that references `ref` (only to the node it is bound to)."""
        for node, pods in self.by_node_items():
            for pod in pods:
                if ref in references(pod):
                    self.send(node, pb.PodAssignment.UPSERT, pod)

    def _claim_changed(self, namespace: str, name: str) -> None:
        """Send again every bound pod that mounts the claim (only to the node it is bound to)."""
        for node, pods in self.by_node_items():
            for pod in pods:
                if (pod["metadata"].get("namespace") or "default") == namespace and name in claim_names(pod):
                    self.send(node, pb.PodAssignment.UPSERT, pod)

    # -- queries -----------------------------------------------------------------------------

    def pods_on(self, node: str) -> list[Obj]:
        return list(self._by_node.get(node, {}).values())

    def get(self, namespace: str, name: str) -> Obj | None:
        return self.informer.get(f"{namespace}/{name}")

    # -- sessions ------------------------------------------------------------------------------

    def subscribe(self, node: str) -> AssignmentStream:
        stream = AssignmentStream(node, self)
        self._streams[node] = stream
        return stream

    def unsubscribe(self, stream: AssignmentStream) -> None:
        if self._streams.get(stream.node) is stream:
            del self._streams[stream.node]

    # -- informer handlers -------------------------------------------------------------------------

    def _added(self, pod: Obj) -> None:
        self._place(None, pod)

    def _updated(self, old: Obj, new: Obj) -> None:
        if old is not new:
            self._place(old, new)

    def _deleted(self, pod: Obj) -> None:
        node = node_of(pod)
        if node:
            self._by_node.get(node, {}).pop(object_key(pod), None)
            self._send(node, pb.PodAssignment.REMOVE, pod)

    def _place(self, old: Obj | None, new: Obj) -> None:
        key = object_key(new)
        before, after = node_of(old), node_of(new)
        if before and before != after:  # rebinding is not allowed by the API, but be exact
            self._by_node.get(before, {}).pop(key, None)
            self._send(before, pb.PodAssignment.REMOVE, old or new)
        if after:
            self._by_node.setdefault(after, {})[key] = new
            self._send(after, pb.PodAssignment.UPSERT, new)

    def send(self, node: str, action: "pb.PodAssignment.Action", pod: Obj) -> None:
        self._send(node, action, pod)

    def _send(self, node: str, action: "pb.PodAssignment.Action", pod: Obj) -> None:
        stream = self._streams.get(node)
        if stream is not None:
            stream.offer(action, pod)


def _dump(pod: Obj) -> str:
    return jsonio.dumps(pod).decode()
