"""The scheduling framework: what a plugin is, the Status it returns, and `schedule`, the pure
function that picks a node for one pod from a Snapshot.

A plugin is a name and a `prepare(pod, snapshot)` function (swarmkit's SetTask): it returns
None when it has nothing to say about this pod (so it costs nothing per node), or a small
per-node function. Filters run cheapest first and the first failure on a node is that node's
reason; scores are weighted and summed over the nodes that passed. A filter may also
`explain` (swarmkit's Explain): every finding on a node, with numbers, asked only when a pod
fits nowhere (verdict.py). The Decision keeps the weighted scores of the best few nodes, so
a bound pod can show why it went where it did.
"""

from __future__ import annotations

import bisect
import operator
import random
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .explain import fit_error_message
from .findings import Finding, NodeExplain
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
    explain: Callable[[PodInfo, Snapshot], "NodeExplain | tuple[Finding, ...] | None"] | None = None
    """Every finding on a node (None: nothing to say about this pod; a tuple: the same findings
    on every node). Without it, the verdict words the prepared check's Status."""
    node_local: bool = True
    """Its verdict on a node depends on that node (and the pod) only, not on other nodes'
    pods: `schedule_many` may keep it until that node changes."""


@dataclass(frozen=True)
class ScorePlugin:
    name: str
    weight: int
    prepare: Callable[[PodInfo, Snapshot], "NodeScore | None"]
    normalize: Callable[[list[float]], list[float]] | None = None
    """Turn raw scores of the feasible nodes into 0..100."""
    node_local: bool = True
    """A node's raw score depends on that node (and the pod) only (see FilterPlugin)."""


@dataclass(frozen=True)
class Profile:
    filters: Sequence[FilterPlugin]
    scores: Sequence[ScorePlugin]


TOP_SCORES = 3  # nodes whose scores a decision keeps: the chosen one and the runners-up


@dataclass(frozen=True, slots=True)
class NodeScores:
    """A node's total score and each plugin's weighted part of it."""

    node: str
    total: float
    plugins: tuple[tuple[str, float], ...]


@dataclass
class Decision:
    """Where a pod goes, or why it goes nowhere."""

    node: str | None
    num_nodes: int
    failures: dict[str, Status] = field(default_factory=dict)  # node name -> first failing status
    examined: int = 0  # nodes filtered before enough feasible ones were found
    feasible: int = 0  # of the examined nodes, those that passed every filter
    ranking: "Ranking | None" = None

    @property
    def message(self) -> str:
        return fit_error_message(self.num_nodes, self.failures.values())

    @property
    def scores(self) -> tuple[NodeScores, ...]:
        """The chosen node's scores, then the next best nodes' (none when only one fit)."""
        return self.ranking.top() if self.ranking is not None else ()


@dataclass(frozen=True, slots=True)
class Ranking:
    """How the feasible nodes scored, kept as computed: broken down per plugin only when asked
    (the scheduler asks once per bound pod; a plan never does)."""

    nodes: list[NodeInfo]
    totals: list[float]
    parts: list[tuple[str, int, list[float]]]  # (plugin, weight, normalized scores)
    choice: int

    def top(self) -> tuple[NodeScores, ...]:
        order = sorted(range(len(self.totals)), key=self.totals.__getitem__, reverse=True)
        picked = [self.choice, *[i for i in order[:TOP_SCORES] if i != self.choice][:TOP_SCORES - 1]]
        return tuple(NodeScores(self.nodes[i].name, self.totals[i],
                                tuple((name, weight * raw[i]) for name, weight, raw in self.parts)) for i in picked)


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
        return Decision(feasible[0].name, total, examined=examined, feasible=1)
    raws = [(s, [fn(n) for n in feasible]) for s in profile.scores if (fn := s.prepare(pod, snapshot)) is not None]
    return _decide(feasible, raws, total, examined, rng)


def _decide(feasible: list[NodeInfo], raws: list[tuple[ScorePlugin, list[float]]], total: int, examined: int,
            rng: random.Random | None) -> Decision:
    """Weigh the feasible nodes' raw scores; the best wins, ties broken at random."""
    totals = [0.0] * len(feasible)
    parts: list[tuple[str, int, list[float]]] = []
    for s, raw in raws:
        if s.normalize is not None:
            raw = s.normalize(raw)
        parts.append((s.name, s.weight, raw))
        weight = s.weight
        totals = [t + weight * v for t, v in zip(totals, raw)]
    best = max(totals)
    winners = [i for i, t in enumerate(totals) if t == best]
    choice = winners[0] if len(winners) == 1 else (rng or random).choice(winners)
    return Decision(feasible[choice].name, total, examined=examined, feasible=len(feasible),
                    ranking=Ranking(feasible, totals, parts, choice))


