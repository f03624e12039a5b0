"""The Service table every agent's proxy needs: ClusterIPs, node ports, external and load
balancer addresses, and ready backends (with their nodes, for externalTrafficPolicy Local).

Service and Endpoints informers for the whole gateway; whenever either changes, every
connected session is told to send its agent a fresh `ServiceTable`. Like NodeRoutes it is
always the COMPLETE table (built once per change, shared by all sessions, coalesced by the
session's dirty flag), so an agent that missed a message loses nothing and needs no
sequence numbers: the next table replaces what it had.
"""

from __future__ import annotations

import logging
from typing import Callable, Iterable

from pyctl_proto import node_pb2 as pb

from ..client import ApiClient
from ..client.shared import SharedInformer
from ..client.kinds import resource
from ..machinery.types import Obj

log = logging.getLogger(__name__)

SERVICES = resource("", "v1", "services")
ENDPOINTS = resource("", "v1", "endpoints")


def _key(obj: Obj) -> str:
    md = obj.get("metadata") or {}
    return f"{md.get('namespace', '')}/{md.get('name', '')}"


def backends(endpoints: Obj | None, port_name: str, protocol: str) -> list[pb.ServiceBackend]:
    """Ready addresses of `endpoints` for the Service port named `port_name` (as the
    Endpoints controller names them), sorted so equal tables compare equal. Not-ready and
    terminating pods are not among them (notReadyAddresses, or absent): no new connection
    goes to them."""
    out: set[tuple[str, int, str]] = set()
    for subset in (endpoints or {}).get("subsets") or []:
        for p in subset.get("ports") or []:
            if (p.get("name") or "") != port_name or (p.get("protocol") or "TCP") != protocol:
                continue
            out.update((a["ip"], int(p["port"]), a.get("nodeName") or "")
                       for a in subset.get("addresses") or [] if a.get("ip"))
    return [pb.ServiceBackend(ip=ip, port=port, node=node) for ip, port, node in sorted(out)]


def addresses(endpoints: Obj | None) -> list[pb.ServiceAddress]:
    """Ready addresses of `endpoints` with their hostnames (a headless Service's DNS records)."""
    out = {(a["ip"], a.get("hostname") or "") for subset in (endpoints or {}).get("subsets") or []
           for a in subset.get("addresses") or [] if a.get("ip")}
    return [pb.ServiceAddress(ip=ip, hostname=host) for ip, host in sorted(out)]


def service_entry(svc: Obj, endpoints: Obj | None) -> pb.ServiceEntry | None:
    """The proxy's view of one Service; None when it has no ClusterIP (ExternalName)."""
    spec = svc.get("spec") or {}
    cluster_ip = spec.get("clusterIP") or ""
    if not cluster_ip or spec.get("type") == "ExternalName":
        return None
    ports = []
    for p in spec.get("ports") or []:
        name, proto = p.get("name") or "", p.get("protocol") or "TCP"
        ports.append(pb.ServicePortEntry(name=name, protocol=proto, port=int(p.get("port") or 0),
                                         backends=backends(endpoints, name, proto),
                                         node_port=int(p.get("nodePort") or 0)))
    md = svc.get("metadata") or {}
    balancer = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    kind = spec.get("type") or "ClusterIP"
    return pb.ServiceEntry(namespace=md.get("namespace", ""), name=md.get("name", ""),
                           cluster_ip=cluster_ip, ports=ports, type=kind,
                           addresses=addresses(endpoints) if cluster_ip == "None" else [],
                           external_local=spec.get("externalTrafficPolicy") == "Local",
                           external_ips=[ip for ip in spec.get("externalIPs") or [] if ip],
                           load_balancer_ips=sorted({i["ip"] for i in balancer if i.get("ip")})
                           if kind == "LoadBalancer" else [],
                           health_check_node_port=int(spec.get("healthCheckNodePort") or 0))


def service_table(services: Iterable[Obj], endpoints: Callable[[str], Obj | None],
                  service_cidr: str) -> pb.ServiceTable:
    entries = [e for svc in sorted(services, key=_key)
               for e in (service_entry(svc, endpoints(_key(svc))),) if e is not None]
    return pb.ServiceTable(service_cidr=service_cidr, services=entries)


class ServiceDirectory:
    """Services and their Endpoints, and the sessions to tell when either changes."""

    def __init__(self, client: ApiClient, service_cidr: str) -> None:
        self.service_cidr = service_cidr
        self.services = SharedInformer(client, SERVICES)
        self.endpoints = SharedInformer(client, ENDPOINTS)
        self._table: pb.ServiceTable | None = None  # None: rebuild on the next read
        self._listeners: dict[str, Callable[[], None]] = {}
        for informer in (self.services, self.endpoints):
            informer.add_handlers(on_add=self._changed, on_update=lambda old, new: self._changed(new),
                                  on_delete=self._changed)

    async def start(self) -> None:
        self.services.start()
        self.endpoints.start()

    async def stop(self) -> None:
        await self.services.stop()
        await self.endpoints.stop()

    async def wait_synced(self) -> None:
        await self.services.wait_synced()
        await self.endpoints.wait_synced()

    def subscribe(self, node: str, changed: Callable[[], None]) -> None:
        self._listeners[node] = changed

    def unsubscribe(self, node: str, changed: Callable[[], None]) -> None:
        if self._listeners.get(node) == changed:  # bound methods: equal, not identical
            del self._listeners[node]

    def table(self) -> pb.ServiceTable:
        if self._table is None:  # built once per change, not once per session
            self._table = service_table(self.services.list(), self.endpoints.get, self.service_cidr)
        return self._table

    def _changed(self, _obj: Obj) -> None:
        self._table = None
        for changed in list(self._listeners.values()):
            changed()
