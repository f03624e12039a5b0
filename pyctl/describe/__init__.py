"""`describe` text, kind by kind, laid out as kubectl's describers lay it out.

A describer takes the object (and a `Context` to fetch related objects: events, pods,
replica sets) and writes lines through a `Writer` — kubectl's prefix writer: two spaces per
level, tab-separated cells aligned by Go tabwriter rules (padding 2). Kinds without a
describer of their own get the generic one, which prints every field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .. import humanize
from ..errors import PyctlError
from ..session import Session
from ..tabwriter import TabWriter
from controlplane.machinery.meta import LAST_APPLIED

MAX_ANNOTATION = 140


class Writer:
    """kubectl's PrefixWriter over a tabwriter: `write(level, text)`; `flush()` ends a section."""

    def __init__(self) -> None:
        self._tw = TabWriter(minwidth=0, padding=2)
        self._done: list[str] = []

    def write(self, level: int, text: str) -> None:
        self._tw.write("  " * level + text)

    def line(self, text: str = "") -> None:
        self._tw.write(text + "\n")

    def flush(self) -> None:
        self._done.append(self._tw.flush())

    def text(self) -> str:
        self.flush()
        return "".join(self._done)


@dataclass
class Context:
    session: Session
    show_events: bool = True

    def get(self, path: str, query: dict[str, Any] | None = None) -> Any:
        return self.session.client.get(path, query)

    def events(self, obj: dict[str, Any], with_kind: bool = True, uid: str | None = None
               ) -> list[dict[str, Any]] | None:
        """Events whose involvedObject is `obj` (None when events are not wanted)."""
        if not self.show_events:
            return None
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace", "")
        terms = [f"involvedObject.name={meta.get('name', '')}",
                 f"involvedObject.namespace={namespace}"]
        if with_kind:
            terms.append(f"involvedObject.kind={obj.get('kind', '')}")
        uid = meta.get("uid") if uid is None else uid
        if uid:
            terms.append(f"involvedObject.uid={uid}")
        path = f"/api/v1/namespaces/{namespace}/events" if namespace else "/api/v1/events"
        try:
            return list(self.get(path, {"fieldSelector": ",".join(terms)}).get("items") or [])
        except PyctlError:
            return []  # as kubectl: a failed event search shows "Events: <none>"


Describer = Callable[[Context, dict[str, Any]], str]
DESCRIBERS: dict[tuple[str, str], Describer] = {}


def describer(group: str, kind: str) -> Callable[[Describer], Describer]:
    def wrap(fn: Describer) -> Describer:
        DESCRIBERS[(group, kind)] = fn
        return fn
    return wrap


def describe(ctx: Context, obj: dict[str, Any]) -> str:
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    from . import autoscaling, cluster, network, storage, workloads  # noqa: F401 - they register their describers
    from . import batch, disruption, replication  # noqa: F401
    fn = DESCRIBERS.get((group, str(obj.get("kind", ""))), generic)
    return fn(ctx, obj)


# -- shared pieces ----------------------------------------------------------------------------


def meta_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    return dict(obj.get("metadata") or {})


def labels_multiline(w: Writer, title: str, labels: Mapping[str, Any] | None,
                     initial: str = "", inner: str = "\t") -> None:
    w.write(0, f"{initial}{title}:{inner}")
    if not labels:
        w.line("<none>")
        return
    for i, key in enumerate(sorted(labels)):
        if i:
            w.write(0, initial + inner)
        w.write(0, f"{key}={labels[key]}\n")


def annotations_multiline(w: Writer, title: str, annotations: Mapping[str, Any] | None) -> None:
    w.write(0, f"{title}:\t")
    keys = sorted(k for k in annotations or {} if k != LAST_APPLIED)
    if not keys:
        w.line("<none>")
        return
    assert annotations is not None
    for i, key in enumerate(keys):
        if i:
            w.write(0, "\t")
        value = str(annotations[key]).removesuffix("\n")
        if len(value) + len(key) + 2 > MAX_ANNOTATION or "\n" in value:
            w.write(0, f"{key}:\n")
            for part in value.split("\n"):
                short = part if len(part) <= MAX_ANNOTATION - 2 else part[:MAX_ANNOTATION - 2] + "..."
                w.write(0, f"\t  {short}\n")
        else:
            w.write(0, f"{key}: {value}\n")


