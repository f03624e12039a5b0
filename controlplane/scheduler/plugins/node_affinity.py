"""NodeAffinity: spec.nodeSelector (every label must match) and the required node affinity
(any one nodeSelectorTerm; within a term, every matchExpression and matchField) must both
hold. Terms are compiled once per pod; a malformed term fails the pod on every node. The
explanation names each selector label a node lacks and each term's first unmet requirement."""

from __future__ import annotations

from typing import Callable

from ..findings import HAVE, Finding, NodeExplain
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


def _requirements(term: Obj) -> list[tuple[Match, Obj, bool]]:
    """(predicate, requirement, whether it is a field) for each requirement of a term."""
    out: list[tuple[Match, Obj, bool]] = []
    for req in term.get("matchExpressions") or []:
        out.append((_requirement(req, _label(req.get("key", ""))), req, False))
    for req in term.get("matchFields") or []:
        if req.get("key") != "metadata.name":
            raise ValueError(f"unsupported node field selector {req.get('key')!r}")
        out.append((_requirement(req, lambda n: n.name), req, True))
    return out


def compile_term(term: Obj) -> Match:
    """A nodeSelectorTerm as a predicate on nodes; ValueError for an unknown operator."""
    matchers = [m for m, _, _ in _requirements(term)]
    if not matchers:
        return lambda n: False  # an empty term selects no node
    return lambda n: all(m(n) for m in matchers)


Unmet = tuple[str, str, str]
"""(the requirement, what the node has instead -- HAVE standing for the value --, the value):
(`zone In [a, b]`, `node has zone={have}`, `c`)."""


def _unmet(req: Obj, is_field: bool, node: NodeInfo) -> Unmet:
    key, op = req.get("key", ""), req.get("operator", "")
    wanted = f"{key} {op}" if op in ("Exists", "DoesNotExist") else \
        f"{key} {op} [{', '.join(str(v) for v in req.get('values') or [])}]"
    if is_field:
        return wanted, f"node is {HAVE}", node.name
    have = node.labels.get(key)
    return (wanted, "label missing", "") if have is None else (wanted, f"node has {key}={HAVE}", have)


def explain_term(term: Obj) -> Callable[[NodeInfo], Unmet | None]:
    """The first requirement of a term a node does not meet, worded; None when it matches."""
    reqs = _requirements(term)
    if not reqs:
        return lambda n: ("an empty nodeSelectorTerm", "matches no node", "")

    def unmet(node: NodeInfo) -> Unmet | None:
        for match, req, is_field in reqs:
            if not match(node):
                return _unmet(req, is_field, node)
        return None

    return unmet


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


def _selector_finding(key: str, value: str, have: str | None) -> Finding:
    return Finding(NAME, REASON, f"nodeSelector {key}={value}: "
                   + ("label missing" if have is None else f"node has {key}={HAVE}"),
                   f"drop nodeSelector {key}={value}", have=have or "")


def explain(pod: PodInfo, snapshot: Snapshot) -> NodeExplain | tuple[Finding, ...] | None:
    selector = pod.node_selector
    if not selector and pod.node_affinity is None:
        return None
    try:
        terms = [explain_term(t) for t in pod.node_affinity or ()] if pod.node_affinity is not None else None
    except (ValueError, TypeError) as exc:
        return (Finding(NAME, REASON, f"required node affinity cannot be used: {exc}",
                        "correct the required node affinity"),)
    items = sorted(selector.items())
    seen: dict[tuple[str, str, str | None], Finding] = {}

    def selector_finding(key: str, value: str, have: str | None) -> Finding:
        found = seen.get((key, value, have))
        if found is None:
            found = seen[(key, value, have)] = _selector_finding(key, value, have)
        return found

    def findings(node: NodeInfo) -> list[Finding]:
        labels = node.labels
        out = [selector_finding(k, v, labels.get(k)) for k, v in items if labels.get(k) != v]
        if terms is not None:
            unmet = [t(node) for t in terms]
            if all(u is not None for u in unmet):
                out.append(_affinity_finding([u for u in unmet if u is not None]))
        return out

    return findings


def _affinity_finding(unmet: list[Unmet]) -> Finding:
    fix = "relax the required node affinity"
    if len(unmet) == 1:
        (wanted, what, have), = unmet
        return Finding(NAME, REASON, f"required node affinity: {wanted}: {what}", fix, have=have)
    # Several terms, none met: name each one's unmet requirement (what the node has would
    # need one placeholder per term; it is left out).
    parts = [f"term {i + 1}: {wanted} not met" for i, (wanted, _, _) in enumerate(unmet)]
    return Finding(NAME, REASON, f"required node affinity: {'; '.join(parts) or 'no terms'}", fix)


PLUGIN = FilterPlugin(NAME, prepare, explain)
