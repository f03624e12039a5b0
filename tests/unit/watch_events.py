"""What controlplane.store's Store.watch yields, as far as the watch cache reads it: unit tests
feed WatchCache._apply these instead of a live etcd watch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Ev:
    type: str  # PUT or DELETE
    key: str
    value: bytes
    revision: int
