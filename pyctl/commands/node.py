"""`pyctl cordon`, `uncordon` and `drain`: take nodes out of service and back, as kubectl does.

cordon/uncordon set or clear `spec.unschedulable` with a merge patch. drain cordons, decides
for every pod on the node whether it may go (`judge`, a pure function of the pod and the
flags: kubectl's filters and messages), refuses the whole node if any pod may not, then
evicts each pod through `pods/NAME/eviction` (or deletes it with --disable-eviction) and
waits until they are gone. The messages and the order of the output lines are kubectl's, so
scripts written against `kubectl drain` read pyctl's the same way.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from dataclasses import dataclass
from typing import Callable

from ..errors import ApiError, CommandError, UsageError
from ..humanize import parse_time
from ..resources import Resource
from ..session import Session
from . import Command, duration, register
from ._targets import Target, list_objects
from controlplane.machinery.types import Obj

MERGE = "application/merge-patch+json"
MIRROR = "kubernetes.io/config.mirror"
FINISHED = ("Succeeded", "Failed")
EVICT_RETRY_DELAY = 5.0  # kubectl's pause after a 429 (a PodDisruptionBudget says "not now")
POLL = 0.5  # seconds between checks for evicted pods; one LIST per check, whatever the count

DAEMONSET_FATAL = "DaemonSet-managed Pods (use --ignore-daemonsets to ignore)"
DAEMONSET_WARNING = "ignoring DaemonSet-managed Pods"
LOCAL_FATAL = "Pods with local storage (use --delete-emptydir-data to override)"
LOCAL_WARNING = "deleting Pods with local storage"
UNMANAGED_FATAL = "Pods that declare no controller (use --force to override)"
UNMANAGED_WARNING = "deleting Pods that declare no controller"



# -- deciding which pods go (pure) ----------------------------------------------------------------

@dataclass(frozen=True)
class Policy:
    force: bool = False
    ignore_daemonsets: bool = False
    delete_emptydir_data: bool = False
    skip_wait_seconds: int = 0
    """Pods deleted longer ago than this are neither evicted nor waited for (0: never skip)."""


@dataclass(frozen=True)
class Verdict:
    delete: bool
    problem: str = ""
    """Why the pod blocks the drain (the node is then left alone)."""
    warnings: tuple[str, ...] = ()


def controller_of(pod: Obj) -> Obj | None:
    refs = (pod.get("metadata") or {}).get("ownerReferences") or []
    return next((r for r in refs if r.get("controller")), None)


def deleted_long_ago(pod: Obj, seconds: int, now: dt.datetime) -> bool:
    at = parse_time((pod.get("metadata") or {}).get("deletionTimestamp"))
    return seconds > 0 and at is not None and (now - at).total_seconds() > seconds


def judge(pod: Obj, policy: Policy, daemonset_missing: Callable[[str, str], ApiError | None],
          now: dt.datetime) -> Verdict:
    """May this pod be evicted? kubectl's filters, in kubectl's order, first refusal wins."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    finished = (pod.get("status") or {}).get("phase") in FINISHED
    owner = controller_of(pod)
    warnings: list[str] = []
    if deleted_long_ago(pod, policy.skip_wait_seconds, now):
        return Verdict(False)
    if owner is not None and owner.get("kind") == "DaemonSet" and not finished:
        missing = daemonset_missing(meta.get("namespace", ""), owner.get("name", ""))
        if missing is not None:
            # An orphan of a deleted DaemonSet would not come back: --force may remove it.
            if not (missing.code == 404 and policy.force):
                return Verdict(False, missing.message)
            warnings.append(missing.message)
        elif not policy.ignore_daemonsets:
            return Verdict(False, DAEMONSET_FATAL)
        else:
            # Never evicted: the DaemonSet controller ignores cordons and would put it back.
            return Verdict(False, warnings=(DAEMONSET_WARNING,))
    if MIRROR in (meta.get("annotations") or {}):
        return Verdict(False)  # a static pod's mirror: the API cannot remove it
    if any("emptyDir" in v for v in spec.get("volumes") or []) and not finished:
        if not policy.delete_emptydir_data:
            return Verdict(False, LOCAL_FATAL)
        warnings.append(LOCAL_WARNING)
    if owner is None and not finished:
        if not policy.force:
            return Verdict(False, UNMANAGED_FATAL)
        warnings.append(UNMANAGED_WARNING)
    return Verdict(True, warnings=tuple(warnings))


