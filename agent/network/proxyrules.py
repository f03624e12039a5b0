"""The service proxy's iptables rules, rendered from a ServiceTable (pure: no I/O).

Like kube-proxy's iptables mode, in two tables:

nat
  PREROUTING, OUTPUT -> PYCTL-SERVICES
    -d <ClusterIP> --dport <port>              -> PYCTL-SVC-*  (every ready endpoint)
    -d <external / load balancer IP> --dport   -> PYCTL-EXT-*
    -m addrtype --dst-type LOCAL (not 127/8)   -> PYCTL-NODEPORTS: --dport <nodePort> -> PYCTL-EXT-*
  PYCTL-SVC-*   marks the packet for SNAT, then picks one PYCTL-SEP-* with `statistic --mode
                random` (probability 1/n, 1/(n-1), ..., so every endpoint is equally likely)
  PYCTL-EXT-*   externalTrafficPolicy Cluster: -> PYCTL-SVC-*. Local: traffic from the pod
                network -> PYCTL-SVC-*; the rest picks among THIS node's endpoints only
                (marked for SNAT too: see below)
  PYCTL-SEP-*   DNAT to one endpoint
  POSTROUTING -> PYCTL-POSTROUTING: marked packets are source-NATed where the reply would
                 otherwise miss this namespace (below), and the node's own connections to
                 pods on other nodes (the ingress proxy's) leave with `source`

filter
  OUTPUT, FORWARD -> PYCTL-SERVICES: a ClusterIP port with no ready endpoint is REJECTed
  INPUT, FORWARD  -> PYCTL-EXTERNAL: so are its node ports and external addresses; with
                     policy Local and no endpoint on this node they are DROPped (an external
                     balancer's health check, healthCheckNodePort, steers clients away)

A packet that was DNATed no longer matches a filter rule (its destination changed), so the
filter rules only ever see traffic that found no endpoint: it is refused at once instead of
hanging. Not-ready and terminating pods are not endpoints (the gateway sends only ready
addresses): they get no new connections, while connections already open keep their
conntrack entry and finish.

Which proxied (marked) connections are source-NATed, and to what:
  * to a backend on this node's pod bridge: SNAT to the bridge address (`source`), else the
    backend would answer its neighbour directly over the bridge, from its own address instead
    of the ClusterIP, and the client would drop the reply;
  * from a pod to a backend on another node: no SNAT. The reply is routed back through this
    node (its podCIDR's route), where conntrack undoes the DNAT, and the backend sees the client
    pod's own address, which NetworkPolicy ingress rules of its node match on (netpol.py);
  * from anything else (the node itself, an outside client) to a pod: SNAT to `source`, not to
    the outgoing interface's address as MASQUERADE would pick: pods route only the cluster
    CIDR, so they can answer 10.244.1.1 but not the node's own 172.30.x address;
  * to anything outside the cluster CIDR (the API servers behind `default/kubernetes`):
    MASQUERADE, the outgoing interface's address, which that side can answer.
Until the pod network is known (`pod_cidr`, `cluster_cidr` unset) every marked packet is
SNATed to `source` (or masqueraded without one). For policy Local too: kube-proxy keeps the client's
address there, but a pod here has no route to a client outside the cluster (no default route,
so that no pod traffic can leave the machine: agent/network/cni.py), so it could not answer;
Local keeps its other promises (only this node's endpoints, no second hop, the health check).
For the same reason a connection the node itself opens to a pod on another node (the ingress
proxy's, from the node's own address) leaves with `source` too; replies come back by the
host-gw routes and conntrack restores the node's address, so the bridge need not exist yet.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

from pyctl_proto import node_pb2 as pb

PREFIX = "PYCTL-"
SERVICES = "PYCTL-SERVICES"      # nat and filter
NODEPORTS = "PYCTL-NODEPORTS"    # nat
EXTERNAL = "PYCTL-EXTERNAL"      # filter
POSTROUTING = "PYCTL-POSTROUTING"
MARK_MASQ = "PYCTL-MARK-MASQ"
MASQ_MARK = "0x4000/0x4000"
TABLES = ("nat", "filter")
# (table, built-in chain, our chain): the only rules we place outside our own chains.
JUMPS = (("nat", "PREROUTING", SERVICES), ("nat", "OUTPUT", SERVICES), ("nat", "POSTROUTING", POSTROUTING),
         ("filter", "INPUT", EXTERNAL), ("filter", "FORWARD", EXTERNAL), ("filter", "FORWARD", SERVICES),
         ("filter", "OUTPUT", SERVICES))
LOCAL_DST = "-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8"  # every node address but loopback


def chain_name(kind: str, *parts: str) -> str:
    """PYCTL-SVC-/PYCTL-SEP-/PYCTL-EXT- plus 16 base32 chars of a hash: stable, and within
    iptables' 28-character limit whatever the names."""
    digest = hashlib.sha256("\0".join(parts).encode()).digest()
    return f"{PREFIX}{kind}-{base64.b32encode(digest).decode()[:16]}"


