"""The node's service proxy: keeps the namespace's iptables rules equal to the latest ServiceTable.

What the rules are is proxyrules.py's (ClusterIPs, node ports on every node address,
external and load balancer addresses, externalTrafficPolicy, REJECT without endpoints);
this module applies them, in the agent's own network namespace (a local cluster's node
netns) or in the one given. Only our own chains are ever written, in one
`iptables-restore --noflush` transaction (a declared chain is flushed and refilled; chains
of Services that went away are deleted in the same transaction), plus one jump per hook
(proxyrules.JUMPS), so other rules in the namespace are never touched. Rules are re-synced
on every table change and periodically (someone may have flushed them), and removed on
stop. The proxy also answers the healthCheckNodePorts (healthcheck.py).
"""

from __future__ import annotations

import asyncio
import logging

from pyctl_proto import node_pb2 as pb

from . import iptables
from .healthcheck import HealthChecks
from .proxyrules import JUMPS, NodeView, cleanup_rules, our_chains, render

log = logging.getLogger(__name__)

RESYNC_PERIOD = 30.0
JUMP_COMMENT = "pyctl services"


class ServiceProxy:
    """Keeps this namespace's NAT and filter rules equal to the latest ServiceTable."""

    def __init__(self, resync_period: float = RESYNC_PERIOD, netns: str | None = None, node: str = "") -> None:
        """`netns`: program that network namespace (by path) instead of the agent's own.
        `node`: this node's name (its endpoints are the local ones); the agent sets it."""
        self.table = pb.ServiceTable()
        self.netns = netns
        self.node = node
        self.source = ""  # the pod-bridge gateway address, set once the podCIDR is known
        self.pod_cidr = ""  # this node's podCIDR and the cluster's, from NodeRoutes
        self.cluster_cidr = ""
        self.resync_period = resync_period
        self.syncs = 0  # successful syncs, for tests and logs
        self.health = HealthChecks(node, netns)
        self._wake = asyncio.Event()

    def update(self, table: pb.ServiceTable) -> None:
        self.table = table
        self._wake.set()

    def network(self, source: str, pod_cidr: str, cluster_cidr: str) -> None:
        if (source, pod_cidr, cluster_cidr) != (self.source, self.pod_cidr, self.cluster_cidr):
            self.source, self.pod_cidr, self.cluster_cidr = source, pod_cidr, cluster_cidr
            self._wake.set()

    async def _run(self, *argv: str, stdin: str | None = None) -> tuple[int, str, str]:
        return await iptables.run(*argv, stdin=stdin, netns=self.netns)

    async def _existing(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for table in ("nat", "filter"):
            code, out, err = await self._run("iptables-save", "-t", table)
            if code != 0:
                raise RuntimeError(f"iptables-save: {err.strip()}")
            found.update(our_chains(out))
        return found

    async def sync(self) -> None:
        """Write the rules for the current table, then make sure the jumps into them exist."""
        self.health.node = self.node
        view = NodeView(node=self.node, source=self.source, pod_cidr=self.pod_cidr,
                        cluster_cidr=self.cluster_cidr)
        rules = render(self.table, await self._existing(), view)
        code, _, err = await self._run("iptables-restore", "-w", "--noflush", stdin=rules)
        if code != 0:
            raise RuntimeError(f"iptables-restore: {err.strip()}")
        for table, builtin, ours in JUMPS:
            spec = ("-t", table, "{}", builtin, "-m", "comment", "--comment", JUMP_COMMENT, "-j", ours)
            if (await self._run("iptables", "-w", *[a.replace("{}", "-C") for a in spec]))[0] != 0:
                code, _, err = await self._run("iptables", "-w", *[a.replace("{}", "-I") for a in spec])
                if code != 0:
                    raise RuntimeError(f"iptables -t {table} -I {builtin}: {err.strip()}")
        await self.health.sync(self.table)
        self.syncs += 1

    async def run(self) -> None:
        """Sync on every change and every resync period, until cancelled. The owner calls
        `cleanup()` after cancelling (a `finally` here would be orphaned by asyncio.gather)."""
        await iptables.keep_synced(self.sync, self._wake, self.resync_period, "service proxy")

    async def cleanup(self) -> None:
        """Remove the jumps and every PYCTL- chain from this namespace; close the health checks."""
        await self.health.stop()
        for table, builtin, ours in JUMPS:
            spec = ("-t", table, "-D", builtin, "-m", "comment", "--comment", JUMP_COMMENT, "-j", ours)
            for _ in range(8):  # a few duplicates at most; bounded
                if (await self._run("iptables", "-w", *spec))[0] != 0:
                    break
        try:
            existing = await self._existing()
            if any(existing.values()):
                code, _, err = await self._run("iptables-restore", "-w", "--noflush", stdin=cleanup_rules(existing))
                if code != 0:
                    log.warning("service proxy: removing chains failed: %s", err.strip())
        except (OSError, RuntimeError) as exc:
            log.warning("service proxy: cleanup failed: %s", exc)