class _Kept:
    """For one pod template: each node's first failing filter and raw scores, kept until the
    node changes; the nodes that fit, in node order, so a window of them is a slice."""

    def __init__(self, nodes: list[NodeInfo], checks: list[NodeCheck], scorers: list[NodeScore]) -> None:
        self.nodes, self.checks, self.scorers = nodes, checks, scorers
        self.status = [self._check(n) for n in nodes]
        self.fits = [j for j, status in enumerate(self.status) if status is None]
        self.raw = [[fn(n) if status is None else 0.0 for n, status in zip(nodes, self.status)] for fn in scorers]

    def _check(self, node: NodeInfo) -> Status | None:
        for check in self.checks:
            status = check(node)
            if status is not None:
                return status
        return None

    def refresh(self, j: int) -> None:
        """Node j changed (a pod was assumed there)."""
        node = self.nodes[j]
        status = self.status[j] = self._check(node)
        at = bisect.bisect_left(self.fits, j)
        kept = at < len(self.fits) and self.fits[at] == j
        if status is None:
            if not kept:
                self.fits.insert(at, j)
            for raw, fn in zip(self.raw, self.scorers):
                raw[j] = fn(node)
        elif kept:
            del self.fits[at]

    def window(self, start: int, wanted: int) -> tuple[list[int], int]:
        """The nodes that fit as `schedule` finds them from `start` (wrapping), at most
        `wanted`, and how many nodes it looks at to find them."""
        total = len(self.nodes)
        at = bisect.bisect_left(self.fits, start)
        found = self.fits[at:at + wanted]
        if len(found) < wanted:
            found += self.fits[:min(at, wanted - len(found))]
        return found, (found[-1] - start) % total + 1 if found and len(found) == wanted else total


def schedule_many(pods: Sequence[PodInfo], snapshot: Snapshot, profile: Profile,
                  rng: random.Random | None = None, start: int = 0) -> list[Decision]:
    """`schedule` then `snapshot.assume` for each of `pods` in turn -- replicas of one template,
    alike in all but their names -- deciding exactly as those calls would (the same nodes
    looked at, the same scores, the same use of `rng`), but checking and scoring each node once
    and afterwards only the node the last replica went to. A plan of 1,000 replicas costs one
    pass over the nodes and 1,000 weighings of kept scores, not 1,000 passes.

    A replica for which a plugin whose verdict on a node depends on other nodes' pods
    (node_local=False: required anti-affinity) has something to check is decided by a plain
    `schedule` call (and the node it goes to is checked again all the same)."""
    if not pods:
        return []
    first, nodes = pods[0], snapshot.node_list()
    checks: list[NodeCheck] = []
    for f in profile.filters:
        check = f.prepare(first, snapshot) if f.node_local else None
        if isinstance(check, Status):  # fails everywhere: nothing to keep
            return _one_by_one(pods, snapshot, profile, rng, start)
        if check is not None:
            checks.append(check)
    prepared = [(s, fn) for s in profile.scores if s.node_local and (fn := s.prepare(first, snapshot)) is not None]
    spanning = [f.prepare for f in profile.filters if not f.node_local] + \
        [s.prepare for s in profile.scores if not s.node_local]
    kept = _Kept(nodes, checks, [fn for _, fn in prepared])
    index = {n.name: j for j, n in enumerate(nodes)}
    total, wanted = len(nodes), feasible_nodes_to_find(len(nodes))
    decisions: list[Decision] = []
    for pod in pods:
        if any(prepare(pod, snapshot) is not None for prepare in spanning):
            decision = schedule(pod, snapshot, profile, rng, start)
        else:
            start = start % total if total else 0
            found, examined = kept.window(start, wanted)
            if not found:
                decision = Decision(None, total, {n.name: s for n, s in zip(nodes, kept.status) if s is not None},
                                    examined)
            elif len(found) == 1:
                decision = Decision(nodes[found[0]].name, total, examined=examined, feasible=1)
            else:
                pick = operator.itemgetter(*found)
                raws = [(s, list(pick(raw))) for (s, _), raw in zip(prepared, kept.raw)]
                decision = _decide(list(pick(nodes)), raws, total, examined, rng)
        decisions.append(decision)
        start += decision.examined
        if decision.node is not None:
            snapshot.assume(pod, decision.node)
            kept.refresh(index[decision.node])
    return decisions


def _one_by_one(pods: Sequence[PodInfo], snapshot: Snapshot, profile: Profile, rng: random.Random | None,
                start: int) -> list[Decision]:
    decisions = []
    for pod in pods:
        decision = schedule(pod, snapshot, profile, rng, start)
        start += decision.examined
        if decision.node is not None:
            snapshot.assume(pod, decision.node)
        decisions.append(decision)
    return decisions
