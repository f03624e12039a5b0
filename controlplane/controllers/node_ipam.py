"""Node IPAM controller: every Node gets a podCIDR carved from the cluster CIDR.

A Node without `spec.podCIDR` gets the next free subnet (a /24 of 10.244.0.0/16 by default),
written as `spec.podCIDR` and `spec.podCIDRs`. The allocation lives in the Node object
itself: on start the controller rebuilds its map from every Node before it hands anything
out, so a restart or a new leader never gives a subnet twice. A Node that already has a
podCIDR (an agent started with `--pod-cidr`) keeps it, and it is marked used. A deleted
Node frees its subnet. When the range is exhausted the Node gets a Warning Event and the
condition NetworkUnavailable=True (reason NoCIDRAvailable), and waits for a subnet to free.

`CidrAllocator` is the pure part (a set of subnet indexes with a rotating cursor, as
Kubernetes' cidrset does, so a just-freed subnet is not handed out again at once).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from dataclasses import dataclass
from typing import Hashable

from ..client import ApiClient, Conflict, NotFound
from ..client.shared import SharedInformer
from ..client.kinds import NODES
from ..events import EventRecorder
from ..gateway.nodes import set_condition
from .lifecycle import stop_controller
from .workqueue import WorkQueue
from ..machinery.types import Obj

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
CONDITION = "NetworkUnavailable"
NO_CIDR_REASON = "NoCIDRAvailable"


class RangeExhausted(Exception):
    pass


class CidrAllocator:
    """Subnets of `mask` bits inside `cluster_cidr`, each free or used (counted per claimant,
    so two Nodes that both claim one subnet free it only when both are gone)."""

    def __init__(self, cluster_cidr: str, mask: int = 24) -> None:
        self.cluster = ipaddress.ip_network(cluster_cidr)
        if not self.cluster.prefixlen <= mask <= self.cluster.max_prefixlen:
            raise ValueError(f"node CIDR mask /{mask} does not fit in the cluster CIDR {cluster_cidr}")
        self.mask = mask
        self.size = 2 ** (mask - self.cluster.prefixlen)
        self._used: dict[int, int] = {}  # subnet index -> claimants
        self._cursor = 0

    def subnet(self, index: int) -> Network:
        step = 2 ** (self.cluster.max_prefixlen - self.mask)
        return ipaddress.ip_network(f"{self.cluster.network_address + index * step}/{self.mask}")

    def _indexes(self, cidr: str) -> range:
        """The subnet indexes `cidr` overlaps; empty when it lies outside the cluster CIDR."""
        net = ipaddress.ip_network(cidr, strict=False)
        if net.version != self.cluster.version or not net.overlaps(self.cluster):
            return range(0)
        first = max(int(net.network_address), int(self.cluster.network_address))
        last = min(int(net.broadcast_address), int(self.cluster.broadcast_address))
        shift = self.cluster.max_prefixlen - self.mask
        base = int(self.cluster.network_address)
        return range((first - base) >> shift, ((last - base) >> shift) + 1)

    def occupy(self, cidr: str) -> None:
        for i in self._indexes(cidr):
            self._used[i] = self._used.get(i, 0) + 1

    def release(self, cidr: str) -> None:
        for i in self._indexes(cidr):
            left = self._used.get(i, 0) - 1
            if left > 0:
                self._used[i] = left
            else:
                self._used.pop(i, None)

    def used(self, cidr: str) -> bool:
        return any(i in self._used for i in self._indexes(cidr))

    def shared(self, cidr: str) -> bool:
        """Whether another claim covers part of `cidr` too."""
        return any(self._used.get(i, 0) > 1 for i in self._indexes(cidr))

    def allocate(self) -> str:
        """Mark the next free subnet after the cursor used and return it."""
        for step in range(self.size):
            i = (self._cursor + step) % self.size
            if i not in self._used:
                self._used[i] = 1
                self._cursor = (i + 1) % self.size
                return str(self.subnet(i))
        raise RangeExhausted(f"no free /{self.mask} left in the cluster CIDR {self.cluster} "
                             f"({self.size} in use)")


def pod_cidrs(node: Obj) -> list[str]:
    spec = node.get("spec") or {}
    return list(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))


def overlaps(a: str, b: str) -> bool:
    x, y = ipaddress.ip_network(a, strict=False), ipaddress.ip_network(b, strict=False)
    return x.version == y.version and x.overlaps(y)


@dataclass(frozen=True)
class NodeIpamConfig:
    cluster_cidr: str = "10.244.0.0/16"
    """The range every node's podCIDR is carved from."""
    node_mask: int = 24
    """Prefix length of each node's podCIDR."""