def _comment(text: str) -> str:
    return '-m comment --comment "' + text.replace('"', "'") + '"'


@dataclass(frozen=True)
class NodeView:
    """What the rules need to know about this node."""

    node: str = ""
    """This node's name: endpoints on it are the local ones (externalTrafficPolicy Local)."""
    source: str = ""
    """The address proxied traffic leaves from (the pod-bridge gateway); "" = MASQUERADE."""
    pod_cidr: str = ""
    """This node's podCIDR: backends there answer over the bridge."""
    cluster_cidr: str = ""
    """The pod network: pods reaching a Local-policy Service from outside it go cluster-wide."""


@dataclass
class _Tables:
    nat: list[str] = field(default_factory=list)
    nat_chains: list[str] = field(default_factory=lambda: [SERVICES, NODEPORTS, POSTROUTING, MARK_MASQ])
    filter: list[str] = field(default_factory=list)
    filter_chains: list[str] = field(default_factory=lambda: [SERVICES, EXTERNAL])


def _pick(out: _Tables, chain: str, what: str, targets: list[str]) -> None:
    """Rules in `chain` sending a packet to one of `targets`, each equally likely."""
    n = len(targets)
    for i, target in enumerate(targets):
        pick = f"-m statistic --mode random --probability {1 / (n - i):.10f} " if i < n - 1 else ""
        out.nat.append(f"-A {chain} {_comment(what)} {pick}-j {target}")


def _port(out: _Tables, svc: pb.ServiceEntry, port: pb.ServicePortEntry, view: NodeView) -> None:
    proto = (port.protocol or "TCP").lower()
    match = f"-p {proto} -m {proto}"
    what = f"{svc.namespace}/{svc.name}:{port.name}" if port.name else f"{svc.namespace}/{svc.name}"
    addresses = list(svc.external_ips) + list(svc.load_balancer_ips)
    external = [f"-d {ip}/32 {match} --dport {port.port}" for ip in addresses]
    if port.node_port:
        external.append(f"{LOCAL_DST} {match} --dport {port.node_port}")
    if not port.backends:
        out.filter.append(f"-A {SERVICES} -d {svc.cluster_ip}/32 {match} --dport {port.port} "
                          f"{_comment(what + ' has no endpoints')} -j REJECT")
        out.filter += [f"-A {EXTERNAL} {m} {_comment(what + ' has no endpoints')} -j REJECT" for m in external]
        return
    svc_chain = chain_name("SVC", svc.namespace, svc.name, port.name, proto)
    seps = []
    for b in port.backends:
        sep = chain_name("SEP", svc.namespace, svc.name, port.name, proto, b.ip, str(b.port))
        seps.append(sep)
        out.nat_chains.append(sep)
        out.nat.append(f"-A {sep} {_comment(what)} {match} -j DNAT --to-destination {b.ip}:{b.port}")
    out.nat_chains.append(svc_chain)
    out.nat.append(f"-A {SERVICES} -d {svc.cluster_ip}/32 {match} --dport {port.port} "
                   f"{_comment(what + ' cluster IP')} -j {svc_chain}")
    out.nat.append(f"-A {svc_chain} {_comment(what)} -j {MARK_MASQ}")
    _pick(out, svc_chain, what, seps)
    if not external:
        return
    ext = chain_name("EXT", svc.namespace, svc.name, port.name, proto)
    out.nat_chains.append(ext)
    if not svc.external_local:
        out.nat.append(f"-A {ext} {_comment(what + ' external')} -j {svc_chain}")
    else:
        if view.cluster_cidr:
            out.nat.append(f"-A {ext} -s {view.cluster_cidr} {_comment(what + ' from pods: cluster-wide')} "
                           f"-j {svc_chain}")
        local = [sep for sep, b in zip(seps, port.backends) if view.node and b.node == view.node]
        if local:  # SNAT as well: the endpoint could not route its answer to an outside client
            out.nat.append(f"-A {ext} {_comment(what + ' local')} -j {MARK_MASQ}")
        _pick(out, ext, what + " local", local)
        if not local:
            out.filter += [f"-A {EXTERNAL} {m} {_comment(what + ' has no local endpoints')} -j DROP"
                           for m in external]
    for ip in addresses:
        out.nat.append(f"-A {SERVICES} -d {ip}/32 {match} --dport {port.port} "
                       f"{_comment(what + ' external address')} -j {ext}")
    if port.node_port:
        out.nat.append(f"-A {NODEPORTS} {match} --dport {port.node_port} {_comment(what + ' node port')} -j {ext}")


