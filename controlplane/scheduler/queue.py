"""The scheduling queue: which pending pods to try next, and when to try again.

Three places a pod key can be, as in kube-scheduler:

* active — ready to be tried, ordered by priority then arrival;
* backoff — failed recently; becomes active when its back-off (1 s doubling to 10 s per
  failed attempt) runs out;
* unschedulable — fit nowhere; stays until something changes that might let it fit (a node
  added or changed, a pod removed: `move_all`) or the periodic flush (every 30 s).

The queue holds keys only; the scheduler reads the current pod from its informer when it
pops one (level-triggered), so a stale or deleted key costs a lookup and nothing more.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Callable

Clock = Callable[[], float]


class SchedulingQueue:
    def __init__(self, *, initial_backoff: float = 1.0, max_backoff: float = 10.0,
                 unschedulable_timeout: float = 30.0, clock: Clock = time.monotonic) -> None:
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.unschedulable_timeout = unschedulable_timeout
        self.clock = clock
        self._active: list[tuple[int, int, str]] = []  # heap of (-priority, seq, key)
        self._in_active: set[str] = set()
        self._priority: dict[str, int] = {}
        self._backoff: dict[str, float] = {}  # key -> when it may be tried again
        self._unschedulable: dict[str, float] = {}  # key -> when it was parked
        self._attempts: dict[str, int] = {}
        self._last_failure: dict[str, float] = {}
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()

    # -- adding --------------------------------------------------------------------------

    def add(self, key: str, priority: int = 0) -> None:
        """A new or changed pending pod: try it (after its back-off, if it has one)."""
        self._priority[key] = priority
        self._unschedulable.pop(key, None)
        if key in self._in_active or key in self._backoff:
            return
        ready_at = self._backoff_until(key)
        if ready_at > self.clock():
            self._backoff[key] = ready_at
        else:
            self._push(key)

    def _push(self, key: str) -> None:
        if key in self._in_active:
            return
        self._in_active.add(key)
        heapq.heappush(self._active, (-self._priority.get(key, 0), next(self._seq), key))
        self._wakeup.set()

    def delete(self, key: str) -> None:
        """The pod is gone, bound, or not ours: forget everything about it."""
        self._in_active.discard(key)  # its heap entry is skipped when popped
        for d in (self._backoff, self._unschedulable, self._attempts, self._last_failure, self._priority):
            d.pop(key, None)

    # -- failures ------------------------------------------------------------------------

    def _backoff_until(self, key: str) -> float:
        attempts = self._attempts.get(key, 0)
        if not attempts:
            return 0.0
        delay: float = min(self.max_backoff, self.initial_backoff * 2.0 ** (attempts - 1))
        return self._last_failure[key] + delay

    def _failed(self, key: str) -> None:
        self._attempts[key] = self._attempts.get(key, 0) + 1
        self._last_failure[key] = self.clock()

    def unschedulable(self, key: str) -> None:
        """It fit nowhere: park it until the cluster changes."""
        self._failed(key)
        self._in_active.discard(key)
        self._backoff.pop(key, None)
        self._unschedulable[key] = self.clock()

    def retry(self, key: str) -> None:
        """An error (e.g. the binding failed): try again after back-off."""
        self._failed(key)
        self._in_active.discard(key)
        self._unschedulable.pop(key, None)
        self._backoff[key] = self._backoff_until(key)

    def move_all(self) -> None:
        """Something changed that may make parked pods fit: move them on (via back-off)."""
        if not self._unschedulable:
            return
        now = self.clock()
        for key in list(self._unschedulable):
            del self._unschedulable[key]
            ready_at = self._backoff_until(key)
            if ready_at > now:
                self._backoff[key] = ready_at
            else:
                self._push(key)

    # -- taking --------------------------------------------------------------------------

    def flush(self) -> None:
        """Promote pods whose back-off ran out, and those parked longer than the timeout."""
        now = self.clock()
        for key, ready_at in list(self._backoff.items()):
            if ready_at <= now:
                del self._backoff[key]
                self._push(key)
        for key, since in list(self._unschedulable.items()):
            if now - since >= self.unschedulable_timeout:
                del self._unschedulable[key]
                self._push(key)

    def pop_ready(self, limit: int) -> list[str]:
        """Up to `limit` keys from the active queue, highest priority first, without waiting."""
        out: list[str] = []
        while self._active and len(out) < limit:
            _, _, key = heapq.heappop(self._active)
            if key in self._in_active:
                self._in_active.discard(key)
                out.append(key)
        if not self._active:
            self._wakeup.clear()
        return out

    async def pop_batch(self, limit: int, poll: float = 0.5) -> list[str]:
        """Wait until some keys are active (checking back-offs every `poll` s), then take them."""
        while True:
            self.flush()
            batch = self.pop_ready(limit)
            if batch:
                return batch
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), poll)
            except asyncio.TimeoutError:
                pass

    # -- introspection (tests, metrics) --------------------------------------------------

    def __len__(self) -> int:
        return len(self._in_active) + len(self._backoff) + len(self._unschedulable)

    def sizes(self) -> dict[str, int]:
        """Keys in each of the three places (scheduler_pending_pods{queue})."""
        return {"active": len(self._in_active), "backoff": len(self._backoff),
                "unschedulable": len(self._unschedulable)}

    def where(self, key: str) -> str:
        if key in self._in_active:
            return "active"
        if key in self._backoff:
            return "backoff"
        if key in self._unschedulable:
            return "unschedulable"
        return ""
