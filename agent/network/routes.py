"""host-gw routes: in this node's network namespace, every other node's podCIDR via its node IP.

The gateway sends the complete set in each `NodeRoutes`; `RouteSyncer` keeps the kernel's
table equal to the latest set (on every message, and again every `period` seconds, so a
route someone deleted comes back). Routes are written with `ip route replace ... proto 117`
and only routes carrying that protocol number AND lying inside the cluster CIDR are ever
removed: the agent never touches a route it did not make or one outside the cluster CIDR.
Losing the control plane removes nothing: pods keep reaching each other meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
from pathlib import Path
from typing import Iterable

from .netns import run_in_netns
from ..wake import woken

log = logging.getLogger(__name__)

ROUTE_PROTO = "117"  # our mark in `ip route` (free in iproute2's rt_protos): what we made, we may remove


def desired_routes(routes: Iterable[tuple[str, str]], cluster_cidr: str, own_cidr: str = "",
                   own_ip: str = "") -> dict[str, str]:
    """{podCIDR: node IP} to program, from (podCIDR, node IP) pairs: only podCIDRs inside the
    cluster CIDR, never this node's own podCIDR or a next hop that is this node."""
    cluster = ipaddress.ip_network(cluster_cidr)
    own = ipaddress.ip_network(own_cidr) if own_cidr else None
    out: dict[str, str] = {}
    for cidr, ip in routes:
        try:
            net, via = ipaddress.ip_network(cidr), ipaddress.ip_address(ip)
        except ValueError:
            log.warning("ignoring route %s via %s: not a CIDR and an address", cidr, ip)
            continue
        if net.version != cluster.version or via.version != cluster.version or \
                not net.subnet_of(cluster):  # type: ignore[arg-type]
            log.warning("ignoring route %s via %s: outside the cluster CIDR %s", cidr, ip, cluster_cidr)
            continue
        if (own is not None and net.overlaps(own)) or ip == own_ip or via.is_loopback:
            continue  # this node, or a node that cannot be a next hop (hollow nodes say 127.0.0.1)
        out[str(net)] = str(via)
    return out


class HostRoutes:
    """Reads and writes our routes with iproute2, in `netns` (a namespace file) or, when None,
    in the agent's own network namespace."""

    def __init__(self, netns: Path | None = None) -> None:
        self.netns = netns

    async def _ip(self, *args: str) -> tuple[int, str, str]:
        if self.netns is not None:
            return await run_in_netns(self.netns, "ip", *args)
        proc = await asyncio.create_subprocess_exec("ip", *args, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")

    async def current(self, cluster_cidr: str) -> dict[str, str]:
        """Our routes inside the cluster CIDR: {dst: gateway}."""
        cluster = ipaddress.ip_network(cluster_cidr)
        rc, out, err = await self._ip(f"-{cluster.version}", "-j", "route", "show", "proto", ROUTE_PROTO)
        if rc != 0:
            raise OSError(f"ip route show: {err.strip()}")
        found = {}
        for r in json.loads(out or "[]"):
            with contextlib.suppress(ValueError):
                net = ipaddress.ip_network(r.get("dst", ""))
                if net.subnet_of(cluster):  # type: ignore[arg-type]
                    found[str(net)] = r.get("gateway", "")
        return found

    async def sync(self, cluster_cidr: str, desired: dict[str, str]) -> list[str]:
        """Make our routes equal `desired` (already filtered by desired_routes); the errors, one
        line per route that could not be written (e.g. a next hop not on a connected network)."""
        cluster = ipaddress.ip_network(cluster_cidr)
        current = await self.current(cluster_cidr)
        errors = []
        for dst, via in sorted(desired.items()):
            if current.get(dst) == via:
                continue
            rc, _, err = await self._ip("route", "replace", dst, "via", via, "proto", ROUTE_PROTO)
            if rc != 0:
                errors.append(f"{dst} via {via}: {err.strip()}")
            else:
                log.info("route %s via %s", dst, via)
        for dst in sorted(set(current) - set(desired)):
            if not ipaddress.ip_network(dst).subnet_of(cluster):  # type: ignore[arg-type]
                continue  # belt and braces: current() already keeps only these
            rc, _, err = await self._ip("route", "del", dst, "proto", ROUTE_PROTO)
            if rc != 0:
                errors.append(f"removing {dst}: {err.strip()}")
            else:
                log.info("route %s removed (its node is gone)", dst)
        return errors


class RouteSyncer:
    """Applies the latest NodeRoutes to `routes`, on change and every `period` seconds."""

    def __init__(self, routes: HostRoutes, own_ip: str = "", period: float = 30.0) -> None:
        self.routes = routes
        self.own_ip = own_ip
        self.period = period
        self.cluster_cidr = ""
        self.desired: dict[str, str] = {}
        self.synced = asyncio.Event()  # set after a pass that wrote the latest desired set cleanly
        self._wake = asyncio.Event()

    def update(self, cluster_cidr: str, own_cidr: str, routes: Iterable[tuple[str, str]]) -> None:
        try:
            self.desired = desired_routes(routes, cluster_cidr, own_cidr, self.own_ip)
        except ValueError as exc:  # a bad cluster CIDR: change nothing rather than guess
            log.warning("not programming routes: %s", exc)
            return
        self.cluster_cidr = cluster_cidr
        self.synced.clear()
        self._wake.set()

    async def run(self) -> None:
        """Keep the routes in step until cancelled (the routes stay when it stops)."""
        while True:
            await woken(self._wake, self.period)
            self._wake.clear()
            if not self.cluster_cidr:
                continue  # nothing heard from the control plane yet
            desired = self.desired
            try:
                errors = await self.routes.sync(self.cluster_cidr, desired)
            except (OSError, ValueError, asyncio.TimeoutError) as exc:
                log.warning("programming routes failed: %s", exc)
                continue
            for e in errors:
                log.warning("route %s", e)
            if not errors and desired is self.desired:
                self.synced.set()
