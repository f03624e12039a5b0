"""Events (v1): what happened to an object, kept for --event-ttl (they expire through etcd leases).
"""

from __future__ import annotations

import datetime as dt

from ...machinery.types import Obj
from ..fields import as_dict, as_str
from ..info import ResourceInfo
from ..kind import Kind
from ..tables import NAME, Column, Printer, Row, _NAME_DOC, age
from ..validation import Cause, invalid


def _rules(obj: Obj) -> list[Cause]:
    namespace = as_str(as_dict(obj.get("metadata")).get("namespace"))
    involved = as_str(as_dict(obj.get("involvedObject")).get("namespace"))
    # Events about cluster-scoped objects live in "default" (or no namespace).
    if (involved and involved != namespace) or (not involved and namespace not in ("", "default")):
        return [invalid("involvedObject.namespace", involved, "does not match event.namespace")]
    return []


def _event_times(ev: Obj, now: dt.datetime) -> tuple[str, str, int]:
    """LAST SEEN, FIRST SEEN and COUNT for both old-style and events.k8s.io-style events."""
    first = age(ev.get("firstTimestamp") or ev.get("eventTime"), now)
    last = age(ev["lastTimestamp"], now) if ev.get("lastTimestamp") else first
    count = ev.get("count") or 1  # singleton events of the new API carry no count
    if series := ev.get("series"):
        last, count = age(series.get("lastObservedTime"), now), series.get("count") or 0
    return last, first, count


def _event_object(r: Row) -> str:
    involved = r.obj.get("involvedObject") or {}
    kind = (involved.get("kind") or "").lower()
    return f"{kind}/{involved['name']}" if involved.get("name") else kind


def _event_source(r: Row) -> str:
    source = r.obj.get("source") or {}
    component = source.get("component") or r.obj.get("reportingComponent") or ""
    host = source.get("host") or r.obj.get("reportingInstance") or ""
    return f"{component}, {host}" if host else component



# Stored with a lease of the API server's --event-ttl (api/storagehooks.py): etcd deletes old
# Events itself.
EVENT_PRINTER = Printer((
    Column("Last Seen", lambda r: r.derived[0], description="The time at which the most recent occurrence "
                                                            "of this event was recorded."),
    Column("Type", lambda r: r.obj.get("type", ""), description="Type of this event (Normal, Warning)."),
    Column("Reason", lambda r: r.obj.get("reason", ""),
           description="This should be a short, machine understandable string that gives the reason for "
                       "the transition into the object's current status."),
    Column("Object", _event_object, description="The object that this event is about."),
    Column("Subobject", lambda r: (r.obj.get("involvedObject") or {}).get("fieldPath", ""), priority=1,
           description="If referring to a piece of an object instead of an entire object, this string "
                       "should contain a valid JSON/Go field access statement."),
    Column("Source", _event_source, priority=1, description="The component reporting this event."),
    Column("Message", lambda r: (r.obj.get("message") or "").strip(),
           description="A human-readable description of the status of this operation."),
    Column("First Seen", lambda r: r.derived[1], priority=1,
           description="The time at which the event was first recorded."),
    Column("Count", lambda r: r.derived[2], priority=1,
           description="The number of times this event has occurred."),
    Column("Name", NAME.cell, priority=1, format="name", description=_NAME_DOC),
), derive=_event_times)

EVENT = Kind(ResourceInfo("", "v1", "events", "Event", "event", True, ("ev",)), printer=EVENT_PRINTER,
             rules=(_rules,))
