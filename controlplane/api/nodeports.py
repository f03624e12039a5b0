"""Node port allocation for Services (kube-apiserver's service node port allocator, one key per port).

This module owns which Service holds which port of `--service-node-port-range` (default
30000-32767): every port of a NodePort or LoadBalancer Service, and the healthCheckNodePort
of a LoadBalancer with `externalTrafficPolicy: Local`. Each held port is an etcd key
`/pyctl/servicenodeports/<port>`, written in the SAME transaction as the Service (see
servicestorage.py), so API servers racing for a port cannot both win, a restart keeps every
allocation, and deleting the Service or changing its type releases them in that transaction.
A port is one key whatever the protocol: a Service may expose one node port for TCP and UDP
alike, as Kubernetes allows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..machinery.types import Obj
from ..resources.kinds.service import SERVICE, allocated_node_ports, missing_node_ports
from ..resources.validation import invalid
from ..store import Store, keys
from . import errors

DEFAULT_RANGE = "30000-32767"
PREFIX = keys.internal_key("servicenodeports") + "/"


def port_key(port: int) -> str:
    return f"{PREFIX}{port}"


@dataclass(frozen=True)
class PortRange:
    first: int
    last: int

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.first <= port <= self.last

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"

    @property
    def size(self) -> int:
        return self.last - self.first + 1


def parse_port_range(text: str) -> PortRange:
    """`30000-32767` (or one port); ValueError with a readable reason."""
    first, sep, last = text.strip().partition("-")
    try:
        r = PortRange(int(first), int(last) if sep else int(first))
    except ValueError:
        raise ValueError(f"{text!r} is not a port range like 30000-32767") from None
    if not 1 <= r.first <= r.last <= 65535:
        raise ValueError(f"{text!r}: the range must lie within 1-65535, lowest port first")
    return r


def pick_free(r: PortRange, used: set[int], rng: random.Random) -> int | None:
    """A random port of `r` not in `used`."""
    start = rng.randrange(r.size)
    for i in range(r.size):  # linear probe from a random start: bounded by the range's size
        port = r.first + (start + i) % r.size
        if port not in used:
            return port
    return None


class NodePorts:
    """Checks requested node ports and picks free ones from one range; the keys a Service holds."""

    def __init__(self, store: Store, port_range: str = DEFAULT_RANGE, rng: random.Random | None = None) -> None:
        self.store = store
        self.range = parse_port_range(port_range)
        self._rng = rng or random.Random()

    def _refuse(self, obj: Obj, path: str, port: int, why: str) -> errors.ApiError:
        name = (obj.get("metadata") or {}).get("name", "")
        return errors.invalid(SERVICE.info, name, [invalid(path, port, why)])  # type: ignore[list-item]

    def held(self, obj: Obj) -> set[str]:
        return {port_key(p) for p in allocated_node_ports(obj)}

    def check(self, obj: Obj, already: set[str]) -> None:
        """A 422 for a requested port (not held already) outside the range."""
        for port, path in allocated_node_ports(obj).items():
            if port_key(port) not in already and port not in self.range:
                raise self._refuse(obj, path, port, "provided port is not in the valid range. "
                                   f"The range of valid ports is {self.range}")

    async def fill(self, obj: Obj) -> None:
        """Give every node port field `obj` needs and left empty a free port (a 500 when the range is full)."""
        missing = missing_node_ports(obj)
        if not missing:
            return
        items, _, _ = await self.store.list(PREFIX)
        used = {int(kv.key[len(PREFIX):]) for kv in items if kv.key[len(PREFIX):].isdigit()}
        used |= set(allocated_node_ports(obj))
        for _, holder, key in missing:
            port = pick_free(self.range, used, self._rng)
            if port is None:
                raise errors.ApiError(500, "Internal error occurred: failed to allocate a nodePort: range is full")
            holder[key] = port
            used.add(port)

    def taken(self, obj: Obj, key: str) -> errors.ApiError | None:
        """The refusal when `key`, one of the port keys `obj` holds, belongs to another Service."""
        for port, path in allocated_node_ports(obj).items():
            if port_key(port) == key:
                return self._refuse(obj, path, port, "provided port is already allocated")
        return None
