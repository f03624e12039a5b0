"""POST /apis/pyctl.io/v1alpha1/namespaces/{namespace}/plans: a dry run of the scheduler.

The Plan's workloads are checked as their own create would check them (a dry-run create:
defaulting, validation, admission), then placed one after the other on a scheduler Snapshot
of the cluster as the watch cache holds it, by the scheduler's own framework and plugins
(scheduler/planner.py). The answer is the Plan with its status; nothing is written, not
even the Plan (as a SubjectAccessReview). RBAC: `create` on `plans` (docs/placement.md).

The planning itself runs in a worker thread, one plan at a time, so a big plan does not
hold up the requests this server's event loop serves meanwhile.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any, Callable

from aiohttp import web

from ..machinery import meta as m, placement
from ..machinery.types import Obj
from ..resources import registry
from ..resources.kinds.plan import PLAN
from ..resources.kinds.pod import POD
from ..scheduler import daemon, planner
from ..scheduler.plugins import DEFAULT_PROFILE
from ..scheduler.snapshot import TERMINAL, PodInfo, Snapshot, placed
from ..scheduler.workloads import NotPlannable, Workload, replica_pod, workload
from . import errors, request as req
from .cache import WatchCache
from .options import WriteOptions
from .responses import check_kind, json_response
from .storage import ObjectStore

PATH = placement.PLAN_PATH
MAX_PODS = 10_000
"""New pods one plan may place (a what-if of a million replicas would hold a core for minutes)."""


def _active(pod: Obj) -> bool:
    return not (pod.get("metadata") or {}).get("deletionTimestamp") and \
        (pod.get("status") or {}).get("phase") not in TERMINAL


def _controller(obj: Obj) -> str:
    return next((r.get("uid", "") for r in (obj.get("metadata") or {}).get("ownerReferences") or []
                 if r.get("controller")), "")


class Planner:
    """The plans of one API server: a Snapshot per plan from its watch cache, with the parsed
    pods kept from one plan to the next (by key and revision), so a plan parses only what
    changed since the last one."""

    def __init__(self) -> None:
        self._pods: dict[str, tuple[int, PodInfo]] = {}
        self._one_at_a_time = asyncio.Semaphore(1)

    def snapshot(self, cache: WatchCache) -> tuple[Snapshot, int, int]:
        """The cluster as the scheduler would see it: (snapshot, placed pods, Pending pods)."""
        snap = Snapshot()
        for e in cache.list("nodes"):
            snap.set_node(e.obj)
        parsed: dict[str, tuple[int, PodInfo]] = {}
        waiting = 0
        for e in cache.list("pods"):
            if not placed(e.obj):
                waiting += _active(e.obj)
                continue
            hit = self._pods.get(e.key)
            info = hit[1] if hit is not None and hit[0] == e.rev else PodInfo.from_pod(e.obj, strict=False)
            parsed[e.key] = (e.rev, info)
            snap.add_pod(info)
        self._pods = parsed
        return snap, len(parsed), waiting

    async def create(self, objects: ObjectStore, request: web.Request) -> web.Response:
        namespace = request.match_info["namespace"]
        body = await req.read_object(request)
        check_kind(PLAN.info, body)
        md = body.setdefault("metadata", {})
        if not isinstance(md, dict):
            raise errors.bad_request("metadata must be an object")
        if md.get("namespace") and md["namespace"] != namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace "
                                     "sent on the request")
        md["namespace"] = namespace
        causes = PLAN.validate(body)
        if causes:
            raise errors.invalid(PLAN.info, md.get("name", ""), causes)
        spec = body["spec"]
        opts = req.write_options(request)
        opts.dry_run = True
        jobs = [await _checked(objects, opts, i, obj, namespace, spec.get("replicas"))
                for i, obj in enumerate(spec["workloads"])]
        wanted = sum(w.replicas for w, _ in jobs if not w.daemon)
        if wanted > MAX_PODS:
            raise errors.invalid(PLAN.info, md.get("name", ""), [{
                "reason": "FieldValueInvalid", "field": "spec",
                "message": f"Invalid value: {wanted}: a plan places at most {MAX_PODS} pods"}])
        async with self._one_at_a_time:
            await objects.cache.sync()  # the latest state, as a list without resourceVersion
            cache = objects.cache
            snap, bound, waiting = self.snapshot(cache)
            revision = cache.revision
            inputs = [(w, _pod(w, owner), existing) for w, stored in jobs
                      for existing, owner in [_existing(objects, w, stored)]]
            results = await asyncio.to_thread(_run, inputs, snap, revision)
        body["status"] = {
            "workloads": results,
            "preemption": {"victims": [], "message": planner.PREEMPTION_NONE},
            "clusterPending": waiting,
            "snapshot": {"resourceVersion": str(revision), "nodes": len(snap.node_list()), "pods": bound}}
        return json_response(body, 201, opts.warnings)


def _run(inputs: list[tuple[Workload, Obj, planner.Existing]], snap: Snapshot, revision: int) -> list[dict[str, Any]]:
    # Seeded by the revision: the same cluster state gives the same plan.
    rng, now = random.Random(revision), m.now_rfc3339()
    return [planner.plan(w, pod, snap, DEFAULT_PROFILE, existing=existing, rng=rng, now=now)
            for w, pod, existing in inputs]


async def _checked(objects: ObjectStore, opts: WriteOptions, i: int, obj: Obj, namespace: str,
                   replicas: int | None) -> tuple[Workload, Obj | None]:
    """The workload, and the object as its create would store it (None: a kind this server
    does not serve); a workload its own create would refuse is refused the same way."""
    try:
        w = workload(obj, namespace, replicas)
    except NotPlannable as exc:
        path = "spec.replicas" if exc.field == "replicas" else f"spec.workloads[{i}].{exc.field}"
        raise errors.invalid(PLAN.info, "", [{"reason": "FieldValueInvalid", "field": path,
                                              "message": exc.message}]) from None
    if w.namespace != namespace:
        raise errors.bad_request(f"spec.workloads[{i}]: the namespace of the provided object does not "
                                 "match the namespace sent on the request")
    info = registry.by_kind(w.api_version, w.kind)
    stored: Obj | None = None
    if info is not None:  # served here: check it as its create would (nothing is written)
        stored = await objects.create(info, namespace, m.deep_copy(obj), opts)
        w = workload(stored, namespace, replicas)  # defaulted: what the controller would read
    else:  # not served (yet): its pod template is checked as the Pod it would become
        opts.warnings.append(f"{w.api_version} {w.kind} is not served by this cluster: planned from its "
                             "pod template")
        causes = POD.validate(_pod(w, None))
        if causes:
            prefix = f"spec.workloads[{i}]" + (f".{w.template_path}" if w.template_path else "")
            raise errors.invalid(PLAN.info, "", [{**c, "field": f"{prefix}.{c['field']}"} for c in causes])
    return w, stored


def _pod(w: Workload, owner: str | None) -> Obj:
    """One replica pod, defaulted as a Pod create defaults it."""
    pod = replica_pod(w, owner)
    if w.daemon:
        daemon.add_tolerations(pod["spec"])
    POD.default(pod)
    return pod


def _existing(objects: ObjectStore, w: Workload, stored: Obj | None) -> tuple[planner.Existing, str | None]:
    """The workload's active pods now and whether applying `stored` would replace them; and
    the controller its new pods get, so they spread with the pods they join (a scale) or
    apart from the ones they replace (a new template)."""
    if w.kind == "Pod":  # a bare pod spreads by its labels, as the scheduler counts them
        entry = objects.cache.get(objects.key(POD.info, w.namespace, w.name)) if w.name else None
        current = entry.obj if entry is not None else None
        return planner.Existing((current,) if current is not None and _active(current) else ()), None
    info = registry.by_kind(w.api_version, w.kind)
    entry = objects.cache.get(objects.key(info, w.namespace, w.name)) if info is not None and w.name else None
    if entry is None or w.kind == "CronJob":  # new, or a CronJob's next run: all its pods are new
        return planner.Existing(), f"plan:{w.ref}"
    current = entry.obj
    uid = (current.get("metadata") or {}).get("uid", "")
    owners = {uid}
    if w.kind == "Deployment":  # its pods are its ReplicaSets'
        owners |= {(e.obj.get("metadata") or {}).get("uid", "")
                   for e in objects.cache.list("replicasets", w.namespace) if _controller(e.obj) == uid}
    pods = tuple(e.obj for e in objects.cache.list("pods", w.namespace)
                 if _controller(e.obj) in owners and _active(e.obj))
    if stored is not None and (stored.get("spec") or {}).get("template") != (current.get("spec") or {}).get("template"):
        return planner.Existing(pods, template_changed=True), f"plan:{w.ref}:new-template"
    by_owner = Counter(_controller(p) for p in pods).most_common(1)
    return planner.Existing(pods), by_owner[0][0] if by_owner else (
        f"plan:{w.ref}" if w.kind == "Deployment" else uid)


def add_routes(app: web.Application, objects: Callable[[], ObjectStore]) -> None:
    """Registered before the generic resource routes, which would store a Plan."""
    plans = Planner()

    async def create(request: web.Request) -> web.Response:
        return await plans.create(objects(), request)

    async def not_allowed(request: web.Request) -> web.Response:
        raise errors.method_not_allowed(request.method, "plans")

    app.router.add_post(PATH, create)
    app.router.add_route("*", PATH, not_allowed)
    app.router.add_route("*", PATH + "/{tail:.*}", not_allowed)