def _snat_rules(snat: str, view: NodeView) -> list[str]:
    """POSTROUTING's choice of source address for proxied traffic (see the module docstring)."""
    what = _comment("pyctl service traffic requiring SNAT")
    if not (view.source and view.pod_cidr and view.cluster_cidr):
        return [f"-A {POSTROUTING} {what} -j {snat}"]
    return [f"-A {POSTROUTING} -d {view.pod_cidr} {what} -j {snat}",
            f"-A {POSTROUTING} -s {view.cluster_cidr} -d {view.cluster_cidr} "
            f"{_comment('pod to a pod on another node: keep the client address')} -j RETURN",
            f"-A {POSTROUTING} -d {view.cluster_cidr} {what} -j {snat}",
            f"-A {POSTROUTING} {_comment('pyctl service traffic leaving the pod network')} -j MASQUERADE"]


def render(table: pb.ServiceTable, existing: dict[str, set[str]] | None = None,
           view: NodeView = NodeView()) -> str:
    """The iptables-restore input (nat, then filter) for `table`; `existing` are the PYCTL-
    chains now in each table, and those no longer needed are deleted in the same transaction."""
    out = _Tables()
    snat = f"SNAT --to-source {view.source}" if view.source else "MASQUERADE"
    if view.source and view.cluster_cidr:
        out.nat.append(f"-A {POSTROUTING} -m addrtype --src-type LOCAL ! -s {view.cluster_cidr} -d {view.cluster_cidr} "
                       f"{_comment('node to pods elsewhere: an address they can answer')} "
                       f"-j SNAT --to-source {view.source}")
    out.nat += [
        f"-A {POSTROUTING} -m mark ! --mark {MASQ_MARK} -j RETURN",
        f"-A {POSTROUTING} -j MARK --xor-mark 0x4000",  # clear it: a re-routed packet is SNATed once
        *_snat_rules(snat, view),
        f"-A {MARK_MASQ} -j MARK --set-xmark {MASQ_MARK}",
    ]
    for svc in table.services:
        if svc.cluster_ip in ("", "None"):
            continue  # headless: DNS hands out the endpoints, nothing to proxy
        for port in svc.ports:
            _port(out, svc, port, view)
    if any(r.startswith(f"-A {NODEPORTS} ") for r in out.nat):
        out.nat.append(f"-A {SERVICES} {LOCAL_DST} {_comment('node ports: keep last')} -j {NODEPORTS}")
    existing = existing or {}
    text: list[str] = []
    for name, chains, rules in (("nat", out.nat_chains, out.nat), ("filter", out.filter_chains, out.filter)):
        stale = sorted(existing.get(name, set()) - set(chains))
        text += [f"*{name}"] + [f":{c} - [0:0]" for c in chains + stale] + rules + [f"-X {c}" for c in stale]
        text.append("COMMIT")
    return "\n".join(text + [""])


def cleanup_rules(existing: dict[str, set[str]]) -> str:
    """iptables-restore input that flushes and deletes every one of our chains."""
    text: list[str] = []
    for name in TABLES:
        ours = sorted(existing.get(name, set()))
        if ours:
            text += [f"*{name}"] + [f":{c} - [0:0]" for c in ours] + [f"-X {c}" for c in ours] + ["COMMIT"]
    return "\n".join(text + [""])


# The NetworkPolicy enforcer's chains share the filter table and the prefix (netpol.py owns them).
NOT_OURS = ("PYCTL-NETPOL", "PYCTL-NP-")


def our_chains(saved: str) -> dict[str, set[str]]:
    """The proxy's PYCTL- chains declared in each table of `iptables-save` output."""
    found: dict[str, set[str]] = {}
    table = ""
    for line in saved.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith(":" + PREFIX) and not line[1:].startswith(NOT_OURS):
            found.setdefault(table, set()).add(line[1:].split()[0])
    return found
