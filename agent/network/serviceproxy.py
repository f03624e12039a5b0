"""The node's service proxy: iptables NAT rules that send ClusterIP traffic to ready backends.

Like kube-proxy's iptables mode, in the agent's own network namespace (a local cluster's
node netns): PREROUTING (pods arrive over the bridge) and OUTPUT jump to PYCTL-SERVICES,
which matches each ClusterIP:port and jumps to its PYCTL-SVC-* chain; that picks one
PYCTL-SEP-* (endpoint) chain with `statistic --mode random` (probability 1/n, 1/(n-1), ...,
so every backend is equally likely), which marks the packet and DNATs it to the backend.

Marked packets are source-NATed in POSTROUTING where the reply would otherwise miss this
namespace (where conntrack undoes the translations):
  * to a backend on this node's pod bridge: SNAT to the bridge address (`source`), else the
    backend would answer its neighbour directly over the bridge, from its own address;
  * from a pod to a backend on another node: no SNAT. The reply is routed back through this
    node (its podCIDR's route), and the backend sees the client pod's own address, which
    NetworkPolicy ingress rules of the backend's node match on (network/netpol.py);
  * from anything else (the node itself) to a pod: SNAT to the bridge address: pods route
    only the cluster CIDR, so they can answer 10.244.1.1 but not the node's 172.30.x address;
  * to anything outside the cluster CIDR (the API servers behind `default/kubernetes`):
    MASQUERADE, the outgoing interface's address, which that side can answer.
Until the pod network is known (`pod_cidr`, `cluster_cidr` unset) everything is SNATed to
`source` (or masqueraded without one).

Only our own chains are ever written, in one `iptables-restore --noflush` transaction (a
declared chain is flushed and refilled; chains of Services that went away are deleted in the
same transaction), so other rules in the namespace are never touched. Rules are re-synced on
every table change and periodically (someone may have flushed them), and removed on stop.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging

from pyctl_proto import node_pb2 as pb

from . import iptables

log = logging.getLogger(__name__)

PREFIX = "PYCTL-"
SERVICES = "PYCTL-SERVICES"
POSTROUTING = "PYCTL-POSTROUTING"
MARK_MASQ = "PYCTL-MARK-MASQ"
MASQ_MARK = "0x4000/0x4000"
# (built-in chain, our chain): the only rules we place outside our own chains.
JUMPS = (("PREROUTING", SERVICES), ("OUTPUT", SERVICES), ("POSTROUTING", POSTROUTING))
RESYNC_PERIOD = 30.0


def chain_name(kind: str, *parts: str) -> str:
    """PYCTL-SVC-/PYCTL-SEP- plus 16 base32 chars of a hash: stable, and within iptables'
    28-character limit whatever the names."""
    digest = hashlib.sha256("\0".join(parts).encode()).digest()
    return f"{PREFIX}{kind}-{base64.b32encode(digest).decode()[:16]}"


def _comment(text: str) -> str:
    return '-m comment --comment "' + text.replace('"', "'") + '"'


def _snat_rules(source: str, pod_cidr: str, cluster_cidr: str) -> list[str]:
    """POSTROUTING's choice of source address for proxied traffic (see the module docstring)."""
    snat = f"SNAT --to-source {source}" if source else "MASQUERADE"
    what = _comment("pyctl service traffic requiring SNAT")
    if not (source and pod_cidr and cluster_cidr):
        return [f"-A {POSTROUTING} {what} -j {snat}"]
    return [f"-A {POSTROUTING} -d {pod_cidr} {what} -j {snat}",
            f"-A {POSTROUTING} -s {cluster_cidr} -d {cluster_cidr} "
            f"{_comment('pod to a pod on another node: keep the client address')} -j RETURN",
            f"-A {POSTROUTING} -d {cluster_cidr} {what} -j {snat}",
            f"-A {POSTROUTING} {_comment('pyctl service traffic leaving the pod network')} -j MASQUERADE"]


