"""pyctl's output formats: what a kubectl user expects to read, byte for byte."""

from __future__ import annotations

import json

import pytest

from pyctl import humanize, printers, quantity, yamlio
from controlplane.machinery.jsonpath import JSONPathError, Template
from pyctl.printers import OutputFormat, TableOptions, TablePrinter
from pyctl.tabwriter import TabWriter, align

POD_COLUMNS = [
    {"name": "Name", "type": "string", "format": "name", "priority": 0},
    {"name": "Ready", "type": "string", "format": "", "priority": 0},
    {"name": "Status", "type": "string", "format": "", "priority": 0},
    {"name": "Age", "type": "string", "format": "", "priority": 0},
    {"name": "Node", "type": "string", "format": "", "priority": 1},
    {"name": "Nominated Node", "type": "string", "format": "", "priority": 1},
]


def pod_row(name: str, namespace: str = "default", labels: dict | None = None) -> dict:
    return {"cells": [name, "1/1", "Running", "5m", "node-1", "<none>"],
            "object": {"metadata": {"name": name, "namespace": namespace, "labels": labels or {}}}}


def table(*rows: dict, columns: list | None = None) -> dict:
    return {"kind": "Table", "columnDefinitions": POD_COLUMNS if columns is None else columns,
            "rows": list(rows)}


def render(options: TableOptions, *rows: dict) -> str:
    printer = TablePrinter(options)
    printer.add(table(*rows))
    return printer.flush()


# -- tabwriter ---------------------------------------------------------------------------------


def test_columns_are_padded_to_the_widest_cell_and_the_last_column_is_not():
    assert align("a\tbb\tc\nccc\td\te\n", padding=3) == "a     bb   c\nccc   d    e\n"


def test_a_line_without_tabs_ends_the_column_block():
    text = "Name:\tx\nLabels:\ta=1\nplain line\nLongerName:\ty\n"
    assert align(text, padding=2) == "Name:    x\nLabels:  a=1\nplain line\nLongerName:  y\n"


def test_minimum_width_applies_to_short_columns():
    assert align("A\tB\nx\ty\n", minwidth=6, padding=3) == "A     B\nx     y\n"


def test_remembered_widths_keep_later_rows_aligned_with_the_header():
    w = TabWriter(minwidth=6, padding=3, remember_widths=True)
    w.write("NAME\tSTATUS\nlonger-name\tRunning\n")
    first = w.flush()
    w.write("a\tPending\n")
    assert first == "NAME          STATUS\nlonger-name   Running\n"
    assert w.flush() == "a             Pending\n"


# -- tables -------------------------------------------------------------------------------------


def test_table_hides_wide_columns_unless_asked():
    assert render(TableOptions(), pod_row("web-1")) == (
        "NAME    READY   STATUS    AGE\n"
        "web-1   1/1     Running   5m\n")
    assert render(TableOptions(wide=True), pod_row("web-1")) == (
        "NAME    READY   STATUS    AGE   NODE     NOMINATED NODE\n"
        "web-1   1/1     Running   5m    node-1   <none>\n")


def test_all_namespaces_adds_a_namespace_column_from_row_metadata():
    out = render(TableOptions(with_namespace=True), pod_row("web-1", "prod"), pod_row("db", "dev"))
    assert out.splitlines() == [
        "NAMESPACE   NAME    READY   STATUS    AGE",
        "prod        web-1   1/1     Running   5m",
        "dev         db      1/1     Running   5m",
    ]


def test_kind_prefix_labels_and_label_columns():
    out = render(TableOptions(kind_ref="pod", show_labels=True, label_columns=("example.com/tier",)),
                 pod_row("web-1", labels={"app": "web", "example.com/tier": "front"}),
                 pod_row("db"))
    assert out.splitlines() == [
        "NAME        READY   STATUS    AGE   TIER    LABELS",
        "pod/web-1   1/1     Running   5m    front   app=web,example.com/tier=front",
        "pod/db      1/1     Running   5m            <none>",
    ]


def test_empty_table_prints_nothing_not_even_the_header():
    assert render(TableOptions()) == ""


def test_watch_rows_without_column_definitions_reuse_the_header():
    printer = TablePrinter(TableOptions(watch_events=True))
    printer.add(table(pod_row("web-1")), "ADDED")
    first = printer.flush()
    printer.add(table(pod_row("web-1"), columns=[]), "DELETED")
    assert first.splitlines()[0].startswith("EVENT      NAME")
    assert printer.flush().startswith("DELETED    web-1")


