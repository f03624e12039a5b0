"""Recording core/v1 Events: what `describe` shows under "Events:".

Repeats of the same (object, reason, message) within a short window are folded into one
Event whose count grows, as Kubernetes' event correlator does, so a crash-looping pod or
an unschedulable replica does not write a new object every few seconds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any

from .client import ApiClient, ApiError, NotFound
from .client.batch import BatchWriter
from .machinery.meta import now_rfc3339, random_suffix
from .client.kinds import EVENTS

log = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
FOLD_WINDOW = 600.0  # seconds in which a repeat updates the existing Event


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
        key = (ref["uid"], ref["name"], field_path, type_, reason, message)
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
                    await self.writes.write("PATCH", EVENTS, ns, name, content_type=MERGE_PATCH,
                                            body={"count": count + n, "lastTimestamp": now})
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
            if len(self._recent) > 4096:  # forget the oldest half; a fold is only an optimisation
                for k in sorted(self._recent, key=lambda k: self._recent[k][3])[:2048]:
                    del self._recent[k]
                    self._locks.pop(k, None)
