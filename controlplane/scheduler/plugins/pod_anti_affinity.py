"""InterPodAffinity (required anti-affinity only): a pod may not land in a topology domain
(usually one node: topologyKey kubernetes.io/hostname) that holds a pod its anti-affinity
terms select, nor where an existing pod's anti-affinity terms select it.

The domains to avoid are computed once per pod — one pass over the placed pods for the
pod's own terms, one over the few existing pods that have anti-affinity — so the per-node
check is a set lookup.
"""

from __future__ import annotations

from ..findings import Finding, NodeExplain
from ..framework import FilterPlugin, NodeCheck, Status, unschedulable
from ..snapshot import NodeInfo, PodInfo, Snapshot

NAME = "InterPodAffinity"
REASON_OWN = "node(s) didn't match pod anti-affinity rules"
REASON_EXISTING = "node(s) didn't satisfy existing pods anti-affinity rules"
_FAIL_OWN = unschedulable(NAME, REASON_OWN)
_FAIL_EXISTING = unschedulable(NAME, REASON_EXISTING)

Domains = set[tuple[str, str]]  # (topologyKey, value)


def _own_domains(pod: PodInfo, snapshot: Snapshot) -> Domains:
    out: Domains = set()
    for node in snapshot.nodes.values():
        for term in pod.anti_affinity:
            value = node.labels.get(term.topology_key)
            if value is None or (term.topology_key, value) in out:
                continue
            if any(term.matches(other) for other in node.pods.values() if other.key != pod.key):
                out.add((term.topology_key, value))
    return out


def _existing_domains(pod: PodInfo, snapshot: Snapshot) -> Domains:
    out: Domains = set()
    for other in snapshot.with_anti_affinity.values():
        if other.key == pod.key:
            continue
        node = snapshot.nodes.get(other.node_name)
        if node is None:
            continue
        for term in other.anti_affinity:
            value = node.labels.get(term.topology_key)
            if value is not None and term.matches(pod):
                out.add((term.topology_key, value))
    return out


def _hits(domains: Domains, node: NodeInfo) -> bool:
    return any(node.labels.get(key) == value for key, value in domains)


def _hit_keys(domains: Domains, node: NodeInfo) -> list[str]:
    return sorted({key for key, value in domains if node.labels.get(key) == value})


def prepare(pod: PodInfo, snapshot: Snapshot) -> NodeCheck | None:
    own = _own_domains(pod, snapshot) if pod.anti_affinity else set()
    existing = _existing_domains(pod, snapshot) if snapshot.with_anti_affinity else set()
    if not own and not existing:
        return None

    def check(node: NodeInfo) -> Status | None:
        # The pod's own rules are reported first, as upstream does.
        if own and _hits(own, node):
            return _FAIL_OWN
        if existing and _hits(existing, node):
            return _FAIL_EXISTING
        return None

    return check


def explain(pod: PodInfo, snapshot: Snapshot) -> NodeExplain | None:
    own = _own_domains(pod, snapshot) if pod.anti_affinity else set()
    existing = _existing_domains(pod, snapshot) if snapshot.with_anti_affinity else set()
    if not own and not existing:
        return None

    def findings(node: NodeInfo) -> list[Finding]:
        # Which pods match is not named: they may be in namespaces the reader cannot see.
        out = [Finding(NAME, REASON_OWN, f"required anti-affinity (topologyKey {key}): a matching pod "
                       "already runs in this node's domain", "relax the required pod anti-affinity")
               for key in _hit_keys(own, node)]
        out += [Finding(NAME, REASON_EXISTING, f"an existing pod's required anti-affinity (topologyKey {key}) "
                        "rejects this pod") for key in _hit_keys(existing, node)]
        return out

    return findings


PLUGIN = FilterPlugin(NAME, prepare, explain, node_local=False)  # the domains span nodes
