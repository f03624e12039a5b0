"""Pods per second over time, from the moments a pod watch first saw each pod reach a state.

The watch (bench/podwatch.py) keeps one timestamp per pod and state, so the count at any
instant is the number of stamps before it: binning them gives the rate in each interval
exactly, with no sampler running beside the benchmark."""

from __future__ import annotations

import math


def bin_width(span: float) -> float:
    """About 60 bins over the run, on a round width: 0.25 s, 0.5 s, 1 s, 2 s, 5 s, ..."""
    for w in (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0):
        if span / w <= 60:
            return w
    return 60.0


def per_second(stamps: list[float], t0: float, width: float, end: float) -> list[tuple[float, float]]:
    """(s since t0 at the end of each bin, events per second in that bin) from t0 to `end`."""
    bins = [0] * max(1, math.ceil((end - t0) / width))
    for s in stamps:
        if t0 <= s <= end:
            bins[min(int((s - t0) / width), len(bins) - 1)] += 1
    return [((i + 1) * width, n / width) for i, n in enumerate(bins)]


def pods_per_second(states: dict[str, list[float]], t0: float) -> dict[str, list[tuple[float, float]]]:
    """"pods <state> per second" -> its points, every state over the same bins, from t0 to the last stamp."""
    end = max((s for stamps in states.values() for s in stamps), default=t0)
    width = bin_width(end - t0)
    return {f"pods {state} per second ({width:g} s bins)": per_second(stamps, t0, width, end)
            for state, stamps in states.items()}
