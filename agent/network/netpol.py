"""NetworkPolicy on the node: iptables filter rules for this node's pods, from the PolicyTable.

The gateway sends every policy with its selectors already resolved to addresses
(gateway/policies.py); this module keeps the filter table of the agent's network namespace
equal to what the table says about THIS node's pods. The iptables here is iptables-nft (the
nf_tables backend): these are nftables rules, written through the iptables front end like
the service proxy's, so one tool and one atomic `iptables-restore --noflush` transaction per
change; rules of both live in the same nftables tables, in the order their hooks give them.

    FORWARD -> PYCTL-NETPOL (inserted first; it only ever DROPs or RETURNs)
      -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
      -s <pod isolated for egress>  -j PYCTL-NP-E-<pod>
      -d <pod isolated for ingress> -j PYCTL-NP-I-<pod>
    PYCTL-NP-I-<pod>: clear the allow mark; one rule per (rule, peer, port) of every policy
      selecting the pod sets it; marked -> RETURN; else DROP
    PYCTL-NP-X-<...>: an ipBlock with `except`: each except RETURNs (no match), then its ports mark

Pods on this node's bridge reach each other through the bridge, which hands frames to
iptables only with br_netfilter (`bridge-nf-call-iptables`, on by default in a new network
namespace; the agent turns it on where it is off). Traffic crossing nodes is routed, and
Service traffic is DNATed before FORWARD, so policies see the backend pod, and (the service
proxy not SNATing pod-to-pod traffic across nodes) the client pod. Traffic between a pod and
its own node (probes, the node's DNS) is never filtered, as Kubernetes specifies.

Connections: the first packet of a connection decides (conntrack). A policy that tightens
applies to new connections; connections established before keep flowing until they close,
as with Calico's iptables data plane (Cilium instead cuts them at once). Denied packets are
dropped, so a denied client times out rather than being refused, as with most plugins.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from pathlib import Path
from typing import Iterable

from pyctl_proto import node_pb2 as pb

from . import iptables

log = logging.getLogger(__name__)

PREFIX = "PYCTL-NP"
MAIN = "PYCTL-NETPOL"
ALLOW = "0x8000/0x8000"
CLEAR = "0x0/0x8000"
JUMP = ("FORWARD", "-m", "comment", "--comment", "pyctl network policy", "-j", MAIN)
RESYNC_PERIOD = 30.0
BR_NETFILTER = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")


def chain_name(kind: str, *parts: str) -> str:
    """PYCTL-NP-<kind>-<16 base32 of a hash>: stable and within iptables' 28 characters."""
    digest = hashlib.sha256("\0".join(parts).encode()).digest()
    return f"{PREFIX}-{kind}-{base64.b32encode(digest).decode()[:16]}"


def _comment(text: str) -> str:
    return '-m comment --comment "' + text.replace('"', "'")[:250] + '"'


def _port_matches(ports: Iterable[pb.PolicyPort], named: Iterable[pb.NamedPort]) -> list[str]:
    """iptables matches for a rule's ports ([""]: every port), named ones resolved against
    `named` (the pod the traffic reaches). [] when only named ports the pod lacks are listed:
    then the rule allows nothing there."""
    ports = list(ports)
    if not ports:
        return [""]
    by_name = {(p.name, p.protocol): p.port for p in named}
    out = []
    for p in ports:
        proto = (p.protocol or "TCP").lower()
        if p.name:
            number = by_name.get((p.name, p.protocol or "TCP"))
            if number:
                out.append(f"-p {proto} -m {proto} --dport {number}")
        elif p.port and p.end_port:
            out.append(f"-p {proto} -m {proto} --dport {p.port}:{p.end_port}")
        elif p.port:
            out.append(f"-p {proto} -m {proto} --dport {p.port}")
        else:
            out.append(f"-p {proto}")
    return out


class _Rendering:
    def __init__(self) -> None:
        self.chains: list[str] = [MAIN]
        self.rules: list[str] = [f"-A {MAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"]

    def chain(self, name: str) -> str:
        self.chains.append(name)
        return name

    def add(self, chain: str, *parts: str) -> None:
        self.rules.append(" ".join(["-A", chain, *(p for p in parts if p)]))


def _rule_lines(r: _Rendering, chain: str, rule: pb.PolicyRule, direction: str, pod: pb.PolicyPod,
                what: str, key: tuple[str, ...]) -> None:
    """Lines in `chain` setting the allow mark for traffic `rule` allows. Ingress: peers are
    sources, named ports resolve on `pod`; egress: peers are destinations and resolve there."""
    flag = "-s" if direction == "ingress" else "-d"
    mark, note = f"-j MARK --set-xmark {ALLOW}", _comment(what)
    if rule.any_peer:
        if direction == "ingress":
            for m in _port_matches(rule.ports, pod.ports):
                r.add(chain, m, note, mark)
            return
        numbered, named = [p for p in rule.ports if not p.name], [p for p in rule.ports if p.name]
        if numbered or not named:  # numbered ports (or none listed): any destination
            for m in _port_matches(numbered, ()):
                r.add(chain, m, note, mark)
        for peer in rule.peers if named else ():  # named ports: the pods that have them
            for m in _port_matches(named, peer.ports):
                r.add(chain, flag, peer.cidr, m, note, mark)
        return
    for i, peer in enumerate(rule.peers):
        matches = _port_matches(rule.ports, pod.ports if direction == "ingress" else peer.ports)
        if not matches:
            continue  # only named ports this pod (or peer) does not have
        if peer.except_cidrs:
            sub = r.chain(chain_name("X", *key, str(i)))
            r.add(chain, flag, peer.cidr, note, "-j", sub)
            for ex in peer.except_cidrs:
                r.add(sub, flag, ex, _comment(what + " except"), "-j RETURN")
            for m in matches:
                r.add(sub, m, note, mark)
        else:
            for m in matches:
                r.add(chain, flag, peer.cidr, m, note, mark)


