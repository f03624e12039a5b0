"""The pod network each agent must know: its own podCIDR and every other node's route.

One Node informer for the whole gateway keeps (podCIDR, InternalIP) per node; whenever one
of them changes, every connected session is told to send its agent a fresh `NodeRoutes`
(always the complete picture: a few bytes per node, and an agent that missed one message
loses nothing). Only podCIDRs inside the cluster CIDR are offered as routes, so an agent
is never asked to touch a route outside it.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Callable

from pyctl_proto import node_pb2 as pb

from ..client import ApiClient
from ..client.shared import SharedInformer
from ..client.kinds import NODES
from ..machinery.types import Obj

log = logging.getLogger(__name__)



def node_network(node: Obj) -> tuple[str, str]:
    """(spec.podCIDR, the first InternalIP) of a Node; "" for what it lacks."""
    spec, status = node.get("spec") or {}, node.get("status") or {}
    cidr = spec.get("podCIDR") or next(iter(spec.get("podCIDRs") or []), "")
    ip = next((a.get("address", "") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"), "")
    return cidr, ip


def routable(cidr: str, ip: str, cluster: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    """A route other nodes may program: a podCIDR inside the cluster CIDR via a usable next hop
    (not loopback, as hollow nodes report)."""
    try:
        net, via = ipaddress.ip_network(cidr), ipaddress.ip_address(ip)
    except ValueError:
        return False
    return net.version == cluster.version and net.subnet_of(cluster) and not via.is_loopback  # type: ignore[arg-type]


class NodeNetworks:
    """(podCIDR, InternalIP) of every node, and the sessions to tell when one changes."""

    def __init__(self, client: ApiClient, cluster_cidr: str) -> None:
        self.cluster_cidr = cluster_cidr
        self._cluster = ipaddress.ip_network(cluster_cidr)
        self.informer = SharedInformer(client, NODES)
        self._table: dict[str, tuple[str, str]] = {}
        self._routes: list[pb.NodeRoute] | None = None  # every routable node, sorted; None: rebuild
        self._listeners: dict[str, Callable[[], None]] = {}
        self.informer.add_handlers(on_add=self._changed, on_update=lambda old, new: self._changed(new),
                                   on_delete=self._deleted)

    async def start(self) -> None:
        self.informer.start()

    async def stop(self) -> None:
        await self.informer.stop()

    def subscribe(self, node: str, changed: Callable[[], None]) -> None:
        self._listeners[node] = changed

    def unsubscribe(self, node: str, changed: Callable[[], None]) -> None:
        if self._listeners.get(node) == changed:  # bound methods: equal, not identical
            del self._listeners[node]

    def routes_for(self, node: str) -> pb.NodeRoutes:
        own, _ = self._table.get(node, ("", ""))
        if self._routes is None:  # built once per change, not once per session
            self._routes = [pb.NodeRoute(node=name, pod_cidr=cidr, node_ip=ip)
                            for name, (cidr, ip) in sorted(self._table.items()) if routable(cidr, ip, self._cluster)]
        return pb.NodeRoutes(pod_cidr=own, cluster_cidr=self.cluster_cidr,
                             routes=[r for r in self._routes if r.node != node])

    # -- informer handlers ---------------------------------------------------------------------

    def _changed(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        entry = node_network(node)
        old = self._table.get(name)
        if old != entry:
            self._table[name] = entry
            self._notify(name, old, entry)

    def _deleted(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        old = self._table.pop(name, None)
        if old is not None:
            self._notify(name, old, None)

    def _notify(self, name: str, old: tuple[str, str] | None, new: tuple[str, str] | None) -> None:
        """Tell the sessions whose view changed: everyone when the node is (or was) a route,
        else only the node itself (its own podCIDR). 500 hollow nodes getting podCIDRs used to
        wake all 500 sessions 500 times over."""
        if any(e is not None and routable(*e, self._cluster) for e in (old, new)):
            self._routes = None
            for changed in list(self._listeners.values()):
                changed()
        elif name in self._listeners:
            self._listeners[name]()