def tolerations_multiline(w: Writer, title: str, tolerations: list[dict[str, Any]] | None,
                          initial: str = "") -> None:
    w.write(0, f"{initial}{title}:\t")
    if not tolerations:
        w.line("<none>")
        return
    for i, t in enumerate(sorted(tolerations, key=lambda t: t.get("key", ""))):
        if i:
            w.write(0, f"{initial}\t")
        text = t.get("key", "")
        if t.get("value"):
            text += f"={t['value']}"
        if t.get("effect"):
            text += f":{t['effect']}"
        if t.get("operator") == "Exists" and not t.get("value"):
            text += " op=Exists" if t.get("key") or t.get("effect") else "op=Exists"
        if t.get("tolerationSeconds") is not None:
            text += f" for {t['tolerationSeconds']}s"
        w.write(0, text + "\n")


def events_section(w: Writer, events: list[dict[str, Any]] | None) -> None:
    if events is None:
        return
    if not events:
        w.write(0, "Events:\t<none>\n")
        return
    w.flush()  # kubectl aligns the events table on its own
    w.write(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n")
    w.write(1, "----\t------\t----\t----\t-------\n")
    for e in sorted(events, key=_event_time):
        first = humanize.since(e.get("eventTime")) if e.get("eventTime") else humanize.since(
            e.get("firstTimestamp"))
        series = e.get("series") or {}
        if series:
            age = f"{humanize.since(series.get('lastObservedTime'))} (x{series.get('count', 0)} over {first})"
        elif (e.get("count") or 0) > 1:
            age = f"{humanize.since(e.get('lastTimestamp'))} (x{e['count']} over {first})"
        else:
            age = first
        source = (e.get("source") or {}).get("component") or e.get("reportingComponent") \
            or e.get("reportingController") or ""
        w.write(1, f"{e.get('type', '')}\t{e.get('reason', '')}\t{age}\t{source}\t"
                   f"{str(e.get('message', '')).strip()}\n")


def _event_time(e: dict[str, Any]) -> tuple[str, str]:
    """Last seen, then (for events of the same second) when each began, to the microsecond."""
    series = e.get("series") or {}
    last = str(series.get("lastObservedTime") or e.get("lastTimestamp") or e.get("eventTime")
               or e.get("firstTimestamp") or "")
    return last[:19], str(e.get("eventTime") or "")


def controller_of(obj: Mapping[str, Any]) -> str:
    for ref in meta_of(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return f"{ref.get('kind', '')}/{ref.get('name', '')}"
    return ""


def go_value(value: Any) -> str:
    """A scalar as Go's %v prints what came from JSON."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    return str(value)


_ACRONYMS = {"API", "URL", "UID", "OSB", "GUID"}
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|-+")


def smart_label(field: str) -> str:
    """`apiVersion` → `API Version`, `creationTimestamp` → `Creation Timestamp`."""
    if any(not (ch.isalpha() or ch == "-") for ch in field):
        return field
    parts = [p.upper() if p.upper() in _ACRONYMS else p[:1].upper() + p[1:]
             for p in _WORDS.findall(field)]
    return " ".join(parts)


def unstructured(w: Writer, level: int, content: Mapping[str, Any], prefix: str,
                 skip: set[str]) -> None:
    for key in sorted(content):
        value = content[key]
        path = f"{prefix}.{key}"
        if path in skip:
            continue
        if isinstance(value, dict):
            w.write(level, f"{smart_label(key)}:\n")
            unstructured(w, level + 1, value, path, skip)
        elif isinstance(value, list):
            w.write(level, f"{smart_label(key)}:\n")
            for child in value:
                if isinstance(child, dict):
                    unstructured(w, level + 1, child, path, skip)
                else:
                    w.write(level + 1, f"{go_value(child)}\n")
        else:
            w.write(level, f"{smart_label(key)}:\t{go_value(value)}\n")


def object_header(w: Writer, meta: Mapping[str, Any]) -> None:
    """The Name / Namespace / Labels / Annotations lines most describers start with."""
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    labels_multiline(w, "Labels", meta.get("labels"))
    annotations_multiline(w, "Annotations", meta.get("annotations"))


def generic(ctx: Context, obj: dict[str, Any]) -> str:
    w = Writer()
    meta = meta_of(obj)
    object_header(w, meta)
    unstructured(w, 0, obj, "", {".metadata.managedFields", ".metadata.name", ".metadata.namespace",
                                 ".metadata.labels", ".metadata.annotations"})
    events_section(w, ctx.events(obj))
    return w.text()
