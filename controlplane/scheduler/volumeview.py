"""What scheduling knows of storage: the claims, volumes and classes a filter reads.

A Protocol, so the snapshot (pure data) can carry one without depending on where it comes
from: the scheduler's informers (volumes.py) or a test's dictionaries.
"""

from __future__ import annotations

from typing import Protocol

from ..machinery.types import Obj


class VolumeView(Protocol):
    def claim(self, namespace: str, name: str) -> Obj | None: ...

    def volume(self, name: str) -> Obj | None: ...

    def storage_class(self, name: str) -> Obj | None: ...

    def volumes(self) -> list[Obj]: ...

    def selected_node(self, claim: Obj) -> str:
        """The node chosen for a WaitForFirstConsumer claim (written, or decided a moment ago)."""
        ...

    def reserved_bytes(self, besides: frozenset[str]) -> dict[str, int]:
        """Node -> what claims chosen for it and not yet provisioned will take of its local
        storage (claims keyed `namespace/name` in `besides` left out)."""
        ...
