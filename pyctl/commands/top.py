"""`pyctl top node|pod`: resource usage from metrics.k8s.io, in kubectl top's format.

Nodes: CPU in millicores and memory in Mi with their share of allocatable (or capacity, with
--show-capacity); nodes not measured yet read <unknown>. Pods: one line per pod (or per
container with --containers), --sum adds the totals. Columns and messages are kubectl's.
"""

from __future__ import annotations

import argparse
from decimal import Decimal
from typing import Any

from ..errors import CommandError, UsageError
from ..quantity import Quantity
from ..session import Session
from ..tabwriter import TabWriter
from . import Command, add_subcommand, register

API = "/apis/metrics.k8s.io/v1beta1"

EXAMPLES = """\
# Show the CPU and memory use of every node
pyctl top node

# ... of the pods in the current namespace, busiest CPU first
pyctl top pod --sort-by=cpu

# ... of each container of the pods labelled app=web, in every namespace, with totals
pyctl top pod -A -l app=web --containers --sum
"""


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="top_what", metavar="SUBCOMMAND", prog=p.prog)
    for name, aliases, summary in (("node", ("nodes", "no"), "Display resource (CPU/memory) usage of nodes"),
                                   ("pod", ("pods", "po"), "Display resource (CPU/memory) usage of pods")):
        q = add_subcommand(sub, name, summary=summary)
        for alias in aliases:  # argparse aliases would show twice in the help
            add_subcommand(sub, alias, summary=argparse.SUPPRESS).set_defaults(top_what=name)
        for parser in (q, *(sub.choices[a] for a in aliases)):
            parser.add_argument("name", nargs="?", help=f"one {name} only")
            parser.add_argument("-l", "--selector", default="", help="only objects with these labels")
            parser.add_argument("--sort-by", choices=("cpu", "memory"), help="sort by usage, highest first")
            parser.add_argument("--no-headers", action="store_true", help="print no header line")
            if name == "node":
                parser.add_argument("--show-capacity", action="store_true",
                                    help="percentages of capacity rather than of allocatable")
            else:
                parser.add_argument("-A", "--all-namespaces", action="store_true", help="pods of every namespace")
                parser.add_argument("--field-selector", default="", help="only pods matching these fields")
                parser.add_argument("--containers", action="store_true", help="one line per container")
                parser.add_argument("--sum", action="store_true", help="print the total of the pods' usage")


def _cores(value: Any) -> Decimal:
    return Quantity.parse(value or 0).value


def _millicores(value: Any) -> int:
    return Quantity.parse(value or 0).milli


def _bytes(value: Any) -> int:
    return int(Quantity.parse(value or 0).value)


def _cells(cores: Decimal, memory: int) -> list[str]:
    """As kubectl: sums are of the quantities, rounded up to millicores once, at the end."""
    return [f"{Quantity(cores).milli}m", f"{memory // (1024 * 1024)}Mi"]


def _fetch(s: Session, path: str, query: dict[str, str]) -> Any:
    return s.client.get(API + path, query or None)


def _available(s: Session) -> None:
    """kubectl's check: the group is in discovery, else `Metrics API not available`."""
    groups = s.client.get("/apis").get("groups") or []
    if not any(g.get("name") == "metrics.k8s.io" for g in groups):
        raise CommandError("Metrics API not available")


def _print(s: Session, header: list[str], rows: list[list[str]], no_headers: bool) -> None:
    tw = TabWriter(minwidth=6, padding=3)  # kubectl's printers.GetNewTabWriter
    for row in ([] if no_headers else [header]) + rows:
        tw.write("\t".join(row) + "\t\n")
    s.write(tw.flush())


