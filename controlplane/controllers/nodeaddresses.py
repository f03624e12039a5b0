"""The nodes that carry traffic from outside the cluster, and the address a client reaches each at.

Shared by the ServiceLB and ingress controllers, which publish these addresses in
`status.loadBalancer`: a node serves when it is Ready and not labelled
`node.kubernetes.io/exclude-from-external-load-balancers` (the standard opt-out); its
address is its ExternalIP if it has one, else its InternalIP (as k3s's ServiceLB does).
"""

from __future__ import annotations

from typing import Iterable

from ..machinery.types import Obj

EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"


def node_ready(node: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def node_address(node: Obj) -> str | None:
    addresses = (node.get("status") or {}).get("addresses") or []
    for kind in ("ExternalIP", "InternalIP"):
        for a in addresses:
            if a.get("type") == kind and a.get("address"):
                return str(a["address"])
    return None


def serving(nodes: Iterable[Obj]) -> list[Obj]:
    """The Ready nodes that have not opted out of external traffic."""
    return [n for n in nodes if node_ready(n) and EXCLUDE_LABEL not in ((n.get("metadata") or {}).get("labels") or {})]


def ingress_points(nodes: Iterable[Obj]) -> list[dict[str, str]]:
    """`status.loadBalancer.ingress` for these nodes: one entry per distinct address, sorted."""
    found = {a for a in (node_address(n) for n in nodes) if a}
    return [{"ip": ip} for ip in sorted(found, key=_ip_order)]


def _ip_order(ip: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in ip.split("."))
