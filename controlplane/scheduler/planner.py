"""A dry run of the scheduler: where a workload's pods would go, which would stay Pending and
why, against a Snapshot of the cluster — the same filters and scores the scheduler runs,
deciding one replica after the other and assuming each placement, as the scheduler does
within a batch (`schedule_many`: `schedule` with each node's verdict kept until it changes). Nothing is written anywhere: the caller's snapshot is changed
(assumed pods) and then thrown away.

A workload that exists already keeps its pods where they are when its pod template is
unchanged (a scale: only the difference is placed, or removed); a changed template replaces
them all (a rollout's end state: the old pods' room is free for the new ones). Once one
replica fits nowhere the rest do not either (a failure changes nothing), so one explanation
serves them all. pyctl does not preempt pods, so no plan evicts any. Pure.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..machinery.types import Obj
from . import daemon, verdict
from .framework import Profile, schedule, schedule_many
from .snapshot import PodInfo, Snapshot, placed
from .workloads import Workload

PREEMPTION_NONE = "none: pyctl does not preempt pods, so placing these evicts nothing"


@dataclass(frozen=True)
class Existing:
    """The workload as the cluster runs it now."""

    pods: tuple[Obj, ...] = ()
    """Its active pods (bound or Pending)."""
    template_changed: bool = False
    """Applying the manifest would replace them all."""


def _key(pod: Obj) -> str:
    md = pod.get("metadata") or {}
    return f"{md.get('namespace') or 'default'}/{md.get('name', '')}"


def nth_replica(info: PodInfo, i: int) -> PodInfo:
    name = f"{info.name}-plan-{i}"
    return dataclasses.replace(info, key=f"{info.namespace}/{name}", name=name, uid=f"{info.uid}-{i}")


def _nodes(counts: Counter[str]) -> list[dict[str, Any]]:
    return [{"name": n, "pods": c} for n, c in sorted(counts.items(), key=lambda nc: (-nc[1], nc[0]))]


def _replicated(w: Workload, pod: PodInfo, snapshot: Snapshot, profile: Profile, existing: Existing,
                rng: random.Random, now: str) -> dict[str, Any]:
    current = len(existing.pods)
    keep = 0 if existing.template_changed else min(current, w.replicas)
    result: dict[str, Any] = {
        "desired": w.replicas, "existing": keep,
        "existingPending": sum(1 for p in existing.pods[:keep] if not placed(p)),
        "replaced": current if existing.template_changed else 0,
        "removed": 0 if existing.template_changed else max(0, current - w.replicas)}
    if existing.template_changed or current > w.replicas:
        # The replaced pods' room, or the removed ones' (which pods a scale-down removes is
        # the controller's choice: Pending ones first, as here), is free for the rest.
        gone = existing.pods if existing.template_changed else \
            sorted(existing.pods, key=lambda p: placed(p))[:current - w.replicas]
        for p in gone:
            snapshot.remove_pod(_key(p))
    wanted = w.replicas - keep
    replicas = [nth_replica(pod, i) for i in range(wanted)]
    decisions = schedule_many(replicas, snapshot, profile, rng)
    counts = Counter(d.node for d in decisions if d.node is not None)
    failed = next((i for i, d in enumerate(decisions) if d.node is None), None)
    if failed is not None:  # and so do all after it: a failure changes nothing
        result["unschedulable"] = verdict.explain(replicas[failed], snapshot, profile, now=now)
        result["unschedulable"]["message"] = decisions[failed].message
    placed_now = sum(counts.values())
    result.update(toPlace=wanted, placed=placed_now, pending=wanted - placed_now, nodes=_nodes(counts))
    return result


def _daemons(w: Workload, pod: PodInfo, snapshot: Snapshot, profile: Profile, existing: Existing,
             rng: random.Random, now: str) -> dict[str, Any]:
    running = {} if existing.template_changed else \
        {(p.get("spec") or {}).get("nodeName"): p for p in existing.pods if placed(p)}
    if existing.template_changed:
        for p in existing.pods:
            snapshot.remove_pod(_key(p))
    eligible = daemon.eligibility(pod, snapshot)
    not_eligible: verdict.PerNode = []
    pending: verdict.PerNode = []
    counts: Counter[str] = Counter()
    kept = 0
    for node in list(snapshot.node_list()):
        why_not = eligible(node)
        if why_not:
            not_eligible.append((node.name, why_not))
            continue
        if node.name in running:
            kept += 1
            continue
        replica = daemon.pinned(nth_replica(pod, len(counts) + len(pending)), node.name)
        decision = schedule(replica, snapshot, profile, rng)
        if decision.node is None:
            pending.extend(verdict.collect(replica, snapshot, profile, nodes=[node]))
            continue
        snapshot.assume(replica, decision.node)
        counts[decision.node] += 1
    eligible_nodes = len(snapshot.node_list()) - len(not_eligible)
    result: dict[str, Any] = {
        "desired": eligible_nodes, "existing": kept, "existingPending": 0,
        "replaced": len(existing.pods) if existing.template_changed else 0,
        # Pods on nodes no longer eligible (or a second one on a node) go.
        "removed": max(0, len(existing.pods) - kept) if not existing.template_changed else 0,
        "toPlace": eligible_nodes - kept, "placed": sum(counts.values()), "pending": len(pending),
        "nodes": _nodes(counts)}
    if pending:
        result["unschedulable"] = verdict.unschedulable(pending, now=now)
    if not_eligible:
        groups = verdict.group(verdict.tally(not_eligible))
        result["notEligible"] = {"count": len(not_eligible),
                                 "groups": [g.record() for g in groups[:verdict.MAX_GROUPS]]}
    return result


def plan(w: Workload, pod: Obj, snapshot: Snapshot, profile: Profile, *, existing: Existing = Existing(),
         rng: random.Random | None = None, now: str = "") -> dict[str, Any]:
    """Place `w`'s pods (`pod`: one replica, defaulted as the API server would store it) on
    `snapshot`, which keeps the placements (plan the next workload of a manifest on it)."""
    info = PodInfo.from_pod(pod)
    rng = rng or random.Random()
    run = _daemons if w.daemon else _replicated
    result = {"apiVersion": w.api_version, "kind": w.kind, "namespace": w.namespace, "name": w.name,
              **run(w, info, snapshot, profile, existing, rng, now)}
    result["message"] = summary(result)
    return result


def summary(r: dict[str, Any]) -> str:
    """One line: `2 of 5 new pods placed; 3 stay Pending: 0/3 nodes are available: ...`."""
    parts = []
    if r.get("existing"):
        parts.append(f"{r['existing']} existing pod(s) stay")
    if r.get("replaced"):
        parts.append(f"{r['replaced']} existing pod(s) replaced")
    if r.get("removed"):
        parts.append(f"{r['removed']} existing pod(s) removed")
    if "notEligible" in r:
        parts.append(f"{r['notEligible']['count']} node(s) not eligible")
    parts.append(f"{r['placed']} of {r['toPlace']} new pod(s) placed")
    if r.get("pending"):
        why = (r.get("unschedulable") or {}).get("message", "")
        parts.append(f"{r['pending']} stay Pending" + (f": {why}" if why else ""))
    return "; ".join(parts)