def render(table: pb.PolicyTable, node: str, existing: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    """The iptables-restore input (filter table) enforcing `table` for `node`'s pods; chains in
    `existing` no longer needed are deleted in the same transaction."""
    r = _Rendering()
    isolated: dict[tuple[str, str], list[tuple[pb.NetworkPolicyEntry, pb.PolicyPod]]] = {}
    for policy in table.policies:
        for pod in policy.pods:
            if pod.node != node or not pod.ip:
                continue
            for direction, on in (("ingress", policy.ingress), ("egress", policy.egress)):
                if on:
                    isolated.setdefault((direction, pod.ip), []).append((policy, pod))
    for (direction, ip), selecting in sorted(isolated.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        letter = "I" if direction == "ingress" else "E"
        chain = r.chain(chain_name(letter, ip))
        flag = "-d" if direction == "ingress" else "-s"
        names = ",".join(sorted({f"{p.namespace}/{p.name}" for p, _ in selecting}))
        r.rules.append(f"-A {MAIN} {flag} {ip}/32 {_comment(f'{direction} of {ip}: {names}')} -j {chain}")
        r.rules.append(f"-A {chain} -j MARK --set-xmark {CLEAR}")
        for policy, pod in selecting:
            rules = policy.ingress_rules if direction == "ingress" else policy.egress_rules
            for i, rule in enumerate(rules):
                what = f"{policy.namespace}/{policy.name} {direction}[{i}]"
                _rule_lines(r, chain, rule, direction, pod, what, (direction, ip, policy.namespace, policy.name, str(i)))
        r.rules.append(f"-A {chain} -m mark --mark {ALLOW} -j RETURN")
        r.rules.append(f"-A {chain} {_comment(f'{direction} of {ip} not allowed by {names}')} -j DROP")
    stale = sorted(existing - set(r.chains))
    lines = ["*filter"] + [f":{c} - [0:0]" for c in r.chains + stale] + r.rules + [f"-X {c}" for c in stale]
    return "\n".join(lines + ["COMMIT", ""])


def cleanup_rules(existing: set[str]) -> str:
    ours = sorted(existing)
    return "\n".join(["*filter"] + [f":{c} - [0:0]" for c in ours] + [f"-X {c}" for c in ours] + ["COMMIT", ""])


def our_chains(saved: str) -> set[str]:
    """PYCTL-NETPOL / PYCTL-NP-* chains declared in `iptables-save -t filter` output."""
    return {line[1:].split()[0] for line in saved.splitlines()
            if line.startswith((":" + MAIN, ":" + PREFIX + "-"))}


class PolicyEnforcer:
    """Keeps this namespace's filter rules equal to the latest PolicyTable for `node`'s pods."""

    def __init__(self, node: str, resync_period: float = RESYNC_PERIOD, netns: str | None = None) -> None:
        self.node = node
        self.table = pb.PolicyTable()
        self.netns = netns
        self.resync_period = resync_period
        self.syncs = 0
        self._wake = asyncio.Event()
        self._warned = False

    def update(self, table: pb.PolicyTable) -> None:
        self.table = table
        self._wake.set()

    async def _run(self, *argv: str, stdin: str | None = None) -> tuple[int, str, str]:
        return await iptables.run(*argv, stdin=stdin, netns=self.netns)

    async def _existing(self) -> set[str]:
        return await iptables.saved_chains("filter", our_chains, self.netns)

    async def _bridge_filtering(self) -> None:
        """Same-node pod traffic is bridged: it meets iptables only with br_netfilter on."""
        code, out, _ = await self._run("cat", str(BR_NETFILTER))
        if code == 0 and out.strip() == "1":
            return
        if code == 0:
            code, _, err = await self._run("sh", "-c", f"echo 1 > {BR_NETFILTER}")
            if code == 0:
                log.info("network policy: turned on %s (bridged pod traffic must meet the rules)", BR_NETFILTER)
                return
        if not self._warned:
            self._warned = True
            log.warning("network policy: %s is not available (load br_netfilter): traffic between pods of "
                        "this node is not filtered", BR_NETFILTER)

    async def sync(self) -> None:
        if self.table.policies:
            await self._bridge_filtering()
        await iptables.restore(render(self.table, self.node, await self._existing()), self.netns)
        if (await self._run("iptables", "-w", "-C", *JUMP))[0] != 0:
            code, _, err = await self._run("iptables", "-w", "-I", *JUMP[:1], "1", *JUMP[1:])
            if code != 0:
                raise RuntimeError(f"iptables -I FORWARD: {err.strip()}")
        self.syncs += 1

    async def run(self) -> None:
        """Sync on every change and every resync period, until cancelled; then `cleanup()`."""
        await iptables.keep_synced(self.sync, self._wake, self.resync_period, "network policy")

    async def cleanup(self) -> None:
        """Remove the jump and every chain of ours from this namespace."""
        for _ in range(8):  # a few duplicates at most; bounded
            if (await self._run("iptables", "-w", "-D", *JUMP))[0] != 0:
                break
        try:
            existing = await self._existing()
            if existing:
                await iptables.restore(cleanup_rules(existing), self.netns)
        except (OSError, RuntimeError) as exc:
            log.warning("network policy: cleanup failed: %s", exc)
