"""The Eviction API (`POST pods/NAME/eviction`, policy/v1 Eviction): a delete that honours
the pod's PodDisruptionBudget, as kube-apiserver's `pkg/registry/core/pod/storage/eviction.go`.

* A pod that is finished, still Pending or already being deleted is deleted at once.
* Otherwise its budget (the one whose selector matches it; more than one is an error) must allow
  a disruption: its disruptionsAllowed is decremented and the pod recorded in disruptedPods in
  one compare-and-swap of the budget's status, so two evictions racing for the last allowed
  disruption cannot both pass. A budget that allows none answers 429 TooManyRequests, "Cannot
  evict pod as it would violate the pod's disruption budget.", which `kubectl drain` retries.
* A pod that is not ready may go without using up the budget when the budget is met anyway
  (unhealthyPodEvictionPolicy IfHealthyBudget, the default) or always (AlwaysAllow); the delete
  then carries the pod's resourceVersion, so a pod that became ready meanwhile is not taken.
* Before the delete the pod gets the DisruptionTarget condition (EvictionByEvictionAPI), which
  a Job's pod failure policy can match.

Budgets are read from the watch cache; the compare-and-swap is against etcd.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from ..machinery import disruption as pdbmath
from ..machinery.meta import now_rfc3339
from ..machinery.selectors import SelectorError, label_selector_from_spec
from ..resources import registry
from . import errors, request as req
from .options import WriteOptions
from .paths import Target
from .storage import ObjectStore

Obj = dict[str, Any]
POLICY_GROUP = "policy"
BUDGETS = "poddisruptionbudgets"


def _too_many(message: str, retry_after: int = 0) -> errors.ApiError:
    details: Obj = {"causes": [{"reason": "DisruptionBudget", "message": message}]}
    if retry_after:
        details["retryAfterSeconds"] = retry_after
    return errors.ApiError(429, pdbmath.EVICTION_REFUSED, "TooManyRequests", details)


def _forbidden(name: str, why: str) -> errors.ApiError:
    return errors.ApiError(403, f'poddisruptionbudgets.policy "{name}" is forbidden: {why}', "Forbidden",
                           {"name": name, "group": POLICY_GROUP, "kind": BUDGETS})


def can_ignore_budget(pod: Obj) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed", "Pending") or bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def budgets_for(objects: ObjectStore, pod: Obj) -> list[Obj]:
    """The budgets whose selector matches the pod (an empty selector matches no pod here)."""
    md = pod.get("metadata") or {}
    labels = md.get("labels") or {}
    found = []
    for entry in objects.cache.list(BUDGETS, md.get("namespace", "")):
        try:
            selector = label_selector_from_spec((entry.obj.get("spec") or {}).get("selector"))
        except SelectorError:
            continue
        if not selector.empty and selector.matches(labels):
            found.append(entry.obj)
    return found


async def evict(objects: ObjectStore, request: web.Request, target: Target) -> Obj:
    body = await req.read_object(request)
    named = (body.get("metadata") or {}).get("name")
    if named and named != target.name:
        raise errors.bad_request("name in URL does not match name in Eviction object")
    options = dict(body.get("deleteOptions") or {})
    opts = req.write_options(request)
    if "All" in (options.get("dryRun") or []):
        opts.dry_run = True
    pod = objects.get(target.info, target.namespace, target.name).obj
    if not can_ignore_budget(pod):
        budgets = budgets_for(objects, pod)
        if len(budgets) > 1:
            raise errors.ApiError(500, "This pod has more than one PodDisruptionBudget, which the eviction "
                                       "subresource does not support.", "InternalError")
        if budgets and await _use_budget(objects, budgets[0], pod, opts):
            # Not ready and let go without using the budget: only as long as it stays so.
            options.setdefault("preconditions", {})["resourceVersion"] = pod["metadata"]["resourceVersion"]
    await _mark_and_delete(objects, target, options, opts)
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


async def _use_budget(objects: ObjectStore, pdb: Obj, pod: Obj, opts: WriteOptions) -> bool:
    """Take one disruption from the budget (429 if none is left); True when the pod may go
    without one (it is not ready, and the budget lets unhealthy pods go)."""
    spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
    name = pdb["metadata"]["name"]
    if not pdbmath.pod_ready(pod):
        if spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
            return True
        desired = int(status.get("desiredHealthy") or 0)
        if int(status.get("currentHealthy") or 0) >= desired > 0:
            return True
    info = registry.lookup(POLICY_GROUP, "v1", BUDGETS)
    assert info is not None

    def decrement(current: Obj) -> Obj:
        st = current.setdefault("status", {})
        generation = int((current.get("metadata") or {}).get("generation") or 0)
        if int(st.get("observedGeneration") or 0) < generation:
            raise _too_many(f"The disruption budget {name} is still being processed by the server.", 10)
        allowed = int(st.get("disruptionsAllowed") or 0)
        if allowed < 0:
            raise _forbidden(name, "pdb disruptions allowed is negative")
        if len(st.get("disruptedPods") or {}) > pdbmath.MAX_DISRUPTED_PODS:
            raise _forbidden(name, "DisruptedPods map too big - too many evictions not confirmed by PDB controller")
        if allowed == 0:
            raise _too_many(f"The disruption budget {name} needs {int(st.get('desiredHealthy') or 0)} healthy "
                            f"pods and has {int(st.get('currentHealthy') or 0)} currently")
        st["disruptionsAllowed"] = allowed - 1
        if allowed - 1 == 0:
            pdbmath.set_allowed_condition(st, int(st.get("observedGeneration") or 0), dt.datetime.now(dt.timezone.utc))
        # The controller must not count the pod as healthy while its deletion is on the way.
        st["disruptedPods"] = {**(st.get("disruptedPods") or {}), pod["metadata"]["name"]: now_rfc3339()}
        return current

    await objects.guaranteed_update(info, pdb["metadata"].get("namespace", ""), name, decrement, opts,
                                    subresource="status")
    return False


async def _mark_and_delete(objects: ObjectStore, target: Target, options: Obj, opts: WriteOptions) -> None:
    if not opts.dry_run:
        wanted_rv = (options.get("preconditions") or {}).get("resourceVersion")

        def add_condition(pod: Obj) -> Obj:
            if wanted_rv and (pod.get("metadata") or {}).get("resourceVersion") != wanted_rv:
                raise errors.conflict(target.info, target.name)
            status = pod.setdefault("status", {})
            conditions = [c for c in status.get("conditions") or [] if c.get("type") != "DisruptionTarget"]
            conditions.append({"type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
                               "lastTransitionTime": now_rfc3339(), "reason": "EvictionByEvictionAPI",
                               "message": "Eviction API: evicting"})
            status["conditions"] = conditions
            return pod

        updated = await objects.guaranteed_update(target.info, target.namespace, target.name, add_condition,
                                                  opts, subresource="status")
        if wanted_rv:  # our own write moved it on
            options["preconditions"]["resourceVersion"] = updated["metadata"]["resourceVersion"]
    await objects.delete(target.info, target.namespace, target.name, options, opts)
