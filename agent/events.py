"""Node Events: what the agent did to a pod, queued for the control plane (the kubelet's recorder).

The pod workers, the probers and the image store report Pulling, Pulled, Created, Started,
Killing, BackOff, Unhealthy, Failed ... about a pod, or about one of its containers (fieldPath
`spec.containers{web}`). The session sends what is queued as EventBatch messages; the gateway
adds the source (the session's node: a node cannot speak for another) and writes the Events.

`EventSink.emit` never blocks its caller: the queue holds at most `limit` distinct events, and
while the control plane is away the oldest are dropped (counted in `dropped`). An identical
event (same pod, container, type, reason, message) emitted while an earlier one is still
queued is folded into it (its count grows); the gateway folds later repeats into the same
Event object, so a crash loop is one Event with a growing count, never a flood.

The image store does not know which pod it pulls for: the pod worker puts its sink and pod in
`scope` around runtime calls, the runtime narrows it to one container (`container`), and
`emit_in_scope` reports there (a no-op outside any scope).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Callable, Iterator

log = logging.getLogger(__name__)

NORMAL, WARNING = "Normal", "Warning"


@dataclass(frozen=True)
class Involved:
    """The object an event is about: a pod, and optionally one of its containers."""

    namespace: str
    name: str
    uid: str
    field_path: str = ""
    """`spec.containers{web}` for a container; empty for the pod itself."""

    def container(self, name: str) -> "Involved":
        return replace(self, field_path=f"spec.containers{{{name}}}")


@dataclass
class NodeEvent:
    involved: Involved
    type: str
    reason: str
    message: str
    count: int = 1
    at: float = 0.0
    """When it first happened (time.time()), so the cluster orders same-second events right."""


Key = tuple[Involved, str, str, str]


class EventSink:
    """A bounded, folding queue of events for the session to send."""

    def __init__(self, limit: int = 1000, wake: Callable[[], None] | None = None) -> None:
        self.limit = limit
        self.wake = wake
        self.dropped = 0  # events lost while the queue was full (the control plane away)
        self._queue: OrderedDict[Key, NodeEvent] = OrderedDict()

    def __len__(self) -> int:
        return len(self._queue)

    def emit(self, involved: Involved, type_: str, reason: str, message: str, count: int = 1) -> None:
        key = (involved, type_, reason, message)
        queued = self._queue.get(key)
        if queued is not None:
            queued.count += count
        else:
            while len(self._queue) >= self.limit:
                self._queue.popitem(last=False)
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.warning("%d pod events dropped so far: the control plane has been away and "
                                "at most %d wait to be sent", self.dropped, self.limit)
            self._queue[key] = NodeEvent(involved, type_, reason, message, count, time.time())
        if self.wake is not None:
            self.wake()

    def normal(self, involved: Involved, reason: str, message: str) -> None:
        self.emit(involved, NORMAL, reason, message)

    def warning(self, involved: Involved, reason: str, message: str) -> None:
        self.emit(involved, WARNING, reason, message)

    def take(self) -> list[NodeEvent]:
        """Everything queued, oldest first; the queue is empty afterwards."""
        out = list(self._queue.values())
        self._queue.clear()
        return out

    def restore(self, events: list[NodeEvent]) -> None:
        """Put back what could not be sent (in front: it is older than what came since)."""
        newer = self._queue
        self._queue = OrderedDict()
        for e in events:
            self.emit(e.involved, e.type, e.reason, e.message, e.count)
        for e in newer.values():
            self.emit(e.involved, e.type, e.reason, e.message, e.count)


_scope: contextvars.ContextVar[tuple[EventSink, Involved] | None] = contextvars.ContextVar(
    "pyctl_agent_event_scope", default=None)


@contextlib.contextmanager
def scope(sink: EventSink, involved: Involved) -> Iterator[None]:
    """Events emitted in this block (and the tasks it awaits) are about `involved`."""
    token = _scope.set((sink, involved))
    try:
        yield
    finally:
        _scope.reset(token)


@contextlib.contextmanager
def container(name: str) -> Iterator[None]:
    """Narrow the current scope (if any) to one container of its pod."""
    current = _scope.get()
    token = _scope.set((current[0], current[1].container(name)) if current else None)
    try:
        yield
    finally:
        _scope.reset(token)


def emit_in_scope(type_: str, reason: str, message: str) -> None:
    current = _scope.get()
    if current is not None:
        current[0].emit(current[1], type_, reason, message)


def go_duration(seconds: float) -> str:
    """A duration as the kubelet prints one (Go's time.Duration truncated to milliseconds)."""
    ms = int(seconds * 1000)
    if ms < 1000:
        return f"{ms}ms"
    minutes, rest = divmod(ms, 60000)
    return (f"{minutes}m" if minutes else "") + f"{rest / 1000:g}s"

