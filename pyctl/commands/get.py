"""`pyctl get`: tables from server-side printing, -o yaml|json|name|jsonpath, -w watch."""

from __future__ import annotations

import argparse
from typing import Any

from .. import printers
from ..client import JSON, TABLE
from ..errors import ApiError, CommandError, UsageError
from ..printers import OutputFormat, TableOptions, TablePrinter
from ..session import Session
from . import Command, register
from ._targets import (Target, add_filename_flags, add_selector_flags, fetch, from_arguments,
                       from_manifests, list_objects, list_pages, list_query, report, typed)

EXAMPLES = """\
# List all pods in ps output format
pyctl get pods

# List all pods with more information (such as node name)
pyctl get pods -o wide

# List a single deployment with specified NAME
pyctl get deployment myapp

# List deployments and services together
pyctl get deploy,svc

# List one or more resources by their type and names
pyctl get deployment/myapp service/myapp

# List the pods of every namespace, with their labels
pyctl get pods -A --show-labels

# Return only the phase value of the specified pod
pyctl get pod myapp-5d7c9-x2x7q -o jsonpath='{.status.phase}'

# Watch pods as they change
pyctl get pods -w
"""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("words", nargs="*", metavar="TYPE[,TYPE] [NAME...] | TYPE/NAME")
    p.add_argument("-o", "--output", metavar="FORMAT",
                   help="wide, yaml, json, name, jsonpath=TEMPLATE, jsonpath-as-json=EXPR, "
                        "custom-columns=HEADER:PATH,...")
    add_selector_flags(p)
    p.add_argument("-A", "--all-namespaces", action="store_true",
                   help="list the requested objects across all namespaces")
    p.add_argument("-w", "--watch", action="store_true",
                   help="after listing/getting the requested objects, watch for changes")
    p.add_argument("--watch-only", action="store_true",
                   help="watch for changes to the requested objects, without listing them first")
    p.add_argument("--output-watch-events", action="store_true",
                   help="with --watch, print the event type (ADDED, MODIFIED, DELETED) of each row")
    p.add_argument("--show-labels", action="store_true", help="show all labels as the last column")
    p.add_argument("-L", "--label-columns", action="append", default=[], metavar="KEY[,KEY]",
                   help="labels to show as columns")
    p.add_argument("--no-headers", action="store_true", help="do not print table headers")
    p.add_argument("--sort-by", metavar="JSONPATH", help="sort rows by a field, e.g. .metadata.name")
    p.add_argument("--ignore-not-found", action="store_true",
                   help="treat objects that do not exist as no error")
    add_filename_flags(p, "identifying the resources to get")


def run(s: Session, a: argparse.Namespace) -> int:
    fmt = OutputFormat.parse(a.output)
    if a.show_labels and not fmt.human:
        raise CommandError(f"--show-labels option cannot be used with {a.output} printer")
    if a.output_watch_events and not (a.watch or a.watch_only):
        raise UsageError("--output-watch-events option can only be used with --watch or --watch-only",
                         "get")
    if a.filename and a.words:
        raise UsageError("a resource type or name cannot be given together with -f", "get")
    if not a.words and not a.filename:
        s.error('You must specify the type of resource to get. Use "pyctl api-resources" for a '
                "complete list of supported resources.\n")
        raise UsageError("Required resource not specified.", "get")
    targets = (from_manifests(s, a, "get") if a.filename
               else from_arguments(s, a.words, "get", a.all_namespaces))
    if a.watch or a.watch_only:
        return _watch(s, a, fmt, targets)
    if fmt.human:
        return _print_tables(s, a, fmt, targets)
    return _print_objects(s, a, fmt, targets)


# -- tables ----------------------------------------------------------------------------------------


def _table_options(a: argparse.Namespace, fmt: OutputFormat, target: Target, with_kind: bool,
                   watch_events: bool = False) -> TableOptions:
    labels = tuple(l.strip() for spec in a.label_columns for l in spec.split(",") if l.strip())
    return TableOptions(wide=fmt.kind == "wide", no_headers=a.no_headers,
                        with_namespace=a.all_namespaces and target.resource.namespaced,
                        kind_ref=target.resource.kind_ref if with_kind else "",
                        show_labels=a.show_labels, label_columns=labels, watch_events=watch_events)


def _table_for(s: Session, a: argparse.Namespace, target: Target) -> dict[str, Any]:
    """The Table of one target (rows of every page for a list)."""
    extra = {"includeObject": "Object"} if a.sort_by else {}
    if target.name is not None:
        obj = s.client.get(target.resource.path(target.namespace, target.name), extra, accept=TABLE)
        return obj if printers.is_table(obj) else printers.object_table([obj])
    table: dict[str, Any] | None = None
    for page in list_pages(s, target, list_query(a, **extra), accept=TABLE):
        if not printers.is_table(page):
            page = printers.object_table(page.get("items") or [])
        if table is None:
            table = page
        else:
            table["rows"] = (table.get("rows") or []) + (page.get("rows") or [])
    assert table is not None
    return table


