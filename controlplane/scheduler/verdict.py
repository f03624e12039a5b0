"""A scheduling attempt as a placement record (machinery/placement.py), bounded in size.

For a pod that fits nowhere: every filter's findings on every node (`collect`), nodes with
the same findings in one group (`487 nodes: memory: requests 100Ti > allocatable 7.6Gi;
nodeSelector disk=ssd: label missing`), free amounts shown as a range over the group, and the
smallest sets of changes to the pod that would let it fit somewhere. For a bound pod: the
scores that chose its node. Pure: a function of the pod, the snapshot and the profile.

Bounded for big clusters: at most MAX_GROUPS groups (the rest counted in `omitted`), the
first MAX_NAMES node names per group, and the whole record under MAX_BYTES, so it fits an
annotation (Kubernetes allows 256 KiB for all of a pod's annotations) and a watch event.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from ..machinery import placement
from .findings import FREE, HAVE, Finding, NodeExplain, amount, from_status, span
from .framework import Decision, FilterPlugin, Profile
from .snapshot import NodeInfo, PodInfo, Snapshot
from .status import Status

MAX_GROUPS = 16
MAX_NAMES = 8
MAX_VALUES = 3  # label values shown per finding of a group
MAX_SUGGESTIONS = 3
MAX_BYTES = 16 * 1024

PerNode = list[tuple[str, tuple[Finding, ...]]]


# -- every filter, every node --------------------------------------------------------------

def _everywhere(findings: tuple[Finding, ...]) -> NodeExplain:
    return lambda node: findings


def _explainer(f: FilterPlugin, pod: PodInfo, snapshot: Snapshot) -> NodeExplain | None:
    if f.explain is None:  # word the check's Status
        check = f.prepare(pod, snapshot)
        if isinstance(check, Status):
            return _everywhere(from_status(check))
        if check is None:
            return None
        prepared = check
        return lambda node: from_status(status) if (status := prepared(node)) is not None else ()
    found = f.explain(pod, snapshot)
    return _everywhere(found) if isinstance(found, tuple) else found


def explainers(pod: PodInfo, snapshot: Snapshot, filters: Iterable[FilterPlugin]) -> list[NodeExplain]:
    """The filters' per-node explanations of this pod, leaving out those with nothing to say."""
    return [e for e in (_explainer(f, pod, snapshot) for f in filters) if e is not None]


def collect(pod: PodInfo, snapshot: Snapshot, profile: Profile,
            nodes: Iterable[NodeInfo] | None = None) -> PerNode:
    """(node name, the findings of every filter) for each node (by default all of the
    snapshot's, in its order). A node without findings fits."""
    checks = explainers(pod, snapshot, profile.filters)
    out: PerNode = []
    for node in snapshot.node_list() if nodes is None else nodes:
        found: list[Finding] = []
        for explain in checks:
            found.extend(explain(node))
        out.append((node.name, tuple(found)))
    return out


# -- grouping ------------------------------------------------------------------------------

Tally = dict[tuple[Finding, ...], list[str]]
"""Node names by their exact findings (free amounts and label values included)."""


def tally(per_node: PerNode) -> Tally:
    """Nodes with exactly the same findings together: plugins hand identical nodes the same
    Finding objects, so this is one dict lookup per node, and what follows works per tally."""
    out: Tally = {}
    for name, findings in per_node:
        names = out.get(findings)
        if names is None:
            out[findings] = [name]
        else:
            names.append(name)
    return out


@dataclass
class _Group:
    findings: tuple[Finding, ...]  # the first node's: the wording, the resources
    names: list[str] = field(default_factory=list)
    count: int = 0
    low: list[int] = field(default_factory=list)  # per finding: the least free on a node
    high: list[int] = field(default_factory=list)  # and the most
    have: list[list[str]] = field(default_factory=list)  # per finding: the values nodes have

    def add(self, names: list[str], findings: tuple[Finding, ...]) -> None:
        self.count += len(names)
        self.names.extend(names[:MAX_NAMES - len(self.names)])
        if not self.low:
            self.low = [f.free for f in findings]
            self.high = list(self.low)
            self.have = [[f.have] for f in findings]
            return
        for i, f in enumerate(findings):
            self.low[i] = min(self.low[i], f.free)
            self.high[i] = max(self.high[i], f.free)
            seen = self.have[i]
            if len(seen) <= MAX_VALUES and f.have not in seen:
                seen.append(f.have)

    def record(self) -> placement.Group:
        failures: list[placement.Failure] = []
        for f, low, high, have in zip(self.findings, self.low, self.high, self.have):
            values = ", ".join(have[:MAX_VALUES]) + (", ..." if len(have) > MAX_VALUES else "")
            detail = f.detail.replace(FREE, span(f.resource, low, high)).replace(HAVE, values)
            failure: placement.Failure = {"filter": f.filter, "reason": f.reason, "detail": detail}
            if f.fix:
                failure["fix"] = f.fix.replace(FREE, amount(f.resource, high))
            failures.append(failure)
        return {"count": self.count, "nodes": list(self.names), "failures": failures}


