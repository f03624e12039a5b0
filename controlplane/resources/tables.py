"""Server-side printing: the ``meta.k8s.io/v1`` Table that ``kubectl get`` renders.

kubectl has no client-side printer for built-in kinds: whatever columns and cells the
server puts in the Table are what the user sees (notes §4). This module owns the Table
machinery (columns, printers, rows) and the cells many kinds share (Name, Age, template
containers, selectors); each kind's own columns live with its Kind (``kinds/``),
transcribed from kubernetes ``pkg/printers/internalversion/printers.go``.

Like kube-apiserver, every row carries all columns, including the priority-1 ones;
``kubectl get`` hides those unless ``-o wide``. Cells are computed from already
defaulted objects, as the API server stores them. Pure functions: ``now`` is passed in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from ..machinery.duration import human_duration
from ..machinery.meta import parse_time
from ..machinery.selectors import SelectorError, label_selector_from_spec
from ..machinery.types import Obj

__all__ = ["Column", "Printer", "Row", "table", "human_duration", "age", "NAME", "AGE", "GENERIC"]

Cell = str | int | float | bool | None  # None: a custom column with no value (kubectl shows <none>)

_NAME_DOC = ("Name must be unique within a namespace. Is required when creating resources, although some "
             "resources may allow a client to request the generation of an appropriate name automatically. "
             "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
             "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
_AGE_DOC = ("CreationTimestamp is a timestamp representing the server time when this object was created. "
            "It is not guaranteed to be set in happens-before order across separate operations. Clients may "
            "not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. "
            "Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/"
            "sig-architecture/api-conventions.md#metadata")


# ---------------------------------------------------------------------------------------
# Times

def time_of(value: Any) -> dt.datetime | None:
    at = parse_time(value) if isinstance(value, str) else None
    return utc(at) if at is not None else None


def utc(now: dt.datetime) -> dt.datetime:
    return now if now.tzinfo else now.replace(tzinfo=dt.timezone.utc)


def age(timestamp: str | None, now: dt.datetime) -> str:
    """Time since an RFC3339 timestamp, as kubectl shows it; ``<unknown>`` when unset or unparsable."""
    at = time_of(timestamp)
    return "<unknown>" if at is None else human_duration((utc(now) - at).total_seconds())


# ---------------------------------------------------------------------------------------
# Column machinery

class Row(NamedTuple):
    obj: Obj
    now: dt.datetime
    derived: Any  # per-resource precomputation shared by several cells (pods), else None

    @property
    def meta(self) -> Obj:
        return self.obj.get("metadata") or {}

    @property
    def spec(self) -> Obj:
        return self.obj.get("spec") or {}

    @property
    def status(self) -> Obj:
        return self.obj.get("status") or {}


@dataclass(frozen=True)
class Column:
    """One TableColumnDefinition plus the function that computes its cell."""

    name: str
    cell: Callable[[Row], Cell]
    type: str = "string"
    description: str = ""
    priority: int = 0  # 1 = shown only with -o wide
    format: str = ""

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


@dataclass(frozen=True)
class Printer:
    """The columns of one kind's Table, an optional per-row precomputation and row conditions."""

    columns: tuple[Column, ...]
    derive: Callable[[Obj, dt.datetime], Any] | None = None  # shared by several cells (pods)
    conditions: Callable[[Obj], list[dict[str, str]] | None] | None = None


NAME = Column("Name", lambda r: r.meta.get("name", ""), format="name", description=_NAME_DOC)
AGE = Column("Age", lambda r: age(r.meta.get("creationTimestamp"), r.now), description=_AGE_DOC)


def or_(value: Any, placeholder: str) -> str:
    return str(value) if value not in (None, "") else placeholder


def format_labels(labels: dict[str, str] | None) -> str:
    """labels.FormatLabels: sorted k=v pairs, ``<none>`` when empty."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


def _containers(r: Row, part: str) -> str:
    template = ((r.spec.get("template") or {}).get("spec") or {})
    return ",".join(c.get(part, "") for c in template.get("containers") or [])


def selector(spec: Any, *, on_error: str, if_empty: str) -> str:
    try:
        return str(label_selector_from_spec(spec)) or if_empty
    except SelectorError:
        return on_error


def replicas(r: Row) -> int:
    replicas = r.spec.get("replicas")
    return 1 if replicas is None else replicas  # defaulting sets 1 when omitted


CONTAINERS = Column("Containers", lambda r: _containers(r, "name"), priority=1,
                    description="Names of each container in the template.")
IMAGES = Column("Images", lambda r: _containers(r, "image"), priority=1,
                description="Images referenced by each container in the template.")


def count(*path: str) -> Callable[[Row], int]:
    """A cell showing the number at `path`, 0 when unset."""
    def cell(r: Row) -> int:
        cur: Any = r.obj
        for key in path:
            cur = (cur or {}).get(key)
        return cur or 0
    return cell


def _created_at(r: Row) -> str:
    at = time_of(r.meta.get("creationTimestamp"))
    return at.strftime("%Y-%m-%dT%H:%M:%SZ") if at else ""


CREATED_AT = Column("Created At", _created_at, type="date", description=_AGE_DOC)
GENERIC = Printer((NAME, AGE))

_INCLUDE_OBJECT = ("None", "Metadata", "Object")


def table(printer: Printer, objects: list[Obj], *, now: dt.datetime, include_object: str = "Metadata",
          resource_version: str = "", with_header: bool = True,
          api_version: str = "meta.k8s.io/v1") -> dict[str, Any]:
    """Render objects of one kind as a Table, with its printer's columns.

    ``include_object`` is the ``?includeObject=`` parameter: ``Metadata`` (default, also
    for ``""``) puts a PartialObjectMetadata in each row, ``Object`` the object itself
    (not copied), ``None`` nothing. ``with_header=False`` leaves ``columnDefinitions``
    empty, for watch events after the first. ``api_version`` may be
    ``meta.k8s.io/v1beta1`` when the client asked for that Table version.
    """
    mode = include_object or "Metadata"
    if mode not in _INCLUDE_OBJECT:
        raise ValueError(f'includeObject: Unsupported value: "{include_object}": '
                         f'supported values: "None", "Metadata", "Object"')
    now = utc(now)
    rows = []
    for obj in objects:
        r = Row(obj, now, printer.derive(obj, now) if printer.derive else None)
        row: dict[str, Any] = {"cells": [c.cell(r) for c in printer.columns]}
        if printer.conditions and (conditions := printer.conditions(obj)):
            row["conditions"] = conditions
        if mode == "Metadata":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": api_version,
                             "metadata": dict(obj.get("metadata") or {})}
        elif mode == "Object":
            row["object"] = obj
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": {"resourceVersion": resource_version} if resource_version else {},
        "columnDefinitions": [c.definition() for c in printer.columns] if with_header else [],
        "rows": rows,
    }
