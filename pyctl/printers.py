"""Output: server-side Tables as kubectl lays them out, and -o yaml|json|name|jsonpath|custom-columns.

The server computes the cells (`Accept: ...;as=Table`); this module decorates them as
kubectl does — NAMESPACE first for `-A`, `kind/` before names when several kinds are shown,
`-L` columns and LABELS last — and aligns them with Go tabwriter's rules (minimum width 6,
padding 3, widths remembered so `get -w` rows line up with the header).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from . import humanize
from .errors import CommandError
from .tabwriter import TabWriter

HUMAN_FORMATS = ("", "wide")
FORMATS = ("json", "yaml", "name", "wide", "jsonpath=...", "jsonpath-as-json=...",
           "custom-columns=...")


@dataclass(frozen=True)
class OutputFormat:
    kind: str
    """"" (table), wide, json, yaml, name, jsonpath, jsonpath-as-json, custom-columns."""
    argument: str = ""

    @property
    def human(self) -> bool:
        return self.kind in HUMAN_FORMATS

    @classmethod
    def parse(cls, value: str | None) -> "OutputFormat":
        value = value or ""
        head, _, arg = value.partition("=")
        if head in ("", "wide", "json", "yaml", "name") and not arg:
            return cls(head)
        if head in ("jsonpath", "jsonpath-as-json", "custom-columns") and arg:
            return cls(head, arg)
        raise CommandError(f'unable to match a printer suitable for the output format "{value}", '
                           f"allowed formats are: {','.join(FORMATS)}")


# -- tables --------------------------------------------------------------------------------------


@dataclass
class TableOptions:
    wide: bool = False
    no_headers: bool = False
    with_namespace: bool = False
    kind_ref: str = ""
    """When set, names are printed as `kind_ref/name` (several kinds in one listing)."""
    show_labels: bool = False
    label_columns: tuple[str, ...] = ()
    watch_events: bool = False


@dataclass
class TablePrinter:
    """Prints Table objects; like kubectl's, it prints a header only when the columns change."""

    options: TableOptions = field(default_factory=TableOptions)
    writer: TabWriter = field(default_factory=lambda: TabWriter(minwidth=6, padding=3,
                                                                 remember_widths=True))
    _columns: list[dict[str, Any]] = field(default_factory=list)
    _printed_headers: bool = False

    def add(self, table: dict[str, Any], event: str = "") -> None:
        columns = table.get("columnDefinitions") or []
        rows = table.get("rows") or []
        no_headers = self.options.no_headers
        if self._printed_headers and (not columns or columns == self._columns):
            no_headers = True
        if not columns:
            columns = self._columns  # watch events may omit the definitions
        elif columns != self._columns:
            self._columns = columns
            self._printed_headers = False
        if rows:
            self._printed_headers = True
        visible = [i for i, c in enumerate(columns) if self.options.wide or not c.get("priority")]
        if not no_headers and rows:
            headers = [str(columns[i].get("name", "")).upper() for i in visible]
            self.writer.write("\t".join(self._decorate_header(headers)) + "\n")
        name_index = next((i for i, c in enumerate(columns)
                           if c.get("format") == "name" and c.get("type") == "string"), -1)
        for row in rows:
            cells = row.get("cells") or []
            values = []
            for i in visible:
                cell = _cell_text(cells[i] if i < len(cells) else None)
                if i == name_index and self.options.kind_ref:
                    cell = f"{self.options.kind_ref}/{cell}"
                values.append(cell)
            meta = (row.get("object") or {}).get("metadata") or {}
            self.writer.write("\t".join(self._decorate_row(values, meta, event)) + "\n")

    def _decorate_header(self, headers: list[str]) -> list[str]:
        o = self.options
        out = (["NAMESPACE"] if o.with_namespace else []) + headers
        out += [label.split("/")[-1].upper() for label in o.label_columns]
        if o.show_labels:
            out.append("LABELS")
        return (["EVENT"] if o.watch_events else []) + out

    def _decorate_row(self, values: list[str], meta: dict[str, Any], event: str) -> list[str]:
        o = self.options
        labels = meta.get("labels") or {}
        out = ([str(meta.get("namespace", ""))] if o.with_namespace else []) + values
        out += [str(labels.get(label, "")) for label in o.label_columns]
        if o.show_labels:
            out.append(humanize.format_labels(labels))
        if o.watch_events:
            out.insert(0, {"ADDED": "ADDED   ", "MODIFIED": "MODIFIED", "DELETED": "DELETED ",
                           "ERROR": "ERROR   "}.get(event, event))
        return out

    def flush(self) -> str:
        return self.writer.flush()


