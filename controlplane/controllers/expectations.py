"""Expectations: how many creates/deletes a controller is still waiting to see.

A controller that created 5 pods must not create 5 more because its informer has not yet
seen the first 5. It records what it expects; the informer's handlers lower the counts as
the objects appear or vanish; the controller acts on a key only once its expectations are
met (or have expired, in case an event was lost: the level-triggered resync then repairs).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Hashable

EXPIRY = 300.0  # seconds after which unmet expectations stop blocking a sync


@dataclass
class _Expectation:
    adds: int = 0
    deletes: set[str] = field(default_factory=set)  # uids still expected to disappear
    since: float = field(default_factory=time.monotonic)


class Expectations:
    def __init__(self, expiry: float = EXPIRY) -> None:
        self._by_key: dict[Hashable, _Expectation] = {}
        self._expiry = expiry

    def expect_creations(self, key: Hashable, n: int) -> None:
        exp = self._by_key.setdefault(key, _Expectation())
        exp.adds += n
        exp.since = time.monotonic()

    def expect_deletions(self, key: Hashable, uids: list[str]) -> None:
        exp = self._by_key.setdefault(key, _Expectation())
        exp.deletes.update(uids)
        exp.since = time.monotonic()

    def creation_observed(self, key: Hashable) -> None:
        exp = self._by_key.get(key)
        if exp and exp.adds > 0:
            exp.adds -= 1

    def creation_failed(self, key: Hashable, n: int = 1) -> None:
        """A create that errored will never be observed: stop waiting for it."""
        exp = self._by_key.get(key)
        if exp:
            exp.adds = max(0, exp.adds - n)

    def deletion_observed(self, key: Hashable, uid: str) -> None:
        exp = self._by_key.get(key)
        if exp:
            exp.deletes.discard(uid)

    def satisfied(self, key: Hashable) -> bool:
        exp = self._by_key.get(key)
        if exp is None:
            return True
        if (exp.adds <= 0 and not exp.deletes) or time.monotonic() - exp.since > self._expiry:
            del self._by_key[key]
            return True
        return False

    def forget(self, key: Hashable) -> None:
        self._by_key.pop(key, None)