def test_newlines_in_cells_are_cut():
    row = pod_row("web-1")
    row["cells"][2] = "Error\nstack trace"
    assert "Error..." in render(TableOptions(), row)


# -- objects ---------------------------------------------------------------------------------------


def test_yaml_quotes_strings_that_would_read_as_other_types_as_go_yaml_does():
    text = yamlio.dump({"data": {"a": "true", "b": "123", "c": "", "d": "y", "e": "plain",
                                 "f": "a: b", "g": "two\nlines"}})
    assert text == ('data:\n  a: "true"\n  b: "123"\n  c: ""\n  d: "y"\n  e: plain\n'
                    "  f: 'a: b'\n  g: |-\n    two\n    lines\n")


def test_json_is_indented_sorted_and_html_escaped_like_go():
    assert printers.to_json({"b": "<none>", "a": 1}) == '{\n    "a": 1,\n    "b": "\\u003cnone\\u003e"\n}\n'


def test_managed_fields_are_hidden():
    obj = {"kind": "Pod", "metadata": {"name": "p", "managedFields": [{"manager": "x"}]}}
    assert "managedFields" not in printers.render_objects(OutputFormat("yaml"), obj)


def test_name_output_uses_kind_and_group():
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}
    listed = printers.as_list([obj, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}])
    assert printers.render_objects(OutputFormat("name"), listed) == "deployment.apps/web\nservice/web\n"


def test_unknown_output_format_is_refused():
    with pytest.raises(Exception, match='unable to match a printer suitable for the output format "xml"'):
        OutputFormat.parse("xml")


def test_custom_columns():
    items = [{"metadata": {"name": "a"}, "spec": {"containers": [{"image": "x"}, {"image": "y"}]}},
             {"metadata": {"name": "bb"}, "spec": {}}]
    assert printers.custom_columns("NAME:.metadata.name,IMAGES:.spec.containers[*].image", items) == (
        "NAME   IMAGES\na      x,y\nbb     <none>\n")


# -- jsonpath ---------------------------------------------------------------------------------------

DATA = {"items": [
    {"metadata": {"name": "a", "labels": {"app.kubernetes.io/name": "web"}},
     "status": {"conditions": [{"type": "Ready", "status": "True"}], "replicas": 3}},
    {"metadata": {"name": "b"}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}},
]}


@pytest.mark.parametrize("template, expected", [
    ("{.items[*].metadata.name}", "a b"),
    ("{.items[0].metadata.labels.app\\.kubernetes\\.io/name}", "web"),
    ('{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}',
     "a=True\nb=False\n"),
    ("{.items[-1:].metadata.name}", "b"),
    ("{.items[0].status}", '{"conditions":[{"type":"Ready","status":"True"}],"replicas":3}'),
    ("{.items[*].missing}", ""),
    ("count: {.items[0].status.replicas}", "count: 3"),
    ("{..name}", "a b"),
])
def test_jsonpath(template: str, expected: str):
    assert Template(template).render(DATA) == expected


def test_jsonpath_syntax_errors_are_reported():
    with pytest.raises(JSONPathError):
        Template("{.items[*]")


# -- small formats ------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds, text", [
    (5, "5s"), (119, "119s"), (200, "3m20s"), (600, "10m"), (3 * 3600 + 5 * 60, "3h5m"),
    (30 * 3600, "30h"), (3 * 86400 + 3600, "3d1h"), (40 * 86400, "40d"), (800 * 86400, "2y70d"),
])
def test_human_durations_follow_kubectl(seconds: int, text: str):
    assert humanize.human_duration(seconds) == text


def test_selectors_are_printed_in_key_order():
    selector = {"matchLabels": {"tier": "front", "app": "web"},
                "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]},
                                     {"key": "canary", "operator": "DoesNotExist"}]}
    assert humanize.format_selector(selector) == "app=web,!canary,env in (dev,prod),tier=front"


@pytest.mark.parametrize("given, canonical", [
    ("1.5Gi", "1536Mi"), ("0.5", "500m"), ("1000m", "1"), ("1000", "1k"), ("64Mi", "64Mi"),
    ("250m", "250m"), ("129e6", "129e6"),
])
def test_quantities_print_canonically(given: str, canonical: str):
    assert quantity.canonical(given) == canonical


def test_quantities_add_up():
    assert str(quantity.total(["250m", "0.5", "1"])) == "1750m"
    assert str(quantity.total(["512Mi", "512Mi"])) == "1Gi"


def test_json_output_round_trips():
    obj = {"metadata": {"name": "x"}, "data": {"k": "<&>"}}
    assert json.loads(printers.to_json(obj)) == obj
