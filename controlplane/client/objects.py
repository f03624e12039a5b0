"""What a list returns: the items and the resourceVersion to watch from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class ObjectList:
    items: list[dict[str, Any]]
    resource_version: str
    """The list's resourceVersion: watch from here to see every later change."""
