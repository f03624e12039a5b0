"""The `default/kubernetes` Service and its endpoints: the API servers, kept by themselves.

As kube-apiserver's "lease" endpoint reconciler: every API server that knows the address it is
reached at (`--advertise-address`) keeps a Lease `kube-system/apiserver-endpoint-<hash>`
(holderIdentity `IP:PORT`) renewed every `interval` seconds, and every API server rewrites the
Endpoints and EndpointSlice `default/kubernetes` to list the holders of the live leases. An API
server that stops gracefully deletes its lease and takes itself out at once; one that dies
drops out when its lease expires (`ttl`). The Service itself (ClusterIP: the first address of
the service range, port 443 `https` to the API servers' port) is made at start when missing.

It writes through the ObjectStore, in the API server's own process: like the bootstrap policy
(startup.py), this is the API server's own bookkeeping, not a controller's.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import ipaddress
import logging
from typing import Any

from ..resources import registry
from ..store import StoreError
from . import errors
from .options import WriteOptions
from .storage import ObjectStore

log = logging.getLogger(__name__)

NAME, NAMESPACE = "kubernetes", "default"
LEASE_NAMESPACE = "kube-system"
LEASE_LABEL = "apiserver.pyctl.io/endpoint"
"""Marks the leases that stand for an API server endpoint."""
PORT_NAME = "https"
MANAGER = "pyctl-apiserver"
INTERVAL = 10.0
TTL = 15


def _info(group: str, resource: str):  # -> ResourceInfo
    info = registry.lookup(group, "v1", resource)
    assert info is not None
    return info


def first_ip(service_cidr: str) -> str:
    """The `kubernetes` Service's ClusterIP: the first address of the range (kube reserves it)."""
    return str(ipaddress.ip_network(service_cidr)[1])


def lease_name(ip: str, port: int) -> str:
    return "apiserver-endpoint-" + hashlib.sha256(f"{ip}:{port}".encode()).hexdigest()[:16]


def service(service_cidr: str, port: int) -> dict[str, Any]:
    ip = first_ip(service_cidr)
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": NAME, "namespace": NAMESPACE,
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip], "sessionAffinity": "None",
                     "ports": [{"name": PORT_NAME, "port": 443, "protocol": "TCP", "targetPort": port}]}}


def _parse_time(value: Any) -> float:
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def live_endpoints(leases: list[dict[str, Any]], now: float) -> list[tuple[str, int]]:
    """(IP, port) of every unexpired endpoint lease, sorted."""
    out = set()
    for lease in leases:
        spec = lease.get("spec") or {}
        renewed = _parse_time(spec.get("renewTime") or "")  # MicroTime: what _micro() writes
        if renewed + float(spec.get("leaseDurationSeconds") or TTL) < now:
            continue
        ip, _, port = str(spec.get("holderIdentity") or "").rpartition(":")
        with contextlib.suppress(ValueError):
            ipaddress.ip_address(ip)
            out.add((ip, int(port)))
    return sorted(out)


