"""ClusterIP allocation for Services (kube-apiserver's service IP allocator, one key per IP).

This module owns which Service holds which address of `--service-cluster-ip-range`. Each
allocated IP is an etcd key `/pyctl/serviceips/<ip>` created in the SAME transaction as the
Service (create-if-absent on both), so two API servers racing for one address cannot both
win and a crash can never leave an allocation without its Service; the key is deleted in
the transaction that deletes the Service. The network and broadcast addresses are never
handed out (as Kubernetes reserves them), and the first address only when asked for by name:
it is the `kubernetes` Service's (apiendpoints.py).
"""

from __future__ import annotations

import ipaddress
import json
import random
from typing import Any

from ..machinery.types import Obj
from ..resources.kinds.service import SERVICE, allocated_ip, wants_ip
from ..resources.validation import go_string_list, invalid
from ..store import KeyExists, Store, keys
from . import errors
from .storagehooks import Encode, StorageHooks

DEFAULT_RANGE = "10.96.0.0/16"
PREFIX = keys.internal_key("serviceips") + "/"
MAX_ATTEMPTS = 16  # lost races for a random free address before giving up


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


class ServiceIPs(StorageHooks):
    """Allocates and validates ClusterIPs from one range, race-free across API servers."""

    def __init__(self, store: Store, cidr: str = DEFAULT_RANGE, rng: random.Random | None = None) -> None:
        super().__init__(store)
        self.net = parse_range(cidr)
        self._rng = rng or random.Random()

    def _refuse(self, obj: Obj, ip: str, why: str) -> errors.ApiError:
        name = (obj.get("metadata") or {}).get("name", "")
        cause = invalid("spec.clusterIPs", go_string_list([ip]), f"failed to allocate IP {ip}: {why}")
        return errors.invalid(SERVICE.info, name, [cause])  # type: ignore[list-item]  # a Cause is such a dict

    async def _used(self) -> set[str]:
        items, _, _ = await self.store.list(PREFIX)
        return {kv.key[len(PREFIX):] for kv in items}

    async def create(self, key: str, obj: Obj, encode: Encode) -> int:
        """Store the Service at `key` with its ClusterIP allocated in the same transaction.

        Raises KeyExists(key) when the Service exists, a 422 when a requested IP is out of
        range or taken, a 500 when the range is full."""
        spec = obj.setdefault("spec", {})
        if not wants_ip(obj):
            if spec.get("clusterIP") == "None":
                spec.setdefault("clusterIPs", ["None"])
                _fill_family(spec)
            return await self.store.create(key, encode(obj))
        requested = spec.get("clusterIP") or ""
        if requested and ipaddress.ip_address(requested) not in self.net:
            raise self._refuse(obj, requested, f"the provided IP ({requested}) is not in the "
                               f"valid range. The range of valid IPs is {self.net}")
        if requested in (str(self.net.network_address), str(self.net.broadcast_address)):
            raise self._refuse(obj, requested, "provided IP is reserved")
        for _ in range(MAX_ATTEMPTS):
            ip = requested or pick_free(self.net, await self._used(), self._rng)
            if ip is None:
                break
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
            _fill_family(spec)
            owner = json.dumps({"namespace": obj["metadata"].get("namespace", ""),
                                "name": obj["metadata"]["name"]}).encode()
            try:
                return await self.store.create(key, encode(obj), also={ip_key(ip): owner})
            except KeyExists as exc:
                if exc.key == key:
                    raise
                if requested:
                    raise self._refuse(obj, ip, "provided IP is already allocated") from None
            # Another API server took this address between our read and our write: pick again.
        raise errors.ApiError(500, "Internal error occurred: failed to allocate a serviceIP: range is full")

    def release_keys(self, obj: Obj) -> tuple[str, ...]:
        """The Service's allocation goes with it."""
        ip = allocated_ip(obj)
        return (ip_key(ip),) if ip else ()
