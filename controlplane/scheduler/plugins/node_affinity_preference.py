"""NodeAffinity (score): preferredDuringSchedulingIgnoredDuringExecution -- each term whose
nodeSelectorTerm a node matches adds the term's weight; the sums are scaled to 0..100."""

from __future__ import annotations

from ..framework import NodeScore, ScorePlugin
from ..snapshot import NodeInfo, PodInfo, Snapshot
from .normalize import most_best
from .node_affinity import compile_term

NAME = "NodeAffinityPreference"


def prepare(pod: PodInfo, snapshot: Snapshot) -> NodeScore | None:
    affinity = (pod.obj.get("spec") or {}).get("affinity") or {}
    preferred = (affinity.get("nodeAffinity") or {}).get("preferredDuringSchedulingIgnoredDuringExecution") or []
    try:
        terms = [(int(p.get("weight") or 0), compile_term(p.get("preference") or {})) for p in preferred]
    except (ValueError, TypeError):
        return None  # a malformed preference is only a preference: ignore it
    terms = [(w, m) for w, m in terms if w]
    if not terms:
        return None

    def score(node: NodeInfo) -> float:
        return sum(w for w, match in terms if match(node))

    return score


PLUGIN = ScorePlugin(NAME, 2, prepare, most_best)
