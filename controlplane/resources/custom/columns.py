"""A CRD version's additionalPrinterColumns as the Table `kubectl get` shows.

NAME first, then each column's JSONPath cell, typed as the column says (a `date` shows as an
age, like AGE). A version without columns shows NAME and AGE, as kube-apiserver does.
"""

from __future__ import annotations

from typing import Any

from ...machinery.jsonpath import JSONPathError, evaluate, parse_path, text_of
from ..fields import as_int, as_str, dicts
from ..tables import AGE, NAME, Cell, Column, Printer, Row, age

COLUMN_TYPES = ("integer", "number", "string", "boolean", "date")


def path_of(json_path: str) -> list[tuple[str, Any]]:
    """The parsed JSONPath of a column (`.spec.replicas`, with or without braces)."""
    return parse_path(json_path.strip().removeprefix("{").removesuffix("}"))


def _cell(kind: str, value: Any, r: Row) -> Cell:
    if kind == "integer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        return age(value, r.now)
    return text_of(value)


def _column(spec: dict[str, Any]) -> Column | None:
    try:
        path = path_of(as_str(spec.get("jsonPath")))
    except JSONPathError:
        return None  # refused when the CRD was written; an old one shows nothing
    kind = as_str(spec.get("type")) or "string"

    def cell(r: Row) -> Cell:
        found = evaluate(path, r.obj)
        if not found or found[0] is None:
            return None  # kubectl prints <none>
        return _cell(kind, found[0], r)

    return Column(as_str(spec.get("name")), cell, type=kind if kind != "date" else "date",
                  format=as_str(spec.get("format")), description=as_str(spec.get("description")),
                  priority=as_int(spec.get("priority")) or 0)


def printer(columns: Any) -> Printer:
    """The Printer of a version's additionalPrinterColumns (None or []: NAME and AGE)."""
    specs = dicts(columns)
    if not specs:
        return Printer((NAME, AGE))
    return Printer((NAME, *(c for c in map(_column, specs) if c is not None)))