class NodeIpamController:
    def __init__(self, client: ApiClient, config: NodeIpamConfig | None = None) -> None:
        self.client = client
        self.config = config or NodeIpamConfig()
        self.allocator = CidrAllocator(self.config.cluster_cidr, self.config.node_mask)
        self.nodes = SharedInformer(client, NODES)
        self.queue = WorkQueue("node-ipam")
        self.recorder = EventRecorder(client, "node-ipam-controller")
        self._held: dict[str, list[str]] = {}  # node -> the CIDRs counted as its in the allocator
        self._waiting: set[str] = set()        # nodes the exhausted range could not serve
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.nodes.add_handlers(on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new),
                                on_delete=self._enqueue)
        self.nodes.start()
        self._task = asyncio.create_task(self._run(), name="node-ipam")

    def _enqueue(self, node: Obj) -> None:
        self.queue.add(node["metadata"]["name"])

    async def stop(self) -> None:
        await stop_controller(self.queue, self._task, (self.nodes,))

    async def _run(self) -> None:
        await self.nodes.wait_synced()
        # Every subnet already written on a Node is used before anything is handed out.
        for node in self.nodes.list():
            self._hold(node["metadata"]["name"], pod_cidrs(node))
        await self.queue.run(self.sync)

    def _hold(self, name: str, cidrs: list[str]) -> None:
        for c in self._held.pop(name, []):
            self.allocator.release(c)
        for c in cidrs:
            try:
                self.allocator.occupy(c)
            except ValueError:
                log.warning("node %s: spec.podCIDR %r is not a CIDR; ignoring it", name, c)
                continue
            self._held.setdefault(name, []).append(c)

    def _overlapping(self, name: str, cidr: str) -> list[str]:
        """Other nodes whose podCIDR overlaps `cidr`."""
        return sorted(other for other, held in self._held.items()
                      if other != name and any(overlaps(cidr, c) for c in held))

    async def sync(self, key: Hashable) -> None:
        name = str(key)
        node = self.nodes.get(name)
        if node is None:
            if self._held.get(name):
                log.info("node %s is gone: freeing %s", name, ", ".join(self._held[name]))
                self._hold(name, [])
                for waiting in self._waiting:  # a subnet came free: try them again
                    self.queue.add(waiting)
            self._waiting.discard(name)
            return
        cidrs = pod_cidrs(node)
        if cidrs:
            await self._adopt(node, cidrs)
            return
        held = self._held.get(name)
        if held:
            cidr = held[0]  # ours already (the cache has not seen our write yet, or it failed)
        else:
            try:
                cidr = self.allocator.allocate()
            except RangeExhausted as exc:
                await self._exhausted(node, str(exc))
                return
            self._held[name] = [cidr]
        await self._write(name, cidr)

    async def _adopt(self, node: Obj, cidrs: list[str]) -> None:
        """The Node has its podCIDR (ours, an agent's, or a user's): count it as used."""
        name = node["metadata"]["name"]
        self._hold(name, cidrs)
        self._waiting.discard(name)
        for c in self._held.get(name, []):
            others = self._overlapping(name, c) if self.allocator.shared(c) else []
            if others:  # e.g. two agents started with the same --pod-cidr: their pods' routes clash
                log.warning("node %s: podCIDR %s overlaps that of %s", name, c, ", ".join(others))
                await self.recorder.event(node, "Warning", "CIDRConflict",
                                          f"podCIDR {c} overlaps the podCIDR of node(s) {', '.join(others)}")
        conds = (node.get("status") or {}).get("conditions") or []
        if any(c.get("type") == CONDITION and c.get("reason") == NO_CIDR_REASON and c.get("status") == "True"
               for c in conds):
            await self._set_condition(name, "False", "CIDRAssigned", f"podCIDR {cidrs[0]} assigned")

    async def _write(self, name: str, cidr: str) -> None:
        try:
            fresh = await self.client.get(NODES, name)
        except NotFound:
            return  # its delete event frees the reservation
        if pod_cidrs(fresh):
            return  # set meanwhile: its update event makes us adopt that one
        fresh.setdefault("spec", {}).update(podCIDR=cidr, podCIDRs=[cidr])
        try:
            await self.client.update(NODES, fresh)
        except Conflict:
            self.queue.add_after(name, 0.05)  # lost a race with another writer: look again
            return
        log.info("node %s: podCIDR %s", name, cidr)  # its update event brings it to _adopt

    async def _exhausted(self, node: Obj, message: str) -> None:
        name = node["metadata"]["name"]
        if name not in self._waiting:
            log.warning("node %s: %s", name, message)
        self._waiting.add(name)
        await self.recorder.event(node, "Warning", "CIDRNotAvailable", f"Node {name} status is now: "
                                  f"CIDRNotAvailable ({message})")
        await self._set_condition(name, "True", NO_CIDR_REASON, message)

    async def _set_condition(self, name: str, status: str, reason: str, message: str) -> None:
        for _ in range(5):
            try:
                node = await self.client.get(NODES, name)
                conds = node.setdefault("status", {}).setdefault("conditions", [])
                if not set_condition(conds, CONDITION, status, reason, message):
                    return
                await self.client.update_status(NODES, node)
                return
            except Conflict:
                continue  # the agent's gateway wrote status meanwhile: read again
            except NotFound:
                return
