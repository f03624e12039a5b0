"""Turning a score plugin's raw numbers for the feasible nodes into 0..100."""

from __future__ import annotations

from ..framework import MAX_SCORE


def fewest_best(counts: list[float]) -> list[float]:
    """Fewest -> 100, most -> 0 (replicas already there, soft taints not tolerated)."""
    most = max(counts)
    if most <= 0:
        return [MAX_SCORE] * len(counts)
    return [MAX_SCORE * (most - c) / most for c in counts]


def most_best(sums: list[float]) -> list[float]:
    """Highest -> 100, in proportion; all zero stays zero (preferred affinity weights)."""
    best = max(sums)
    if best <= 0:
        return [0.0] * len(sums)
    return [MAX_SCORE * s / best for s in sums]