def endpoints(live: list[tuple[str, int]]) -> dict[str, Any]:
    """The Endpoints: one subset per port (API servers normally share one)."""
    ports = sorted({p for _, p in live})
    subsets = [{"addresses": [{"ip": ip} for ip, p in live if p == port],
                "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}]} for port in ports]
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": NAME, "namespace": NAMESPACE,
                         "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": subsets}


def endpoint_slice(live: list[tuple[str, int]]) -> dict[str, Any]:
    """The EndpointSlice (one port: the first API server port; they normally share one)."""
    port = live[0][1] if live else None
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": NAME, "namespace": NAMESPACE,
                         "labels": {"kubernetes.io/service-name": NAME,
                                    "endpointslice.kubernetes.io/managed-by": "pyctl-apiserver"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip, p in live if p == port],
            "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}] if port else []}


class ApiEndpoints:
    """Keeps this API server's lease and the `kubernetes` endpoints: `ensure_service()` at
    start, `run()` until cancelled, then `withdraw()`."""

    def __init__(self, objects: ObjectStore, service_cidr: str, advertise: tuple[str, int] | None,
                 interval: float = INTERVAL, ttl: int = TTL) -> None:
        self.objects = objects
        self.service_cidr = service_cidr
        self.advertise = advertise
        self.interval, self.ttl = interval, ttl
        self.leases, self.endpoints = _info("coordination.k8s.io", "leases"), _info("", "endpoints")
        self.slices, self.services = _info("discovery.k8s.io", "endpointslices"), _info("", "services")

    def _opts(self) -> WriteOptions:
        return WriteOptions(field_manager=MANAGER)

    async def ensure_service(self) -> None:
        key = self.objects.key(self.services, NAMESPACE, NAME)
        if self.objects.cache.get(key) is not None:
            return
        port = self.advertise[1] if self.advertise else 443
        try:
            await self.objects.create(self.services, NAMESPACE, service(self.service_cidr, port), self._opts())
        except errors.ApiError as exc:
            if exc.reason != "AlreadyExists":
                log.warning("cannot create the kubernetes Service: %s", exc.message)

    async def _renew(self) -> None:
        assert self.advertise is not None
        ip, port = self.advertise
        name, now = lease_name(ip, port), _micro()

        def renew(lease: dict[str, Any]) -> dict[str, Any]:
            lease.setdefault("spec", {}).update(holderIdentity=f"{ip}:{port}", leaseDurationSeconds=self.ttl,
                                                renewTime=now)
            return lease

        try:
            await self.objects.guaranteed_update(self.leases, LEASE_NAMESPACE, name, renew, self._opts())
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
            lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                     "metadata": {"name": name, "namespace": LEASE_NAMESPACE, "labels": {LEASE_LABEL: "true"}},
                     "spec": {"holderIdentity": f"{ip}:{port}", "leaseDurationSeconds": self.ttl,
                              "acquireTime": now, "renewTime": now}}
            with contextlib.suppress(errors.ApiError):  # AlreadyExists: another start raced us; next pass
                await self.objects.create(self.leases, LEASE_NAMESPACE, lease, self._opts())

    def _live(self, without: tuple[str, int] | None = None) -> list[tuple[str, int]]:
        leases = [e.obj for e in self.objects.cache.list(self.leases.resource, LEASE_NAMESPACE)
                  if ((e.obj.get("metadata") or {}).get("labels") or {}).get(LEASE_LABEL)]
        now = dt.datetime.now(dt.timezone.utc).timestamp()
        return [e for e in live_endpoints(leases, now) if e != without]

    async def _write(self, info: Any, desired: dict[str, Any], fields: tuple[str, ...]) -> None:
        entry = self.objects.cache.get(self.objects.key(info, NAMESPACE, NAME))
        if entry is None:
            with contextlib.suppress(errors.ApiError):  # AlreadyExists: another API server wrote it
                await self.objects.create(info, NAMESPACE, desired, self._opts())
            return
        if all(entry.obj.get(f) == desired.get(f) for f in fields) and all(
                ((entry.obj.get("metadata") or {}).get("labels") or {}).get(k) == v
                for k, v in desired["metadata"]["labels"].items()):
            return

        def put(obj: dict[str, Any]) -> dict[str, Any]:
            for f in fields:
                obj[f] = desired[f]
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(desired["metadata"]["labels"])
            return obj

        await self.objects.guaranteed_update(info, NAMESPACE, NAME, put, self._opts())

    async def reconcile(self, without: tuple[str, int] | None = None) -> None:
        """One pass: renew our lease (unless leaving), then the endpoints from the live leases."""
        if self.advertise is not None and without is None:
            await self._renew()
        live = self._live(without)
        await self._write(self.endpoints, endpoints(live), ("subsets",))
        await self._write(self.slices, endpoint_slice(live), ("addressType", "endpoints", "ports"))

    async def run(self) -> None:
        while True:
            try:
                await self.reconcile()
            except (errors.ApiError, StoreError, OSError) as exc:  # etcd away or slow: the next pass mends it
                log.warning("kubernetes endpoints: %s", exc)
            await asyncio.sleep(self.interval)

    async def withdraw(self) -> None:
        """Leaving: take this API server out of the endpoints and drop its lease."""
        if self.advertise is None:
            return
        try:
            await self.reconcile(without=self.advertise)
            await self.objects.delete(self.leases, LEASE_NAMESPACE, lease_name(*self.advertise), {}, self._opts())
        except (errors.ApiError, StoreError, OSError) as exc:
            if getattr(exc, "code", 0) != 404:
                log.warning("kubernetes endpoints: leaving: %s", exc)


def _micro() -> str:
    """metav1.MicroTime, as Lease.spec.renewTime wants it."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
