"""The scheduler's placement record (controlplane/machinery/placement.py) as describe and plan
print it: for a Pending pod, a table of node groups, each failing filter with its numbers and
the change that would lift it, then the smallest changes that let the pod fit; for a bound
pod, the scores that chose its node."""

from __future__ import annotations

from typing import Any

from controlplane.machinery import placement

from .. import humanize
from . import Writer

SHOWN_NAMES = 3


def _nodes(group: dict[str, Any]) -> str:
    count, names = int(group.get("count") or 0), [str(n) for n in group.get("nodes") or []]
    if count <= SHOWN_NAMES and len(names) == count:
        return ", ".join(names)
    shown = ", ".join(names[:SHOWN_NAMES - 1])
    return f"{count} nodes ({shown}, ...)" if shown else f"{count} nodes"


def failures_table(w: Writer, record: dict[str, Any], level: int = 1) -> None:
    """NODES / FILTER / PROBLEM / CHANGE THAT WOULD FIT HERE, a row per failing filter."""
    w.write(level, "NODES\tFILTER\tPROBLEM\tCHANGE THAT WOULD LIFT IT\n")
    w.write(level, "-----\t------\t-------\t-------------------------\n")
    for group in record.get("groups") or []:
        for i, f in enumerate(group.get("failures") or [{"detail": "fits"}]):
            w.write(level, f"{_nodes(group) if i == 0 else ''}\t{f.get('filter', '')}\t{f.get('detail', '')}\t"
                           f"{f.get('fix') or '-'}\n")
    omitted = record.get("omitted") or {}
    if omitted.get("groups"):
        w.write(level, f"{omitted.get('nodes', 0)} more nodes in {omitted['groups']} other groups\t\t\t\n")


def suggestions(w: Writer, record: dict[str, Any], level: int = 1) -> None:
    hints = record.get("suggestions") or []
    w.flush()
    if not hints:
        w.write(level, "No change to the pod alone lets it fit: the nodes need to change "
                       "(uncordon, free capacity, add nodes).\n")
        return
    w.write(level, "Smallest changes that let it fit:\n")
    for i, hint in enumerate(hints, 1):
        nodes = int(hint.get("nodes") or 0)
        w.write(level + 1, f"{i}. {'; '.join(hint.get('changes') or [])} "
                           f"(then it fits on {nodes} node{'' if nodes == 1 else 's'})\n")


def unschedulable(w: Writer, record: dict[str, Any]) -> None:
    when = humanize.since(record.get("time")) if record.get("time") else "?"
    w.flush()
    w.write(0, f"Placement:\tfits on none of {record.get('nodes', 0)} nodes (as of {when} ago; "
               f"annotation {placement.ANNOTATION})\n")
    w.flush()
    failures_table(w, record)
    suggestions(w, record)


def scheduled(w: Writer, record: dict[str, Any]) -> None:
    w.flush()
    w.write(0, f"Placement:\t{record.get('node', '')} chosen of {record.get('nodes', 0)} nodes "
               f"({record.get('examined', 0)} examined, {record.get('feasible', 0)} fit)\n")
    scores = record.get("scores") or []
    if not scores:
        if record.get("feasible") == 1:
            w.write(1, "the only node that fit: no scoring needed\n")
        return
    w.flush()
    w.write(1, "NODE\tSCORE\tWEIGHTED SCORE BY PLUGIN\n")
    w.write(1, "----\t-----\t------------------------\n")
    for s in scores:
        parts = ", ".join(f"{name} {value}" for name, value in (s.get("plugins") or {}).items())
        w.write(1, f"{s.get('node', '')}\t{s.get('total', 0)}\t{parts}\n")


def section(w: Writer, pod: dict[str, Any]) -> None:
    """The Placement section of `describe pod`, when the scheduler left a record that still
    applies (an Unschedulable verdict on a Pending pod, the scores on a bound one)."""
    record = placement.read(pod)
    if record is None:
        return
    bound = bool((pod.get("spec") or {}).get("nodeName"))
    if record["result"] == placement.UNSCHEDULABLE and not bound:
        unschedulable(w, record)
    elif record["result"] == placement.SCHEDULED and bound:
        scheduled(w, record)
    w.flush()
