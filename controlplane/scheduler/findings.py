"""What every filter says about a pod on a node, with numbers — the scheduler's explanation.

`schedule` stops at a node's first failing filter, which is all the FitError histogram needs.
When a pod fits nowhere, verdict.collect asks EVERY filter about every node (each plugin's
`explain`), so a user learns all that stands in the way on each node, not only the first
thing: `memory: requests 100Ti > allocatable 7.6Gi` AND `nodeSelector disk=ssd: label missing`.

A Finding may say what change to the pod would lift it on that node (`fix`); the verdict
(verdict.py) groups nodes with the same findings and picks the smallest set of changes.
Pure data and wording; no plugin is imported here (the plugins import this).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from .snapshot import NodeInfo
from .status import Status

FREE = "{free}"
"""Stands, in a detail or fix, for what is free on the node: a range once nodes are grouped."""
HAVE = "{have}"
"""Stands, in a detail, for what the node has instead (a label's value): the values seen once
nodes are grouped (`node has zone=b, c`), so nodes that differ only there group together."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason a filter rejects a node, worded for a user."""

    filter: str
    reason: str
    """kube-scheduler's words (the FailedScheduling histogram's): `Insufficient memory`."""
    detail: str
    """With numbers: `memory: requests 2Gi > free {free} of allocatable 7.6Gi`."""
    fix: str = ""
    """The smallest change to the pod that lifts this finding on this node ('': none)."""
    resource: str = ""
    """For a resource shortfall: which resource; `free` and `requested` are in its units."""
    free: int = 0
    requested: int = 0
    have: str = ""
    """What HAVE stands for on this node."""

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What identifies the finding across nodes (the free amount may differ)."""
        return (self.filter, self.reason, self.detail, self.fix)


NodeExplain = Callable[[NodeInfo], Sequence[Finding]]
"""Every finding of one filter on one node; empty when the node passes."""


def from_status(status: Status) -> tuple[Finding, ...]:
    """A plugin without an explanation of its own: its Status's reasons, as they are."""
    return tuple(Finding(status.plugin, r, r) for r in status.reasons)


# -- amounts as people read them ---------------------------------------------------------

_BINARY = (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))
_BYTES = ("memory", "ephemeral-storage", "storage")


def _short(value: int, unit: int, suffix: str) -> str:
    # Rounded down: "lower the request to 7.6Gi" must fit where 7.63Gi is free.
    tenths = value * 10 // unit
    whole, frac = divmod(tenths, 10)
    return f"{whole}{suffix}" if not frac else f"{whole}.{frac}{suffix}"


def amount(resource: str, value: int) -> str:
    """`7.6Gi`, `500m`, `2`, `110`: an amount of `resource` in the units scheduling counts in
    (millicores for cpu, bytes for memory-like resources, units otherwise), rounded down."""
    if value < 0:
        return "-" + amount(resource, -value)
    if resource == "cpu":
        return str(value // 1000) if value % 1000 == 0 else f"{value}m"
    if resource in _BYTES or resource.startswith("hugepages-"):
        for suffix, unit in _BINARY:
            if value >= unit:
                return _short(value, unit, suffix)
        return str(value)
    return str(value)


def span(resource: str, low: int, high: int) -> str:
    """One amount, or `low–high` for a group of nodes."""
    return amount(resource, low) if low == high else f"{amount(resource, low)}–{amount(resource, high)}"
