"""The user-facing reason a pod fits nowhere, worded and ordered as kube-scheduler's FitError:

    0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient memory.

Each node contributes all the reasons of the filter that rejected it; the histogram is
sorted as strings, as upstream does. Preemption is not implemented, so there is no
"preemption: ..." suffix.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from .status import Status

NO_NODES = "no nodes available to schedule pods"


def fit_error_message(num_nodes: int, failures: Iterable[Status]) -> str:
    if num_nodes == 0:
        return NO_NODES
    counts: Counter[str] = Counter()
    for status in failures:
        counts.update(status.reasons)
    histogram = sorted(f"{n} {reason}" for reason, n in counts.items())
    return f"0/{num_nodes} nodes are available: {', '.join(histogram)}."
