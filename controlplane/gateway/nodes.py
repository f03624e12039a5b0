"""Node objects and node leases, as the gateway writes them for connected agents.

On Register the Node is created or updated (addresses, capacity, nodeInfo, labels, the
Ready condition). Heartbeats renew the `kube-node-lease/<node>` Lease, at most once per
`renew_interval` per node, instead of writing the Node on every heartbeat (as the
kubelet does since NodeLease); the Ready condition is written only when it changes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time

from pyctl_proto import node_pb2 as pb

from ..client import AlreadyExists, ApiClient, ApiError, Conflict, NotFound
from ..client.batch import BatchWriter
from ..client.kinds import LEASES, NODES
from ..machinery.types import Obj
from .volumes import node_annotations

log = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-node-lease"
HOSTNAME_LABEL = "kubernetes.io/hostname"



def now_rfc3339() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    """metav1.MicroTime, as Lease.spec.renewTime wants it."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def node_status(reg: pb.Register) -> Obj:
    """The parts of Node.status an agent reports when it registers."""
    ni = reg.node_info
    status: Obj = {
        "addresses": [{"type": a.type, "address": a.address} for a in reg.addresses],
        "capacity": dict(reg.capacity),
        "allocatable": dict(reg.allocatable or reg.capacity),
        "nodeInfo": {
            "machineID": ni.machine_id, "systemUUID": ni.system_uuid, "bootID": ni.boot_id,
            "kernelVersion": ni.kernel_version, "osImage": ni.os_image,
            "containerRuntimeVersion": ni.container_runtime_version,
            "kubeletVersion": ni.kubelet_version, "kubeProxyVersion": ni.kube_proxy_version,
            "operatingSystem": ni.operating_system, "architecture": ni.architecture,
        },
    }
    if reg.agent_port:
        status["daemonEndpoints"] = {"kubeletEndpoint": {"Port": reg.agent_port}}
    return status


def set_condition(conditions: list[Obj], type_: str, status: str, reason: str, message: str) -> bool:
    """Set one condition in place; lastTransitionTime moves only when status does. True if changed."""
    now = now_rfc3339()
    for c in conditions:
        if c.get("type") == type_:
            if (c.get("status"), c.get("reason"), c.get("message")) == (status, reason, message):
                return False
            if c.get("status") != status:
                c["lastTransitionTime"] = now
            c.update(status=status, reason=reason, message=message, lastHeartbeatTime=now)
            return True
    conditions.append({"type": type_, "status": status, "reason": reason, "message": message,
                       "lastHeartbeatTime": now, "lastTransitionTime": now})
    return True


class NodeWriter:
    """Writes Node objects and renews node Leases through the API."""

    def __init__(self, client: ApiClient, *, lease_duration: int = 40, renew_interval: float = 10.0) -> None:
        self.client = client
        self._writes = BatchWriter(client)  # renewals due in one turn of the loop: one request
        self.lease_duration = lease_duration
        self.renew_interval = renew_interval
        self._last_renew: dict[str, float] = {}
        self._renewing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def register(self, reg: pb.Register) -> None:
        """Create or update the Node for a registering agent and mark it Ready."""
        name = reg.node_name
        labels = {HOSTNAME_LABEL: name, "kubernetes.io/os": reg.node_info.operating_system or "linux",
                  "kubernetes.io/arch": reg.node_info.architecture or "amd64", **dict(reg.labels)}
        spec = {"podCIDR": reg.pod_cidr, "podCIDRs": [reg.pod_cidr]} if reg.pod_cidr else {}
        annotations = node_annotations(reg)  # its local volumes' home, if it keeps any
        try:
            await self.client.create(NODES, {"apiVersion": "v1", "kind": "Node", "spec": spec, "metadata": {
                "name": name, "labels": labels,
                "annotations": {k: val for k, val in annotations.items() if val is not None}}})
        except AlreadyExists:
            await self.client.patch(NODES, name, {"metadata": {"labels": labels, "annotations": annotations}})
            if reg.pod_cidr:
                await self._claim_pod_cidr(name, reg.pod_cidr)
        # The lease first: whoever sees the node Ready finds its lease too.
        await self.renew(name, force=True)
        reported = node_status(reg)
        for _ in range(10):
            node = await self.client.get(NODES, name)
            before = json.dumps(node.get("status"), sort_keys=True)
            status = node.setdefault("status", {})
            status.update(reported)
            set_condition(status.setdefault("conditions", []), "Ready", "True", "AgentReady",
                          "pyctl-agent is posting ready status")
            if json.dumps(status, sort_keys=True) == before:
                break  # a reconnect of an unchanged, Ready node: nothing to write
            try:
                await self.client.update_status(NODES, node)
                break
            except Conflict:
                continue

    async def _claim_pod_cidr(self, name: str, cidr: str) -> None:
        """Record an agent's own --pod-cidr on its Node, unless the Node already has one."""
        for _ in range(10):
            node = await self.client.get(NODES, name)
            current = (node.get("spec") or {}).get("podCIDR")
            if current:
                if current != cidr:
                    log.warning("node %s: the agent's --pod-cidr %s differs from the Node's spec.podCIDR %s; "
                                "other nodes route %s to it", name, cidr, current, current)
                return
            node.setdefault("spec", {}).update(podCIDR=cidr, podCIDRs=[cidr])
            try:
                await self.client.update(NODES, node)  # with resourceVersion: never over an allocation
                return
            except Conflict:
                continue

    def heartbeat(self, node: str) -> None:
        """Renew the node's lease in the background if the last renewal is old enough."""
        if node in self._renewing or time.monotonic() - self._last_renew.get(node, 0.0) < self.renew_interval:
            return
        task = asyncio.create_task(self.renew(node))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def renew(self, node: str, force: bool = False) -> None:
        if node in self._renewing and not force:
            return
        self._renewing.add(node)
        try:
            spec = {"holderIdentity": node, "leaseDurationSeconds": self.lease_duration,
                    "renewTime": now_micro()}
            try:
                await self._renew(node, spec)
            except NotFound:
                try:
                    await self._writes.write("POST", LEASES, LEASE_NAMESPACE, body={
                        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                        "metadata": {"name": node, "namespace": LEASE_NAMESPACE},
                        "spec": spec | {"acquireTime": spec["renewTime"]}})
                except AlreadyExists:
                    await self._renew(node, spec)
            self._last_renew[node] = time.monotonic()
        except ApiError as exc:
            log.warning("renewing lease of node %s: %s", node, exc)
        finally:
            self._renewing.discard(node)

    async def _renew(self, node: str, spec: Obj) -> None:
        await self._writes.write("PATCH", LEASES, LEASE_NAMESPACE, node, body={"spec": spec},
                                 content_type="application/merge-patch+json")

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