def _sort_rows(table: dict[str, Any], expression: str) -> None:
    from controlplane.machinery.jsonpath import JSONPathError, evaluate, parse_path, relaxed

    try:
        path = parse_path(relaxed(expression)[1:-1])
    except JSONPathError as exc:
        raise CommandError(str(exc)) from None

    def key(row: dict[str, Any]) -> tuple[int, Any]:
        found = evaluate(path, row.get("object") or {})
        if not found:
            return (0, "")
        value = found[0]
        return (1, value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
            else (2, str(value))

    table["rows"] = sorted(table.get("rows") or [], key=key)


def _print_tables(s: Session, a: argparse.Namespace, fmt: OutputFormat, targets: list[Target]) -> int:
    errors: list[ApiError | CommandError] = []
    groups: list[tuple[Target, dict[str, Any]]] = []
    for target in targets:
        try:
            table = _table_for(s, a, target)
        except ApiError as exc:
            if not (a.ignore_not_found and exc.code == 404):
                errors.append(exc)
            continue
        if groups and groups[-1][0].resource == target.resource:
            last = groups[-1][1]
            last["rows"] = (last.get("rows") or []) + (table.get("rows") or [])
        else:
            groups.append((target, table))
    # As kubectl: names carry their kind when what was found spans several kinds.
    with_kind = len({t.resource for t, _ in groups}) > 1
    written = False
    for target, table in groups:
        if a.sort_by:
            _sort_rows(table, a.sort_by)
        printer = TablePrinter(_table_options(a, fmt, target, with_kind))
        printer.add(table)
        text = printer.flush()
        if text:
            if written and not a.no_headers:
                s.write("\n")
            s.write(text)
            written = True
    if not written and not errors and not a.ignore_not_found:
        if all(t.resource.namespaced for t in targets) and not a.all_namespaces:
            s.error(f"No resources found in {s.namespace} namespace.")
        else:
            s.error("No resources found")
    return report(s, errors)


# -- objects ------------------------------------------------------------------------------------


def _print_objects(s: Session, a: argparse.Namespace, fmt: OutputFormat, targets: list[Target]) -> int:
    errors: list[ApiError | CommandError] = []
    items: list[dict[str, Any]] = []
    single = len(targets) == 1 and targets[0].name is not None
    for target in targets:
        try:
            if target.name is not None:
                items.append(fetch(s, target))
            else:
                items.extend(list_objects(s, target, list_query(a))[0])
        except ApiError as exc:
            if not (a.ignore_not_found and exc.code == 404):
                errors.append(exc)
    if a.sort_by and not single:
        table = {"rows": [{"object": i} for i in items]}
        _sort_rows(table, a.sort_by)
        items = [r["object"] for r in table["rows"]]
    if single and items:
        s.write(printers.render_objects(fmt, items[0]))
    elif not single and (items or fmt.kind in ("json", "yaml")):
        s.write(printers.render_objects(fmt, printers.as_list(items)))
    return report(s, errors)


# -- watch ----------------------------------------------------------------------------------------


def _watch(s: Session, a: argparse.Namespace, fmt: OutputFormat, targets: list[Target]) -> int:
    if len({t.resource for t in targets}) > 1 or len(targets) > 1:
        raise CommandError("watch is only supported on individual resources and resource "
                           "collections - more than 1 resource was found")
    target = targets[0]
    printer = TablePrinter(_table_options(a, fmt, target, False, a.output_watch_events))
    query = list_query(a)
    if target.name is not None:
        current = s.client.get(target.resource.path(target.namespace, target.name))
        rv = (current.get("metadata") or {}).get("resourceVersion", "")
        query["fieldSelector"] = f"metadata.name={target.name}"
        initial = [typed(current, target.resource)]
    else:
        initial, rv = list_objects(s, target, query)
    count = 0
    if not a.watch_only:
        if fmt.human:
            table = _table_for(s, a, target)
            printer.add(table, "ADDED")
            s.write(printer.flush())
        else:
            for obj in initial:
                s.write(printers.render_objects(fmt, obj, count))
                count += 1
    # Bookmarks are skipped below; asking for them lets the server notice a client that left.
    watch_query = {**query, "watch": "true", "resourceVersion": rv, "allowWatchBookmarks": "true"}
    path = target.resource.path(target.namespace)
    for event in s.client.stream(path, watch_query, accept=TABLE if fmt.human else JSON):
        kind, obj = event.get("type", ""), event.get("object") or {}
        if kind == "BOOKMARK":
            continue
        if kind == "ERROR":
            raise ApiError(obj)
        if fmt.human:
            printer.add(obj if printers.is_table(obj) else printers.object_table([obj]), kind)
            s.write(printer.flush())
        else:
            s.write(printers.render_objects(fmt, typed(obj, target.resource), count))
            count += 1
    return 0


register(Command("get", "Display one or many resources", configure, run, EXAMPLES,
                 description="Display one or many resources.\n\nPrints a table of the most important "
                             "information about the specified resources. Filter the list with a "
                             "label selector (-l); objects of namespaced types are listed in the "
                             "current namespace unless -A is given.",
                 usage="pyctl get [-o FORMAT] (TYPE[.VERSION][.GROUP] [NAME | -l label] | "
                       "TYPE[.VERSION][.GROUP]/NAME ...) [flags]"))
