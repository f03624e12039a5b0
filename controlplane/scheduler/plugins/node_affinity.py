"""NodeAffinity: spec.nodeSelector (every label must match) and the required node affinity
(any one nodeSelectorTerm; within a term, every matchExpression and matchField) must both
hold. Terms are compiled once per pod; a malformed term fails the pod on every node."""

from __future__ import annotations

from typing import Callable

from ..framework import FilterPlugin, NodeCheck, Status, unresolvable
from ..snapshot import NodeInfo, PodInfo, Snapshot
from ...machinery.types import Obj

NAME = "NodeAffinity"
REASON = "node(s) didn't match Pod's node affinity/selector"
_FAIL = unresolvable(NAME, REASON)

Match = Callable[[NodeInfo], bool]


def _requirement(req: Obj, value_of: Callable[[NodeInfo], str | None]) -> Match:
    op = req.get("operator")
    values = list(req.get("values") or [])
    if op == "In":
        allowed = frozenset(values)
        return lambda n: value_of(n) in allowed
    if op == "NotIn":
        banned = frozenset(values)
        return lambda n: value_of(n) not in banned
    if op == "Exists":
        return lambda n: value_of(n) is not None
    if op == "DoesNotExist":
        return lambda n: value_of(n) is None
    if op in ("Gt", "Lt") and len(values) == 1:
        bound = int(values[0])
        gt = op == "Gt"

        def compare(n: NodeInfo) -> bool:
            try:
                have = int(value_of(n) or "")
            except ValueError:
                return False
            return have > bound if gt else have < bound

        return compare
    raise ValueError(f"unsupported node selector operator {op!r}")


def _label(key: str) -> Callable[[NodeInfo], str | None]:
    return lambda n: n.labels.get(key)


def compile_term(term: Obj) -> Match:
    """A nodeSelectorTerm as a predicate on nodes; ValueError for an unknown operator."""
    matchers: list[Match] = []
    for req in term.get("matchExpressions") or []:
        matchers.append(_requirement(req, _label(req.get("key", ""))))
    for req in term.get("matchFields") or []:
        if req.get("key") != "metadata.name":
            raise ValueError(f"unsupported node field selector {req.get('key')!r}")
        matchers.append(_requirement(req, lambda n: n.name))
    if not matchers:
        return lambda n: False  # an empty term selects no node
    return lambda n: all(m(n) for m in matchers)


def prepare(pod: PodInfo, snapshot: Snapshot) -> NodeCheck | Status | None:
    selector = pod.node_selector
    if not selector and pod.node_affinity is None:
        return None
    try:
        terms = [compile_term(t) for t in pod.node_affinity or ()] if pod.node_affinity is not None else None
    except (ValueError, TypeError):
        return _FAIL
    items = list(selector.items())

    def check(node: NodeInfo) -> Status | None:
        labels = node.labels
        for k, v in items:
            if labels.get(k) != v:
                return _FAIL
        if terms is not None and not any(t(node) for t in terms):
            return _FAIL
        return None

    return check


PLUGIN = FilterPlugin(NAME, prepare)
