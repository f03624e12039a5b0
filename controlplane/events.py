"""Recording core/v1 Events: what `describe` shows under "Events:".

As Kubernetes' event correlator (client-go's tools/record) does, so that a crash-looping pod,
an unschedulable replica or a 5,000-replica scale-up does not write an Event per occurrence:

* repeats of the same (object, reason, message) within ten minutes are folded into one Event
  whose count grows;
* from the tenth distinct message of one (object, type, reason), they are folded into one
  Event "(combined from similar events): <latest message>" ("Created pod: web-x" for each of
  a ReplicaSet's pods);
* each component writes at most 25 Events (or count updates) about one object, then one
  more per five minutes; the rest are dropped (the spam filter).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any, Callable

from .client import ApiClient, ApiError, NotFound
from .client.batch import BatchWriter
from .machinery.meta import now_rfc3339, random_suffix
from .client.kinds import EVENTS

log = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
FOLD_WINDOW = 600.0  # seconds in which a repeat updates the existing Event
SIMILAR_MAX = 10  # distinct messages of one (object, type, reason) before they are combined
COMBINED = "(combined from similar events): "
SPAM_BURST = 25  # Events (and count updates) per component and object...
SPAM_REFILL = 300.0  # ...then one more per this many seconds
MEMORY = 4096  # keys remembered per table; past it the oldest half is forgotten


def _forget_oldest(table: dict[Any, Any], when: Callable[[Any], float]) -> None:
    """Keep `table` bounded: drop the older half once it is full (each table is only an
    optimisation or a limit; forgetting a key errs towards writing an Event)."""
    if len(table) > MEMORY:
        for k in sorted(table, key=lambda k: when(table[k]))[:MEMORY // 2]:
            del table[k]


def reference(obj: dict[str, Any]) -> dict[str, Any]:
    md = obj.get("metadata", {})
    ref = {"kind": obj.get("kind", ""), "apiVersion": obj.get("apiVersion", ""),
           "name": md.get("name", ""), "uid": md.get("uid", ""),
           "resourceVersion": md.get("resourceVersion", "")}
    if md.get("namespace"):
        ref["namespace"] = md["namespace"]
    return ref


class EventRecorder:
    """Writes Events for one component (`default-scheduler`, `deployment-controller`, ...)."""

    def __init__(self, client: ApiClient, component: str, host: str = "", *,
                 writes: BatchWriter | None = None) -> None:
        self.client = client
        # Events recorded in one turn of the loop (a burst of creates, a batch of bindings)
        # go as one request; recorders of one component may share `writes`.
        self.writes = writes or BatchWriter(client)
        self.source = {"component": component, **({"host": host} if host else {})}
        self._recent: dict[tuple, tuple[str, str, int, float]] = {}  # key -> (ns, name, count, t)
        self._similar: dict[tuple[str, ...], tuple[set[str], float]] = {}  # (object, type, reason) -> messages, t
        self._tokens: dict[tuple[str, ...], tuple[float, float]] = {}  # object -> (tokens, t)
        self._locks: dict[tuple, asyncio.Lock] = {}  # one per event key: folds race, others don't wait
        self._in_flight: set[asyncio.Task[None]] = set()

    async def event(self, obj: dict[str, Any], type_: str, reason: str, message: str, *,
                    field_path: str = "", count: int = 1, at: float | None = None) -> None:
        """Record one Event (`count` repeats of it, about `field_path` inside `obj`, e.g. a pod's
        `spec.containers{web}`); failures are logged, never raised (events are best effort)."""
        try:
            await self._record(obj, type_, reason, message, field_path, count, at)
        except ApiError as exc:
            log.debug("event %s on %s not recorded: %s", reason, reference(obj)["name"], exc)

    def emit(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        """Record an Event in the background, without waiting; `in_flight()` are those under way
        (a controller's stop waits for them)."""
        task = asyncio.create_task(self.event(obj, type_, reason, message))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    def in_flight(self) -> list["asyncio.Task[None]"]:
        return list(self._in_flight)

    def normal(self, obj: dict[str, Any], reason: str, message: str) -> "asyncio.Task[None]":
        return asyncio.create_task(self.event(obj, "Normal", reason, message))

    def warning(self, obj: dict[str, Any], reason: str, message: str) -> "asyncio.Task[None]":
        return asyncio.create_task(self.event(obj, "Warning", reason, message))

    async def _record(self, obj: dict[str, Any], type_: str, reason: str, message: str,
                      field_path: str = "", n: int = 1, at: float | None = None) -> None:
        ref = reference(obj)
        if field_path:
            ref["fieldPath"] = field_path
        namespace = ref.get("namespace") or "default"
        involved = (ref["kind"], ref.get("namespace", ""), ref["name"], ref["uid"], ref["apiVersion"])
        if not self._allowed(involved):
            log.debug("event %s on %s dropped: over %d for this object", reason, ref["name"], SPAM_BURST)
            return
        message = self._combined(involved + (type_, reason), message)
        # A combined Event is one Event, whatever its latest message.
        key = (ref["uid"], ref["name"], field_path, type_, reason,
               COMBINED if message.startswith(COMBINED) else message)
        # `at`: when it happened where it was seen (a node); eventTime keeps microseconds, so
        # readers can order events of the same second as they happened.
        when = dt.datetime.fromtimestamp(at if at is not None else time.time(), dt.timezone.utc)
        now = now_rfc3339(when)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            seen = self._recent.get(key)
            if seen and time.monotonic() - seen[3] < FOLD_WINDOW:
                ns, name, count, _ = seen
                try:
                    patch: dict[str, Any] = {"count": count + n, "lastTimestamp": now}
                    if key[-1] == COMBINED:
                        patch["message"] = message[:1024]
                    await self.writes.write("PATCH", EVENTS, ns, name, content_type=MERGE_PATCH, body=patch)
                    self._recent[key] = (ns, name, count + n, time.monotonic())
                    return
                except NotFound:
                    pass
            name = f"{ref['name']}.{random_suffix(10)}"
            event = {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": ref, "reason": reason, "message": message[:1024], "type": type_,
                "source": self.source, "firstTimestamp": now, "lastTimestamp": now, "count": n,
                "eventTime": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "reportingComponent": self.source["component"],
                "reportingInstance": self.source.get("host", ""),
            }
            await self.writes.write("POST", EVENTS, namespace, body=event)
            self._recent[key] = (namespace, name, n, time.monotonic())
            if len(self._recent) > MEMORY:
                _forget_oldest(self._recent, lambda v: v[3])
                for k in set(self._locks) - set(self._recent):
                    if not self._locks[k].locked():
                        del self._locks[k]

    def _allowed(self, involved: tuple[str, ...]) -> bool:
        """The spam filter: a token bucket per object (SPAM_BURST, one more per SPAM_REFILL s)."""
        now = time.monotonic()
        tokens, last = self._tokens.get(involved, (float(SPAM_BURST), now))
        tokens = min(float(SPAM_BURST), tokens + (now - last) / SPAM_REFILL)
        allowed = tokens >= 1.0
        self._tokens[involved] = (tokens - 1.0 if allowed else tokens, now)
        _forget_oldest(self._tokens, lambda v: v[1])
        return allowed

    def _combined(self, similar: tuple[str, ...], message: str) -> str:
        """The message to record: itself while fewer than SIMILAR_MAX distinct messages of this
        (object, type, reason) were seen in FOLD_WINDOW, else the combined Event's."""
        now = time.monotonic()
        messages, last = self._similar.get(similar, (set(), now))
        if now - last > FOLD_WINDOW:
            messages = set()
        messages.add(message)
        self._similar[similar] = (messages, now)
        _forget_oldest(self._similar, lambda v: v[1])
        if len(messages) < SIMILAR_MAX:
            return message
        messages.pop()  # as client-go: the set never grows past the limit
        return COMBINED + message
