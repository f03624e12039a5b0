"""The scheduling framework: what a plugin is, the Status it returns, and `schedule`, the pure
function that picks a node for one pod from a Snapshot.

A plugin is a name and a `prepare(pod, snapshot)` function (swarmkit's SetTask): it returns
None when it has nothing to say about this pod (so it costs nothing per node), or a small
per-node function. Filters run cheapest first and the first failure on a node is that node's
reason; scores are weighted and summed over the nodes that passed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .explain import fit_error_message
from .snapshot import NodeInfo, PodInfo, Snapshot
from .status import Code, Status, unresolvable, unschedulable  # noqa: F401  (plugins use them from here)


MAX_SCORE = 100  # a normalized score: 0..100, as kube-scheduler's framework.MaxNodeScore

NodeCheck = Callable[[NodeInfo], "Status | None"]  # None means the node passes
NodeScore = Callable[[NodeInfo], float]


@dataclass(frozen=True)
class FilterPlugin:
    name: str
    prepare: Callable[[PodInfo, Snapshot], "NodeCheck | Status | None"]
    """None: nothing to check for this pod; a Status: the pod fails on every node (a bad spec)."""


@dataclass(frozen=True)
class ScorePlugin:
    name: str
    weight: int
    prepare: Callable[[PodInfo, Snapshot], "NodeScore | None"]
    normalize: Callable[[list[float]], list[float]] | None = None
    """Turn raw scores of the feasible nodes into 0..100."""


@dataclass(frozen=True)
class Profile:
    filters: Sequence[FilterPlugin]
    scores: Sequence[ScorePlugin]


@dataclass
class Decision:
    """Where a pod goes, or why it goes nowhere."""

    node: str | None
    num_nodes: int
    failures: dict[str, Status] = field(default_factory=dict)  # node name -> first failing status
    examined: int = 0  # nodes filtered before enough feasible ones were found

    @property
    def message(self) -> str:
        return fit_error_message(self.num_nodes, self.failures.values())


MIN_FEASIBLE_NODES = 100
MIN_FEASIBLE_PERCENT = 5


def feasible_nodes_to_find(num_nodes: int) -> int:
    """kube-scheduler's adaptive percentageOfNodesToScore: in a big cluster stop filtering once
    this many nodes fit. The best of a few hundred fitting nodes is as good a choice as the
    best of thousands, at a fraction of the cost per pod."""
    if num_nodes < MIN_FEASIBLE_NODES:
        return num_nodes
    percent = max(MIN_FEASIBLE_PERCENT, 50 - num_nodes // 125)
    return max(MIN_FEASIBLE_NODES, num_nodes * percent // 100)


def schedule(pod: PodInfo, snapshot: Snapshot, profile: Profile, rng: random.Random | None = None,
             start: int = 0) -> Decision:
    """Filter the nodes (from index `start`, wrapping), score the feasible ones, return the
    best, ties broken at random. `Decision.examined` says how many nodes were looked at, so
    the caller can start the next pod where this one stopped (as kube does)."""
    nodes = snapshot.node_list()
    total = len(nodes)
    checks: list[NodeCheck] = []
    failures: dict[str, Status] = {}
    for f in profile.filters:
        check = f.prepare(pod, snapshot)
        if isinstance(check, Status):
            return Decision(None, total, {n.name: check for n in nodes}, total)
        if check is not None:
            checks.append(check)
    feasible: list[NodeInfo] = []
    wanted = feasible_nodes_to_find(total)
    start = start % total if total else 0
    examined = 0
    for node in nodes[start:] + nodes[:start] if start else nodes:
        examined += 1
        for check in checks:
            status = check(node)
            if status is not None:
                failures[node.name] = status
                break
        else:
            feasible.append(node)
            if len(feasible) >= wanted:
                break
    if not feasible:
        return Decision(None, total, failures, examined)
    if len(feasible) == 1:
        return Decision(feasible[0].name, total, examined=examined)
    totals = [0.0] * len(feasible)
    for s in profile.scores:
        fn = s.prepare(pod, snapshot)
        if fn is None:
            continue
        raw = [fn(n) for n in feasible]
        if s.normalize is not None:
            raw = s.normalize(raw)
        for i, v in enumerate(raw):
            totals[i] += s.weight * v
    best = max(totals)
    winners = [n for n, t in zip(feasible, totals) if t == best]
    choice = winners[0] if len(winners) == 1 else (rng or random).choice(winners)
    return Decision(choice.name, total, examined=examined)