def group(counted: Tally) -> list[_Group]:
    """Nodes whose findings differ at most in free amounts and label values together, the
    largest group first (then by first name)."""
    groups: dict[tuple[tuple[str, str, str, str], ...], _Group] = {}
    for findings, names in counted.items():
        key = tuple(f.key for f in findings)
        g = groups.get(key)
        if g is None:
            g = groups[key] = _Group(findings)
        g.add(names, findings)
    for g in groups.values():
        g.names.sort()
    return sorted(groups.values(), key=lambda g: (-g.count, g.names[0] if g.names else ""))


# -- the smallest change -------------------------------------------------------------------

def _headroom(findings: Sequence[Finding]) -> float:
    """How much of its requests the pod keeps on this node (more is a smaller change)."""
    return sum(f.free / f.requested for f in findings if f.resource and f.requested)


def suggestions(counted: Tally) -> list[placement.Suggestion]:
    """The fewest changes to the pod that let it fit on some node, and on how many nodes it
    would then fit; nodes that no change to the pod can open (a cordoned one, a full one) are
    left out. Requests are lowered only as far as the node needing the least needs."""
    options: dict[tuple[str, ...], list[tuple[tuple[Finding, ...], int]]] = {}
    for findings, names in counted.items():
        if findings and all(f.fix for f in findings):
            options.setdefault(tuple(dict.fromkeys(f.fix for f in findings)), []).append((findings, len(names)))
    ranked: list[tuple[int, int, list[str]]] = []
    for nodes in options.values():
        best = max((findings for findings, _ in nodes), key=_headroom)
        limits = {f.resource: f.free for f in best if f.resource}
        fits = sum(n for fs, n in nodes if all(f.free >= limits[f.resource] for f in fs if f.resource))
        changes = list(dict.fromkeys(f.fix.replace(FREE, amount(f.resource, limits.get(f.resource, 0)))
                                     for f in best))
        ranked.append((len(changes), -fits, changes))
    ranked.sort()
    return [{"changes": changes, "nodes": -fits} for _, fits, changes in ranked[:MAX_SUGGESTIONS]]


# -- records -------------------------------------------------------------------------------

def _signature(groups: list[_Group], hints: list[placement.Suggestion]) -> str:
    """What changes the verdict: the groups, their findings, the suggested changes (not the
    free amounts alone, which move with every pod placed elsewhere)."""
    shape = ([(g.count, g.names, [f.key for f in g.findings], g.have) for g in groups],
             [(s["nodes"], len(s["changes"])) for s in hints])
    return hashlib.blake2b(repr(shape).encode(), digest_size=8).hexdigest()


def unschedulable(per_node: PerNode, *, now: str) -> dict[str, Any]:
    """The verdict on a pod that fits on none of these nodes."""
    counted = tally(per_node)
    groups = group(counted)
    hints = suggestions(counted)
    shown, rest = groups[:MAX_GROUPS], groups[MAX_GROUPS:]
    record: dict[str, Any] = {
        "version": placement.VERSION, "result": placement.UNSCHEDULABLE, "time": now, "nodes": len(per_node),
        "groups": [g.record() for g in shown],
        "omitted": {"groups": len(rest), "nodes": sum(g.count for g in rest)},
        "suggestions": hints, "signature": _signature(groups, hints)}
    _fit(record)
    return record


def _fit(record: dict[str, Any]) -> None:
    """Shrink the record under MAX_BYTES: fewer names first, then fewer groups."""
    if len(placement.encode(record)) <= MAX_BYTES:
        return
    for g in record["groups"]:
        del g["nodes"][1:]
    omitted = record["omitted"]
    while len(record["groups"]) > 1 and len(placement.encode(record)) > MAX_BYTES:
        dropped = record["groups"].pop()
        omitted["groups"] += 1
        omitted["nodes"] += dropped["count"]


def scheduled(decision: Decision, *, now: str) -> dict[str, Any]:
    """Why the pod went where it did: the chosen node's and the runners-up's scores."""
    scores: list[placement.NodeScore] = [
        {"node": s.node, "total": round(s.total), "plugins": {name: round(v) for name, v in s.plugins}}
        for s in decision.scores]
    return {"version": placement.VERSION, "result": placement.SCHEDULED, "time": now, "node": decision.node,
            "nodes": decision.num_nodes, "examined": decision.examined, "feasible": decision.feasible,
            "scores": scores}


def explain(pod: PodInfo, snapshot: Snapshot, profile: Profile, *, now: str) -> dict[str, Any]:
    """collect + unschedulable: the verdict on a pod `schedule` found no node for."""
    return unschedulable(collect(pod, snapshot, profile), now=now)