def _nodes(s: Session, a: argparse.Namespace) -> int:
    _available(s)
    query = {"labelSelector": a.selector} if a.selector else {}
    if a.name:
        metrics = [_fetch(s, f"/nodes/{a.name}", query)]
        nodes = [s.client.get(f"/api/v1/nodes/{a.name}")]
    else:
        metrics = _fetch(s, "/nodes", query).get("items") or []
        nodes = s.client.get("/api/v1/nodes", query or None).get("items") or []
    if not metrics:
        raise CommandError("metrics not available yet")
    by_name = {n["metadata"]["name"]: n for n in nodes}
    measured = []
    for m in metrics:
        name = m["metadata"]["name"]
        usage = m.get("usage") or {}
        measured.append((name, _millicores(usage.get("cpu")), _bytes(usage.get("memory"))))
    if a.sort_by:
        measured.sort(key=lambda r: r[1] if a.sort_by == "cpu" else r[2], reverse=True)
    rows = []
    for name, cpu, memory in measured:
        status = (by_name.get(name) or {}).get("status") or {}
        total = status.get("capacity" if a.show_capacity else "allocatable") or {}
        cpu_total, mem_total = _millicores(total.get("cpu")), _bytes(total.get("memory"))
        rows.append([name, f"{cpu}m", f"{cpu * 100 // cpu_total if cpu_total else 0}%",
                     f"{memory // (1024 * 1024)}Mi", f"{memory * 100 // mem_total if mem_total else 0}%"])
    for name in sorted(set(by_name) - {r[0] for r in measured}):
        rows.append([name] + ["<unknown>"] * 4)
    _print(s, ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"], rows, a.no_headers)
    return 0


def _pods(s: Session, a: argparse.Namespace) -> int:
    _available(s)
    query = {k: v for k, v in (("labelSelector", a.selector), ("fieldSelector", a.field_selector)) if v}
    ns = s.namespace
    if a.name:
        items = [s.client.get(f"{API}/namespaces/{ns}/pods/{a.name}")]
    else:
        path = "/pods" if a.all_namespaces else f"/namespaces/{ns}/pods"
        items = _fetch(s, path, query).get("items") or []
    if not items:
        _none_measured(s, a, ns, query)
        s.error("No resources found" if a.all_namespaces else f"No resources found in {ns} namespace.")
        return 0
    pods = []
    for item in items:
        md = item["metadata"]
        containers = [(c.get("name", ""), _cores((c.get("usage") or {}).get("cpu")),
                       _bytes((c.get("usage") or {}).get("memory"))) for c in item.get("containers") or []]
        pods.append((md.get("namespace", ""), md["name"], containers,
                     sum((c[1] for c in containers), Decimal(0)), sum(c[2] for c in containers)))
    if a.sort_by:
        pods.sort(key=lambda p: p[3] if a.sort_by == "cpu" else p[4], reverse=True)
    header = (["NAMESPACE"] if a.all_namespaces else []) + (["POD", "NAME"] if a.containers else ["NAME"]) + \
        ["CPU(cores)", "MEMORY(bytes)"]
    rows = []
    for namespace, name, containers, cpu, memory in pods:
        first = [namespace] if a.all_namespaces else []
        if a.containers:
            rows += [first + [name, c, *_cells(ccpu, cmem)] for c, ccpu, cmem in containers]
        else:
            rows.append(first + [name, *_cells(cpu, memory)])
    if a.sum:
        pad = [""] * (len(header) - 2)
        rows.append(pad + ["________", "________"])
        rows.append(pad + _cells(sum((p[3] for p in pods), Decimal(0)), sum(p[4] for p in pods)))
    _print(s, header, rows, a.no_headers)
    return 0


def _not_measured(s: Session, ns: str, name: str) -> str:
    from .. import humanize
    pod = s.client.get(f"/api/v1/namespaces/{ns}/pods/{name}")  # a missing pod is its NotFound
    return (f"Metrics not available for pod {ns}/{name}, age: "
            f"{humanize.since((pod.get('metadata') or {}).get('creationTimestamp'))}")


def _none_measured(s: Session, a: argparse.Namespace, ns: str, query: dict[str, str]) -> None:
    """As kubectl: no metrics although pods exist is an error naming the first such pod."""
    path = "/api/v1/pods" if a.all_namespaces else f"/api/v1/namespaces/{ns}/pods"
    pods = s.client.get(path, query or None).get("items") or []
    if pods:
        md = pods[0]["metadata"]
        raise CommandError(_not_measured(s, md.get("namespace", ns), md["name"]))


def run(s: Session, a: argparse.Namespace) -> int:
    if a.top_what is None:
        raise UsageError("a sub-command is required: node or pod", "top")
    return _nodes(s, a) if a.top_what == "node" else _pods(s, a)


register(Command("top", "Display resource (CPU/memory) usage", configure, run, EXAMPLES,
                 group="Cluster Management Commands",
                 description="Display resource (CPU/memory) usage of nodes or pods, from the "
                             "metrics.k8s.io API the control plane serves (agents report every "
                             "--metric-resolution seconds).",
                 usage="pyctl top (node|pod) [NAME] [flags]"))