def _cell_text(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    text = str(cell)
    for i, ch in enumerate(text):
        if ch in "\n\r\f":
            return text[:i] + "..."  # a cell never breaks the table's lines
    return text


def object_table(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """NAME and AGE, as kubectl prints objects a server could not render as a Table."""
    return {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "columnDefinitions": [{"name": "Name", "type": "string", "format": "name", "priority": 0},
                              {"name": "Age", "type": "string", "format": "", "priority": 0}],
        "rows": [{"cells": [o.get("metadata", {}).get("name", ""),
                            humanize.since(o.get("metadata", {}).get("creationTimestamp"))],
                  "object": {"metadata": o.get("metadata", {})}} for o in objects],
    }


def is_table(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("kind") == "Table" and "rows" in obj


# -- objects -------------------------------------------------------------------------------------


def strip_managed_fields(obj: Any) -> Any:
    """kubectl hides metadata.managedFields unless asked; so do we."""
    if isinstance(obj, dict):
        meta = obj.get("metadata")
        if isinstance(meta, dict) and "managedFields" in meta:
            obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
        if isinstance(obj.get("items"), list):
            obj = {**obj, "items": [strip_managed_fields(i) for i in obj["items"]]}
    return obj


def as_list(items: list[dict[str, Any]], resource_version: str = "") -> dict[str, Any]:
    return {"apiVersion": "v1", "items": items, "kind": "List",
            "metadata": {"resourceVersion": resource_version}}


def to_json(obj: Any) -> str:
    """As Go's json.MarshalIndent: sorted keys, 4 spaces, <>& escaped."""
    text = json.dumps(obj, indent=4, sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"


def to_yaml(obj: Any) -> str:
    from . import yamlio
    return yamlio.dump(obj)


def name_of(obj: dict[str, Any]) -> str:
    """`deployment.apps/myapp` from an object's apiVersion, kind and name."""
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    kind = str(obj.get("kind", "")).lower()
    ref = f"{kind}.{group}" if group else kind
    return f"{ref}/{(obj.get('metadata') or {}).get('name', '')}"


def render_objects(fmt: OutputFormat, obj: dict[str, Any], watch_index: int = 0) -> str:
    """One object or one List in a non-table format."""
    obj = strip_managed_fields(obj)
    if fmt.kind == "json":
        return to_json(obj)
    if fmt.kind == "yaml":
        return ("---\n" if watch_index else "") + to_yaml(obj)
    if fmt.kind == "name":
        items = obj["items"] if obj.get("kind") == "List" else [obj]
        return "".join(name_of(i) + "\n" for i in items)
    if fmt.kind in ("jsonpath", "jsonpath-as-json"):
        from controlplane.machinery.jsonpath import JSONPathError, Template, evaluate, parse_path
        try:
            if fmt.kind == "jsonpath-as-json":
                expr = fmt.argument.strip().lstrip("{").rstrip("}")
                return to_json(evaluate(parse_path(expr), obj))
            return Template(fmt.argument).render(obj)
        except JSONPathError as exc:
            raise CommandError(str(exc)) from None
    if fmt.kind == "custom-columns":
        return custom_columns(fmt.argument, obj["items"] if obj.get("kind") == "List" else [obj])
    raise CommandError(f"output format {fmt.kind!r} cannot print objects")


def custom_columns(spec: str, items: list[dict[str, Any]], no_headers: bool = False) -> str:
    from controlplane.machinery.jsonpath import JSONPathError, Template, relaxed
    columns: list[tuple[str, Template]] = []
    for part in spec.split(","):
        header, sep, expr = part.partition(":")
        if not sep or not header:
            raise CommandError(f'unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>')
        try:
            columns.append((header, Template(relaxed(expr))))
        except JSONPathError as exc:
            raise CommandError(str(exc)) from None
    w = TabWriter(minwidth=6, padding=3)
    if not no_headers:
        w.write("\t".join(h for h, _ in columns) + "\n")
    for item in items:
        cells = []
        for _, template in columns:
            values = [v for node in template.nodes for v in _column_values(node, item)]
            cells.append(",".join(values) if values else "<none>")
        w.write("\t".join(cells) + "\n")
    return w.flush()


def _column_values(node: Any, item: dict[str, Any]) -> list[str]:
    from controlplane.machinery.jsonpath import evaluate, text_of
    paths = getattr(node, "paths", None)
    if not paths:
        return []
    return [text_of(v) for p in paths for v in evaluate(p, item)]
