"""ClusterIP allocation for Services (kube-apiserver's service IP allocator, one key per IP).

This module owns which Service holds which address of `--service-cluster-ip-range`. Each
allocated IP is an etcd key `/pyctl/serviceips/<ip>`, created in the SAME transaction as the
Service that takes it (create-if-absent on both: servicestorage.py writes them), so two API
servers racing for one address cannot both win and a crash can never leave an allocation
without its Service; the key is deleted in the transaction that deletes the Service or
changes it to a type without an IP. The network and broadcast addresses are never handed
out (as Kubernetes reserves them), and the first address only when asked for by name: it is
the `kubernetes` Service's (apiendpoints.py).
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from ..machinery.types import Obj
from ..resources.kinds.service import SERVICE, allocated_ip, wants_ip
from ..resources.validation import go_string_list, invalid
from ..store import Store, keys
from . import errors

DEFAULT_RANGE = "10.96.0.0/16"
PREFIX = keys.internal_key("serviceips") + "/"


def ip_key(ip: str) -> str:
    return PREFIX + ip


def parse_range(cidr: str) -> ipaddress.IPv4Network:
    """The range, or ValueError with a readable reason (IPv4 only; at least 4 addresses)."""
    net = ipaddress.ip_network(cidr, strict=True)
    if not isinstance(net, ipaddress.IPv4Network) or net.num_addresses < 4:
        raise ValueError(f"service cluster IP range {cidr!r} must be an IPv4 CIDR of /30 or larger")
    return net


def pick_free(net: ipaddress.IPv4Network, used: set[str], rng: random.Random) -> str | None:
    """A random address of `net` that is not in `used` (network, broadcast and the first excluded)."""
    first, size = int(net.network_address) + 2, net.num_addresses - 3
    start = rng.randrange(size)
    for i in range(size):  # linear probe from a random start: bounded by the range's size
        ip = str(ipaddress.IPv4Address(first + (start + i) % size))
        if ip not in used:
            return ip
    return None


def _fill_family(spec: dict[str, Any]) -> None:
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")


class ServiceIPs:
    """Checks requested ClusterIPs and picks free ones from one range; the keys a Service holds."""

    def __init__(self, store: Store, cidr: str = DEFAULT_RANGE, rng: random.Random | None = None) -> None:
        self.store = store
        self.net = parse_range(cidr)
        self._rng = rng or random.Random()

    def _refuse(self, obj: Obj, ip: str, why: str) -> errors.ApiError:
        name = (obj.get("metadata") or {}).get("name", "")
        cause = invalid("spec.clusterIPs", go_string_list([ip]), f"failed to allocate IP {ip}: {why}")
        return errors.invalid(SERVICE.info, name, [cause])  # type: ignore[list-item]  # a Cause is such a dict

    def held(self, obj: Obj) -> set[str]:
        ip = allocated_ip(obj)
        return {ip_key(ip)} if ip else set()

    def check(self, obj: Obj, already: set[str]) -> None:
        """A 422 when the IP `obj` asks for (and does not hold already) is outside the range."""
        requested = allocated_ip(obj)
        if not requested or ip_key(requested) in already:
            return
        if ipaddress.ip_address(requested) not in self.net:
            raise self._refuse(obj, requested, f"the provided IP ({requested}) is not in the "
                               f"valid range. The range of valid IPs is {self.net}")
        if requested in (str(self.net.network_address), str(self.net.broadcast_address)):
            raise self._refuse(obj, requested, "provided IP is reserved")

    async def fill(self, obj: Obj) -> None:
        """Give `obj` a free IP if it needs one and asked for none (a 500 when the range is full)."""
        spec = obj.setdefault("spec", {})
        if not wants_ip(obj):
            if spec.get("clusterIP") == "None":
                spec.setdefault("clusterIPs", ["None"])
                _fill_family(spec)
            return
        if not spec.get("clusterIP"):
            items, _, _ = await self.store.list(PREFIX)
            ip = pick_free(self.net, {kv.key[len(PREFIX):] for kv in items}, self._rng)
            if ip is None:
                raise errors.ApiError(500, "Internal error occurred: failed to allocate a serviceIP: range is full")
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        _fill_family(spec)

    def taken(self, obj: Obj, key: str) -> errors.ApiError | None:
        """The refusal when `key`, one of the IP keys `obj` holds, belongs to another Service."""
        ip = allocated_ip(obj)
        return self._refuse(obj, ip, "provided IP is already allocated") if ip and ip_key(ip) == key else None