def render(table: pb.ServiceTable, existing: set[str] = frozenset(),  # type: ignore[assignment]
           source: str = "", pod_cidr: str = "", cluster_cidr: str = "") -> str:
    """The iptables-restore input (nat table) for `table`; `existing` are the PYCTL- chains now
    in the namespace, and those no longer needed are deleted in the same transaction. `source`:
    the pod-bridge gateway address; `pod_cidr`/`cluster_cidr`: this node's and the cluster's."""
    chains: list[str] = [SERVICES, POSTROUTING, MARK_MASQ]
    rules: list[str] = [
        f"-A {POSTROUTING} -m mark ! --mark {MASQ_MARK} -j RETURN",
        f"-A {POSTROUTING} -j MARK --xor-mark 0x4000",  # clear it: a re-routed packet is SNATed once
        *_snat_rules(source, pod_cidr, cluster_cidr),
        f"-A {MARK_MASQ} -j MARK --set-xmark {MASQ_MARK}",
    ]
    for svc in table.services:
        if svc.cluster_ip in ("", "None"):
            continue  # headless: DNS hands out the endpoints, nothing to proxy
        for port in svc.ports:
            if not port.backends:
                continue  # no ready endpoint: nothing to DNAT to
            proto = (port.protocol or "TCP").lower()
            what = f"{svc.namespace}/{svc.name}:{port.name}" if port.name else f"{svc.namespace}/{svc.name}"
            svc_chain = chain_name("SVC", svc.namespace, svc.name, port.name, proto)
            chains.append(svc_chain)
            rules.append(f"-A {SERVICES} -d {svc.cluster_ip}/32 -p {proto} -m {proto} --dport {port.port} "
                         f"{_comment(what + ' cluster IP')} -j {svc_chain}")
            n = len(port.backends)
            for i, b in enumerate(port.backends):
                sep = chain_name("SEP", svc.namespace, svc.name, port.name, proto, b.ip, str(b.port))
                chains.append(sep)
                pick = f"-m statistic --mode random --probability {1 / (n - i):.10f} " if i < n - 1 else ""
                rules.append(f"-A {svc_chain} {_comment(what)} {pick}-j {sep}")
                rules.append(f"-A {sep} {_comment(what)} -j {MARK_MASQ}")
                rules.append(f"-A {sep} {_comment(what)} -p {proto} -m {proto} -j DNAT "
                             f"--to-destination {b.ip}:{b.port}")
    stale = sorted(existing - set(chains))
    lines = ["*nat"] + [f":{c} - [0:0]" for c in chains + stale] + rules + [f"-X {c}" for c in stale]
    return "\n".join(lines + ["COMMIT", ""])


def cleanup_rules(existing: set[str]) -> str:
    """iptables-restore input that flushes and deletes every one of our chains."""
    ours = sorted(existing)
    return "\n".join(["*nat"] + [f":{c} - [0:0]" for c in ours] + [f"-X {c}" for c in ours] + ["COMMIT", ""])


def our_chains(saved: str) -> set[str]:
    """PYCTL- chains declared in `iptables-save -t nat` output."""
    return {line[1:].split()[0] for line in saved.splitlines() if line.startswith(":" + PREFIX)}


class ServiceProxy:
    """Keeps this namespace's NAT rules equal to the latest ServiceTable."""

    def __init__(self, resync_period: float = RESYNC_PERIOD, netns: str | None = None) -> None:
        """`netns`: program that network namespace (by path) instead of the agent's own."""
        self.table = pb.ServiceTable()
        self.netns = netns
        self.source = ""  # the pod-bridge gateway address, set once the podCIDR is known
        self.pod_cidr = ""  # this node's podCIDR and the cluster's: where replies come back by
        self.cluster_cidr = ""
        self.resync_period = resync_period
        self.syncs = 0  # successful syncs, for tests and logs
        self._wake = asyncio.Event()

    def update(self, table: pb.ServiceTable) -> None:
        self.table = table
        self._wake.set()

    async def _run(self, *argv: str, stdin: str | None = None) -> tuple[int, str, str]:
        return await iptables.run(*argv, stdin=stdin, netns=self.netns)

    async def _existing(self) -> set[str]:
        return await iptables.saved_chains("nat", our_chains, self.netns)

    async def sync(self) -> None:
        """Write the rules for the current table, then make sure the jumps into them exist."""
        await iptables.restore(render(self.table, await self._existing(), self.source, self.pod_cidr,
                                      self.cluster_cidr), self.netns)
        for builtin, ours in JUMPS:
            spec = ("-t", "nat", "{}", builtin, "-m", "comment", "--comment", "pyctl services", "-j", ours)
            check = [a.replace("{}", "-C") for a in spec]
            if (await self._run("iptables", "-w", *check))[0] != 0:
                code, _, err = await self._run("iptables", "-w", *[a.replace("{}", "-I") for a in spec])
                if code != 0:
                    raise RuntimeError(f"iptables -I {builtin}: {err.strip()}")
        self.syncs += 1

    async def run(self) -> None:
        """Sync on every change and every resync period, until cancelled. The owner calls
        `cleanup()` after cancelling (a `finally` here would be orphaned by asyncio.gather)."""
        await iptables.keep_synced(self.sync, self._wake, self.resync_period, "service proxy")

    async def cleanup(self) -> None:
        """Remove the jumps and every PYCTL- chain from this namespace."""
        for builtin, ours in JUMPS:
            spec = ("-t", "nat", "-D", builtin, "-m", "comment", "--comment", "pyctl services", "-j", ours)
            for _ in range(8):  # a few duplicates at most; bounded
                if (await self._run("iptables", "-w", *spec))[0] != 0:
                    break
        try:
            existing = await self._existing()
            if existing:
                code, _, err = await self._run("iptables-restore", "-w", "--noflush", stdin=cleanup_rules(existing))
                if code != 0:
                    log.warning("service proxy: removing chains failed: %s", err.strip())
        except (OSError, RuntimeError) as exc:
            log.warning("service proxy: cleanup failed: %s", exc)
