"""A write ObjectStore has prepared (defaulted, validated, admitted, encoded) but not yet
stored: what lets api/batch.py commit many writes in one etcd transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..resources.registry import ResourceInfo


@dataclass(slots=True)
class Prepared:
    info: ResourceInfo
    name: str
    key: str
    rev: int
    """The revision the write replaces (compare-and-swap); 0 for a create (only if absent)."""
    value: bytes
    """The bytes to store."""
    stored: dict[str, Any]
    """The object `value` encodes (what the watch cache takes in place of decoding it)."""
    obj: dict[str, Any]
    """What the write answers once stored (its resourceVersion set then)."""
    lease: int = 0
    pinned: bool = False
    """The client named the resourceVersion: a failed compare-and-swap is its 409, not a retry."""
