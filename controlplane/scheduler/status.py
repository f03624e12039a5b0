"""What a scheduler plugin says about a pod on a node: a code, and the reasons a user reads."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Code(IntEnum):
    SUCCESS = 0
    UNSCHEDULABLE = 1
    """Might fit after other pods go away (preemption could help)."""
    UNSCHEDULABLE_AND_UNRESOLVABLE = 2
    """Will not fit on this node whatever else runs there."""
    ERROR = 3


@dataclass(frozen=True, slots=True)
class Status:
    code: Code
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @property
    def ok(self) -> bool:
        return self.code == Code.SUCCESS


def unschedulable(plugin: str, *reasons: str) -> Status:
    return Status(Code.UNSCHEDULABLE, reasons, plugin)


def unresolvable(plugin: str, *reasons: str) -> Status:
    return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, reasons, plugin)