def grouped(pairs: list[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """(message, pod) pairs as (message, pods), in first-seen order."""
    out: dict[str, list[str]] = {}
    for message, pod in pairs:
        out.setdefault(message, []).append(pod)
    return list(out.items())


def go_duration(seconds: float) -> str:
    """`30s`, `1m30s`, `1h0m0s`: how kubectl prints its --timeout in messages."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms" if seconds else "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:g}s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    return f"{int(minutes)}m{text}" if minutes else text


def aggregate(errors: list[str]) -> str:
    """One error as itself, several as `[a, b]` (Go's aggregate error text)."""
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


# -- flags and node lookup --------------------------------------------------------------------------

def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("nodes", nargs="*", metavar="NODE")
    p.add_argument("-l", "--selector", metavar="QUERY", help="act on the nodes with these labels")
    p.add_argument("--dry-run", nargs="?", const="client", default="none",
                   choices=("none", "client", "server"), help="show the change without making it")


def _resource(s: Session, kind: str) -> Resource:
    found = s.discovery.for_kind("v1", kind)
    if found is None:
        raise CommandError(f'the server doesn\'t have a resource type "{kind.lower()}s"')
    return found


def _nodes(s: Session, a: argparse.Namespace, verb: str) -> tuple[Resource, list[Obj]]:
    """Every node named or selected, all looked up before anything changes."""
    if not a.nodes and not a.selector:
        raise UsageError(f"USAGE: {verb} NODE [flags]", verb)
    if a.nodes and a.selector:
        raise UsageError("cannot specify both a node name and a --selector option", verb)
    nodes = _resource(s, "Node")
    if a.selector:
        return nodes, list_objects(s, Target(nodes, None), {"labelSelector": a.selector})[0]
    return nodes, [s.client.get(nodes.path(None, name)) for name in a.nodes]


def _dry(a: argparse.Namespace) -> str:
    return {"server": " (server dry run)", "client": " (dry run)"}.get(a.dry_run, "")


def _set_unschedulable(s: Session, a: argparse.Namespace, nodes: Resource, node: Obj,
                       desired: bool) -> bool:
    """Cordon or uncordon one node and say so; False (after saying why) if it failed."""
    name = node["metadata"]["name"]
    verb = "cordon" if desired else "uncordon"
    if bool((node.get("spec") or {}).get("unschedulable")) == desired:
        s.print(f"{nodes.ref(name)} already {verb}ed{_dry(a)}")
        return True
    if a.dry_run != "client":
        # null removes the field, as kubectl's patch does: a schedulable node has none.
        patch = {"spec": {"unschedulable": True if desired else None}}
        try:
            s.client.request("PATCH", nodes.path(None, name), body=patch, content_type=MERGE,
                             query={"dryRun": "All"} if a.dry_run == "server" else None)
        except ApiError as exc:
            s.error(f'error: unable to {verb} node "{name}": {exc.message}')
            return False
    s.print(f"{nodes.ref(name)} {verb}ed{_dry(a)}")
    return True


def _cordon_each(s: Session, a: argparse.Namespace, desired: bool) -> int:
    nodes, found = _nodes(s, a, "cordon" if desired else "uncordon")
    failed = [n for n in found if not _set_unschedulable(s, a, nodes, n, desired)]
    return 1 if failed else 0


def run_cordon(s: Session, a: argparse.Namespace) -> int:
    return _cordon_each(s, a, True)


def run_uncordon(s: Session, a: argparse.Namespace) -> int:
    return _cordon_each(s, a, False)


# -- drain ----------------------------------------------------------------------------------------------

class Drainer:
    """Drains one node at a time with the flags of one `pyctl drain` run."""

    def __init__(self, s: Session, a: argparse.Namespace) -> None:
        self.s, self.a = s, a
        self.pods = _resource(s, "Pod")
        self.policy = Policy(a.force, a.ignore_daemonsets, a.delete_emptydir_data,
                             a.skip_wait_for_delete_timeout)
        self.deadline = float("inf")
        self.options: Obj = {}
        if a.grace_period >= 0:
            self.options["gracePeriodSeconds"] = a.grace_period
        if a.dry_run == "server":
            self.options["dryRun"] = ["All"]
        self.query = {"dryRun": "All"} if a.dry_run == "server" else None

    def _daemonset_missing(self, namespace: str, name: str) -> ApiError | None:
        daemonsets = self.s.discovery.by_group_kind("apps", "DaemonSet")
        if daemonsets is None:  # not served: no DaemonSet can exist
            return ApiError({"code": 404, "reason": "NotFound",
                             "message": f'daemonsets.apps "{name}" not found'})
        try:
            self.s.client.get(daemonsets.path(namespace, name))
        except ApiError as exc:
            return exc
        return None

    def _on_node(self, node: str, selected: bool = True) -> list[Obj]:
        query = {"fieldSelector": f"spec.nodeName={node}"}
        if selected and self.a.pod_selector:
            query["labelSelector"] = self.a.pod_selector
        return list_objects(self.s, Target(self.pods, None), query)[0]

    def plan(self, node: str) -> tuple[list[Obj], list[str], str]:
        """The pods to evict, the reasons the node cannot be drained, and what to warn about."""
        now = dt.datetime.now(dt.timezone.utc)
        chosen: list[Obj] = []
        problems: list[tuple[str, str]] = []
        warnings: list[tuple[str, str]] = []
        for pod in self._on_node(node):
            verdict = judge(pod, self.policy, self._daemonset_missing, now)
            ref = _key(pod)
            if verdict.problem:
                problems.append((verdict.problem, ref))
            warnings.extend((w, ref) for w in verdict.warnings)
            if verdict.delete:
                chosen.append(pod)
        refused = [f"cannot delete {msg}: {', '.join(refs)}" for msg, refs in grouped(problems)]
        return chosen, refused, "; ".join(f"{msg}: {', '.join(refs)}" for msg, refs in grouped(warnings))

    def drain(self, node: str) -> list[str]:
        """Evict (or delete) every pod that may go and wait for them; the errors, if any."""
        # --timeout bounds each node's drain, as kubectl's does.
        self.deadline = time.monotonic() + self.a.timeout if self.a.timeout > 0 else float("inf")
        pods, problems, warnings = self.plan(node)
        if problems:
            return problems  # nothing is evicted while any pod blocks, as kubectl does
        if warnings:
            self.s.warn(warnings)
        if self.a.dry_run == "client":
            for pod in pods:
                self.s.print(f"evicting pod {_key(pod)} (dry run)")
            return []
        errors: list[str] = []
        if self.a.disable_eviction:
            started = self._delete_all(pods, errors)
        else:
            started = self._evict_all(pods, errors)
        if self.a.dry_run == "none":
            errors.extend(self._wait(started))
        if errors:
            self._report_pending(node, aggregate(errors))
        return errors

    def _delete_all(self, pods: list[Obj], errors: list[str]) -> list[Obj]:
        """--disable-eviction: plain DELETEs; the pods now on their way out."""
        started = []
        for pod in pods:
            try:
                self.s.client.request("DELETE", self.pods.path(*_ns_name(pod)), body=self.options,
                                      query=self.query)
            except ApiError as exc:
                if exc.code != 404:  # already gone is what we wanted
                    errors.append(exc.message)
                continue
            started.append(pod)
        return started

    def _evict_all(self, pods: list[Obj], errors: list[str]) -> list[Obj]:
        """Evict each pod; the ones the server accepted. Refused for now (429) means retry."""
        started: list[Obj] = []
        waiting = list(pods)
        while waiting:
            retry: list[Obj] = []
            for pod in waiting:
                ns, name = _ns_name(pod)
                self.s.print(f"evicting pod {ns}/{name}{' (server dry run)' if self.query else ''}")
                if time.monotonic() >= self.deadline:
                    errors.append(f'error when evicting pods/"{name}" -n "{ns}": global timeout '
                                  f"reached: {go_duration(self.a.timeout)}")
                    continue
                body = {"apiVersion": "policy/v1", "kind": "Eviction",
                        "metadata": {"name": name, "namespace": ns}, "deleteOptions": self.options}
                try:
                    self.s.client.request("POST", self.pods.path(ns, name, "eviction"), body=body,
                                          query=self.query)
                except ApiError as exc:
                    if exc.code == 429:
                        # A disruption budget forbids it for now: kubectl waits and asks again.
                        self.s.error(f'error when evicting pods/"{name}" -n "{ns}" (will retry '
                                     f"after {go_duration(EVICT_RETRY_DELAY)}): {exc.message}")
                        retry.append(pod)
                    elif exc.code != 404:
                        errors.append(f'error when evicting pods/"{name}" -n "{ns}": {exc.message}')
                    continue
                started.append(pod)
            if retry:
                time.sleep(max(0.0, min(EVICT_RETRY_DELAY, self.deadline - time.monotonic())))
            waiting = retry
        return started

    def _wait(self, pods: list[Obj]) -> list[str]:
        """Until each pod is gone (absent, or replaced by one with another uid), or the timeout."""
        done = "deleted" if self.a.disable_eviction else "evicted"
        pending = {_key(p): p for p in pods}
        while pending:
            nodes = {(p.get("spec") or {}).get("nodeName", "") for p in pending.values()}
            present: dict[str, Obj] = {}
            for node in nodes:
                present.update({_key(p): p for p in self._on_node(node, selected=False)})
            now = dt.datetime.now(dt.timezone.utc)
            for key, pod in list(pending.items()):
                live = present.get(key)
                if live is not None and live["metadata"].get("uid") == pod["metadata"].get("uid"):
                    if not deleted_long_ago(live, self.policy.skip_wait_seconds, now):
                        continue
                    self.s.print(f'pod "{pod["metadata"]["name"]}" has DeletionTimestamp older than '
                                 f"{self.policy.skip_wait_seconds} seconds, skipping")
                else:
                    self.s.print(f"{self.pods.ref(pod['metadata']['name'])} {done}")
                del pending[key]
            if not pending:
                break
            if time.monotonic() >= self.deadline:
                return [f'error when waiting for pod "{p["metadata"]["name"]}" in namespace '
                        f'"{p["metadata"].get("namespace", "")}" to terminate: global timeout '
                        f"reached: {go_duration(self.a.timeout)}" for p in pending.values()]
            time.sleep(min(POLL, max(0.0, self.deadline - time.monotonic())))
        return []

    def _report_pending(self, node: str, error: str) -> None:
        try:
            left = self.plan(node)[0]
        except ApiError as exc:
            self.s.error(f"Following errors occurred while getting the list of pods to delete:\n"
                         f"{exc.message}")
            return
        if left:
            self.s.error(f'There are pending pods in node "{node}" when an error occurred: {error}')
            for pod in left:
                self.s.error(f"pod/{pod['metadata']['name']}")


def _ns_name(pod: Obj) -> tuple[str, str]:
    return pod["metadata"].get("namespace", ""), pod["metadata"]["name"]


def _key(pod: Obj) -> str:
    return "/".join(_ns_name(pod))


def run_drain(s: Session, a: argparse.Namespace) -> int:
    nodes, found = _nodes(s, a, "drain")
    drainer = Drainer(s, a)
    # Every node is cordoned before any is drained, so evicted pods do not land on the next one.
    cordoned = {n["metadata"]["name"] for n in found if _set_unschedulable(s, a, nodes, n, True)}
    fatal: list[str] = []
    pending: list[str] = []
    for node in found:
        name = node["metadata"]["name"]
        if name not in cordoned:
            # kubectl drains it anyway; pyctl will not evict from a node new pods can still reach.
            errors = [f'unable to cordon node "{name}"']
        else:
            errors = drainer.drain(name)
        if not errors:
            s.print(f"{nodes.ref(name)} drained{_dry(a)}")
            continue
        s.error(f'error: unable to drain node "{name}" due to error: {aggregate(errors)}, '
                "continuing command...")
        fatal.extend(errors)
        pending.append(name)
    if pending:
        s.error("There are pending nodes to be drained:\n" + "\n".join(f" {n}" for n in pending))
        s.error("\n".join(fatal))
    return 1 if pending else 0


# -- registration -------------------------------------------------------------------------------------

def configure_cordon(p: argparse.ArgumentParser) -> None:
    _common(p)


def configure_drain(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--force", action="store_true",
                   help="continue even if there are pods that declare no controller")
    p.add_argument("--ignore-daemonsets", action="store_true", help="ignore DaemonSet-managed pods")
    p.add_argument("--delete-emptydir-data", action="store_true",
                   help="continue even if there are pods using emptyDir (local data that will be "
                        "deleted when the node is drained)")
    p.add_argument("--grace-period", type=int, default=-1, metavar="SECONDS",
                   help="seconds each pod gets to stop (negative: the pod's own default)")
    p.add_argument("--timeout", type=duration, default=0, metavar="DURATION",
                   help="how long to wait before giving up, e.g. 5m (0: no limit)")
    p.add_argument("--pod-selector", metavar="QUERY", help="drain only the pods with these labels")
    p.add_argument("--disable-eviction", action="store_true",
                   help="delete the pods instead of evicting them (bypasses PodDisruptionBudgets)")
    p.add_argument("--skip-wait-for-delete-timeout", type=int, default=0, metavar="SECONDS",
                   help="do not wait for pods deleted more than this many seconds ago (0: wait)")


DRAIN_DESCRIPTION = """\
Drain node in preparation for maintenance.

The node is marked unschedulable (cordoned) first. Then every pod on it is evicted through
the eviction API (or deleted, with --disable-eviction), and drain waits until they are gone.
Pods that declare no controller are not evicted without --force (nothing would replace
them), nor pods with emptyDir volumes without --delete-emptydir-data; if any pod on the node
blocks, no pod is evicted and the node stays cordoned. DaemonSet-managed pods are never
evicted, and drain refuses them unless --ignore-daemonsets.

When the maintenance is done, `pyctl uncordon NODE` makes the node schedulable again."""

register(Command("cordon", "Mark node as unschedulable", configure_cordon, run_cordon,
                 "# Mark node \"node-1\" as unschedulable\npyctl cordon node-1\n\n"
                 "# Mark every node labelled pool=spot as unschedulable\npyctl cordon -l pool=spot\n",
                 group="Cluster Management Commands", usage="pyctl cordon NODE [flags]",
                 description="Mark node as unschedulable: new pods are not placed on it; the "
                             "pods already there keep running."))
register(Command("uncordon", "Mark node as schedulable", configure_cordon, run_uncordon,
                 "# Mark node \"node-1\" as schedulable\npyctl uncordon node-1\n",
                 group="Cluster Management Commands", usage="pyctl uncordon NODE [flags]",
                 description="Mark node as schedulable."))
register(Command("drain", "Drain node in preparation for maintenance", configure_drain, run_drain,
                 "# Drain node \"node-1\", even if it runs pods that declare no controller\n"
                 "pyctl drain node-1 --force\n\n"
                 "# As above, but refuse such pods, and give each pod 15 minutes to stop\n"
                 "pyctl drain node-1 --grace-period=900\n",
                 group="Cluster Management Commands", usage="pyctl drain NODE [flags]",
                 description=DRAIN_DESCRIPTION))
