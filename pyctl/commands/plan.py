"""`pyctl plan`: where a manifest's pods would go if it were applied (or a workload scaled),
which would stay Pending and why — a dry run of the scheduler on the server (a Plan, see
docs/placement.md). Nothing is written."""

from __future__ import annotations

import argparse
from typing import Any

from controlplane.machinery import placement

from ..describe import Writer
from ..describe.placement import failures_table, suggestions
from ..errors import CommandError, UsageError
from ..manifests import load
from ..printers import OutputFormat, render_objects
from ..session import Session
from . import Command, register
from ._targets import add_filename_flags, check_namespace, fetch, from_arguments

PENDING_EXIT = 2

EXAMPLES = """\
# Where would the pods of this manifest go?
pyctl plan -f manifests/deployment.yaml

# And with 50 replicas?
pyctl plan -f manifests/deployment.yaml --replicas 50

# What if the running deployment myapp were scaled to 20?
pyctl plan deployment/myapp --replicas 20

# The full answer, for scripts (exit code 2 when a pod would stay Pending)
pyctl plan -f app.yaml -o json
"""

DESCRIPTION = """\
Simulate the scheduler: where the pods of the given workloads (Pod, Deployment, ReplicaSet,
StatefulSet, ReplicationController, Job, CronJob, DaemonSet) would be placed on the cluster as
it is now, which would stay Pending and why (every failing filter on every node, with the
smallest change that would let them fit), and what it would evict (pyctl does not preempt:
nothing). The server checks each workload as its create would and writes nothing.

Exit codes: 0 every pod placed, 2 some pod would stay Pending, 1 an error."""

# Server-kept fields a Plan must not carry (the server dry-runs a create of each workload).
_SERVER_META = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink",
                "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences")


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("words", nargs="*", metavar="TYPE NAME | TYPE/NAME")
    p.add_argument("--replicas", type=int, default=None, metavar="COUNT",
                   help="plan as if each workload had this many replicas (a scale what-if)")
    p.add_argument("-o", "--output", metavar="FORMAT", help="yaml or json: the Plan the server answered")
    add_filename_flags(p, "holding the workloads to plan")


def _fresh(obj: dict[str, Any]) -> dict[str, Any]:
    """An existing object as a manifest of it: no status, no server-kept metadata."""
    md = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVER_META}
    return {k: v for k, v in obj.items() if k not in ("status", "metadata")} | {"metadata": md}


def _workloads(s: Session, a: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    """The workloads to plan, by namespace; other kinds in a manifest are noted and skipped."""
    by_ns: dict[str, list[dict[str, Any]]] = {}
    if a.filename:
        for doc in load(a.filename, a.recursive, s.stdin, verb="plan"):
            if doc.kind not in placement.PLANNABLE_KINDS:
                s.warn(f"{doc.where}: {doc.kind} {doc.name!r} runs no pods: nothing to plan")
                continue
            resource = s.discovery.for_kind(doc.api_version, doc.kind)
            ns = (check_namespace(s, doc, resource) if resource is not None else doc.namespace) or s.namespace
            obj = dict(doc.obj)
            obj["metadata"] = {**(obj.get("metadata") or {}), "namespace": ns}
            by_ns.setdefault(ns, []).append(obj)
        return by_ns
    targets = from_arguments(s, a.words, "plan")
    if not targets:
        raise UsageError("You must provide one or more workloads by argument or filename.", "plan")
    for target in targets:
        if target.name is None:
            raise CommandError("resource(s) were provided, but no name was specified")
        obj = fetch(s, target)
        ns = target.namespace or s.namespace
        by_ns.setdefault(ns, []).append(_fresh(obj))
    return by_ns


def run(s: Session, a: argparse.Namespace) -> int:
    if a.filename and a.words:
        raise UsageError("a resource type or name cannot be given together with -f", "plan")
    if a.replicas is not None and a.replicas < 0:
        raise CommandError("--replicas must be greater than or equal to 0")
    fmt = OutputFormat.parse(a.output)
    if a.output and fmt.kind not in ("yaml", "json"):
        raise UsageError(f"unable to match a printer suitable for the output format {a.output!r}, "
                         "the allowed formats are: json,yaml", "plan")
    plans = []
    for ns, workloads in _workloads(s, a).items():
        spec: dict[str, Any] = {"workloads": workloads}
        if a.replicas is not None:
            spec["replicas"] = a.replicas
        body = {"apiVersion": "pyctl.io/v1alpha1", "kind": "Plan", "metadata": {"namespace": ns}, "spec": spec}
        plans.append(s.client.request("POST", placement.PLAN_PATH.format(namespace=ns), body=body).json())
    if not plans:
        raise CommandError("no workloads to plan")
    for plan in plans:
        s.write(render_objects(fmt, plan) if a.output else render(plan))
    pending = any(w.get("pending") for p in plans for w in (p.get("status") or {}).get("workloads") or [])
    return PENDING_EXIT if pending else 0


def _ref(w: dict[str, Any]) -> str:
    group = str(w.get("apiVersion", "")).rpartition("/")[0]
    return f"{str(w.get('kind', '')).lower()}{'.' + group if group else ''}/{w.get('name', '')}"


def _workload(out: Writer, w: dict[str, Any]) -> None:
    out.write(0, f"{_ref(w)} (namespace {w.get('namespace', '')}): {w.get('message', '')}\n")
    out.flush()
    if w.get("nodes"):
        out.write(1, "NODE\tNEW PODS\n")
        out.write(1, "----\t--------\n")
        for n in w["nodes"]:
            out.write(1, f"{n.get('name', '')}\t{n.get('pods', 0)}\n")
        out.flush()
    record = w.get("unschedulable")
    if record:
        out.write(1, f"{w.get('pending', 0)} pod(s) would stay Pending:\n")
        out.flush()
        failures_table(out, record, level=2)
        suggestions(out, record, level=2)
        out.flush()
    not_eligible = w.get("notEligible")
    if not_eligible:
        out.write(1, f"Not eligible for a daemon pod: {not_eligible.get('count', 0)} node(s):\n")
        out.flush()
        failures_table(out, not_eligible, level=2)
        out.flush()


def render(plan: dict[str, Any]) -> str:
    status = plan.get("status") or {}
    snap = status.get("snapshot") or {}
    out = Writer()
    out.write(0, f"Plan against the cluster at resourceVersion {snap.get('resourceVersion', '?')}: "
                 f"{snap.get('nodes', 0)} nodes, {snap.get('pods', 0)} pods placed")
    ahead = status.get("clusterPending") or 0
    out.write(0, f"; {ahead} pods already Pending come first\n\n" if ahead else "\n\n")
    for w in status.get("workloads") or []:
        _workload(out, w)
        out.line()
    preemption = status.get("preemption") or {}
    out.write(0, f"Preemption:\t{preemption.get('message', 'none')}\n")
    out.write(0, "Nothing was written: a plan only simulates.\n")
    return out.text()


register(Command("plan", "Show where a workload's pods would be placed, before applying it", configure, run,
                 EXAMPLES, group="Deploy Commands", description=DESCRIPTION,
                 usage="pyctl plan (-f FILENAME | TYPE NAME | TYPE/NAME) [--replicas=COUNT] [-o yaml|json]"))
