"""HorizontalPodAutoscaler controller: scales anything with a scale subresource to its metrics.

Every sync period (15 s) each autoscaler is looked at again (level-triggered; a new one or a
changed spec at once): its target's Scale is read through the scale subresource (the target
kind is found in the registry, or in the API's discovery for kinds added at run time), the
pods its `status.selector` picks are measured through metrics.k8s.io, each metric proposes a
replica count (scaling.py: kube's algorithm), the largest wins, stabilization and rate limits
apply (`behavior`, or the legacy rules), and a different count is written back through the
scale subresource. Status carries currentReplicas, desiredReplicas, currentMetrics,
lastScaleTime and the conditions AbleToScale, ScalingActive and ScalingLimited with kube's
reasons; Events say SuccessfulRescale, FailedGetScale, FailedGetResourceMetric and the like.

Resource and ContainerResource metrics (Utilization, AverageValue) are computed; Pods,
Object and External metrics need a custom or external metrics API, which this cluster does
not serve: they are reported as failing to compute, as kube does without one.
Recommendations and recent scale events live in memory, as in kube-controller-manager: a new
leader starts afresh.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Hashable

from ..client import ApiClient, ApiError, NotFound
from ..client.kinds import HPAS, PODS
from ..client.shared import SharedInformer
from ..client.urls import object_key
from ..events import EventRecorder
from ..machinery.meta import now_rfc3339, parse_time
from ..machinery.selectors import SelectorError, parse_label_selector
from ..machinery.types import Obj
from ..machinery.units import milli_quantity, parse_duration
from ..resources.info import ResourceInfo
from ..resources.registry import by_kind
from . import metrics, scaling
from .lifecycle import stop_controller
from .scaling import PodMetric, Recommender, ScalingError, Tuning
from .workqueue import WorkQueue

log = logging.getLogger(__name__)

METRICS_API = "/apis/metrics.k8s.io/v1beta1"


@dataclass(frozen=True)
class AutoscalerConfig:
    """kube-controller-manager's --horizontal-pod-autoscaler-* flags."""

    sync_period: float = 15.0
    downscale_stabilization: float = 300.0
    tolerance: float = 0.1
    cpu_initialization_period: float = 300.0
    initial_readiness_delay: float = 30.0


class MetricFailure(Exception):
    """One metric could not be computed: the ScalingActive condition it sets, and kube's error."""

    def __init__(self, reason: str, message: str, error: str, statuses: list[Obj] | None = None) -> None:
        super().__init__(error)
        self.reason, self.message = reason, message
        self.statuses = statuses  # what was measured before it failed (kube's status keeps it)


def set_condition(conditions: list[Obj], kind: str, status: str, reason: str, message: str, now: str) -> None:
    """kube's setCondition: in place; lastTransitionTime changes only with the status."""
    found = next((c for c in conditions if c.get("type") == kind), None)
    if found is None:
        found = {"type": kind}
        conditions.append(found)
    if found.get("status") != status:
        found["lastTransitionTime"] = now
    found.update(status=status, reason=reason, message=message)


class ScaleTargets:
    """What resource serves a scaleTargetRef's kind: the registry, else the API's discovery."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self._found: dict[tuple[str, str], ResourceInfo] = {}

    async def resolve(self, api_version: str, kind: str) -> ResourceInfo:
        info = by_kind(api_version, kind) or self._found.get((api_version, kind))
        if info is not None:
            return info
        group, _, version = api_version.rpartition("/")
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            listing = await self.client.request("GET", self.client.config.base_url + path)
        except NotFound:
            listing = {}
        for r in listing.get("resources") or []:
            if r.get("kind") == kind and "/" not in r.get("name", ""):
                info = ResourceInfo(group, version, r["name"], kind, r.get("singularName") or "", r.get("namespaced", True))
                self._found[(api_version, kind)] = info
                return info
        raise ScalingError(f'no matches for kind "{kind}" in group "{group}"')


class HorizontalController:
    def __init__(self, client: ApiClient, config: AutoscalerConfig | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.config = config or AutoscalerConfig()
        self.tuning = Tuning(self.config.tolerance, self.config.cpu_initialization_period,
                             self.config.initial_readiness_delay)
        self.clock = clock
        self.hpas = SharedInformer(client, HPAS)
        self.pods = SharedInformer(client, PODS)
        self.queue = WorkQueue("horizontalpodautoscaler", conflict_retry=1.0)
        self.recorder = EventRecorder(client, "horizontal-pod-autoscaler")
        self.targets = ScaleTargets(client)
        self.recommenders: dict[Hashable, Recommender] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.hpas.add_handlers(on_add=self._added, on_update=self._updated, on_delete=self._deleted)
        self.hpas.start()
        self.pods.start()
        self._task = asyncio.create_task(self._run(), name="horizontalpodautoscaler-controller")

    async def stop(self) -> None:
        await stop_controller(self.queue, self._task, (self.hpas, self.pods), self.recorder.in_flight())
        self._task = None

    async def _run(self) -> None:
        await self.hpas.wait_synced()
        await self.pods.wait_synced()
        await self.queue.run(self.sync, workers=2)

    # -- handlers: keys only -----------------------------------------------------------------

    def _added(self, hpa: Obj) -> None:
        self.queue.add(object_key(hpa))

    def _updated(self, old: Obj, new: Obj) -> None:
        # Our own status writes change nothing the sync reads; a new spec is looked at now.
        if (old.get("metadata") or {}).get("generation") != (new.get("metadata") or {}).get("generation"):
            self.queue.add(object_key(new))

    def _deleted(self, hpa: Obj) -> None:
        self.recommenders.pop(object_key(hpa), None)


    # -- sync ----------------------------------------------------------------------------------

    async def sync(self, key: Hashable) -> None:
        hpa = self.hpas.get(str(key))
        if hpa is None:
            self.recommenders.pop(key, None)
            return
        self.queue.add_after(key, self.config.sync_period)  # and again every period, whatever happens
        started = time.perf_counter()
        try:
            await self.reconcile(copy.deepcopy(hpa), key)
        finally:
            metrics.HPA_RECONCILE.observe(time.perf_counter() - started)

    async def reconcile(self, hpa: Obj, key: Hashable) -> None:
        now, stamp = self.clock(), now_rfc3339()
        spec, before = hpa.get("spec") or {}, copy.deepcopy(hpa.get("status") or {})
        status = hpa.setdefault("status", {})
        conditions: list[Obj] = status.setdefault("conditions", [])
        ref = spec.get("scaleTargetRef") or {}
        ns, target = hpa["metadata"].get("namespace", "default"), ref.get("name", "")
        reference = f"{ref.get('kind')}/{ns}/{target}"
        try:
            info = await self.targets.resolve(ref.get("apiVersion", ""), ref.get("kind", ""))
            scale = await self.client.request("GET", self.client.url(info, ns, target, "scale"))
        except (ScalingError, ApiError) as exc:
            self.recorder.emit(hpa, "Warning", "FailedGetScale", str(exc))
            set_condition(conditions, "AbleToScale", "False", "FailedGetScale",
                          f"the HPA controller was unable to get the target's current scale: {exc}", stamp)
            await self._write_status(hpa, before)
            return
        set_condition(conditions, "AbleToScale", "True", "SucceededGetScale",
                      "the HPA controller was able to get the target's current scale", stamp)
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        recommender = self.recommenders.setdefault(key, Recommender(self.config.downscale_stabilization))
        recommender.start(current, now)
        min_replicas = int(spec.get("minReplicas") or 1)
        max_replicas = int(spec.get("maxReplicas") or 0)
        statuses: list[Obj] | None = None
        reason = ""
        if current == 0 and min_replicas != 0:
            desired, rescale = 0, False
            set_condition(conditions, "ScalingActive", "False", "ScalingDisabled",
                          "scaling is disabled since the replica count of the target is zero", stamp)
        elif current > max_replicas:
            desired, rescale, reason = max_replicas, True, "Current number of replicas above Spec.MaxReplicas"
        elif current < min_replicas:
            desired, rescale, reason = min_replicas, True, "Current number of replicas below Spec.MinReplicas"
        else:
            try:
                proposal, metric_name, statuses = await self._compute(hpa, scale, conditions, now, stamp)
            except MetricFailure as exc:
                self._set_status(hpa, current, status.get("desiredReplicas") or 0, exc.statuses, rescaled=False)
                await self._write_status(hpa, before)
                self.recorder.emit(hpa, "Warning", "FailedComputeMetricsReplicas", str(exc))
                return
            reason = f"{metric_name} above target" if proposal > current else \
                "All metrics below target" if proposal < current else ""
            behavior = spec.get("behavior")
            decision = recommender.normalize_with_behavior(behavior, current, proposal, min_replicas, max_replicas,
                                                           now) if isinstance(behavior, dict) else \
                recommender.normalize(current, proposal, min_replicas, max_replicas, now)
            set_condition(conditions, "AbleToScale", decision.able.status, decision.able.reason,
                          decision.able.message, stamp)
            set_condition(conditions, "ScalingLimited", decision.limited.status, decision.limited.reason,
                          decision.limited.message, stamp)
            desired = decision.replicas
            rescale = desired != current
        if rescale:
            try:
                scale.setdefault("spec", {})["replicas"] = desired
                await self.client.request("PUT", self.client.url(info, ns, target, "scale"), body=scale)
            except ApiError as exc:
                self.recorder.emit(hpa, "Warning", "FailedRescale", f"New size: {desired}; reason: {reason}; error: {exc}")
                set_condition(conditions, "AbleToScale", "False", "FailedUpdateScale",
                              f"the HPA controller was unable to update the target scale: {exc}", stamp)
                self._set_status(hpa, current, status.get("desiredReplicas") or 0, statuses, rescaled=False)
                await self._write_status(hpa, before)
                return
            set_condition(conditions, "AbleToScale", "True", "SucceededRescale",
                          f"the HPA controller was able to update the target scale to {desired}", stamp)
            self.recorder.emit(hpa, "Normal", "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
            recommender.record_scale(spec.get("behavior") if isinstance(spec.get("behavior"), dict) else None,
                                     current, desired, now)
            log.info("autoscaler %s rescaled %s from %d to %d: %s", key, reference, current, desired, reason)
        else:
            desired = current
        self._set_status(hpa, current, desired, statuses, rescaled=rescale)
        await self._write_status(hpa, before)

    def _set_status(self, hpa: Obj, current: int, desired: int, statuses: list[Obj] | None,
                    rescaled: bool) -> None:
        old = hpa.get("status") or {}
        status: Obj = {"desiredReplicas": desired}
        if current:
            status["currentReplicas"] = current
        last = now_rfc3339() if rescaled else old.get("lastScaleTime")
        if last:
            status["lastScaleTime"] = last
        if statuses is not None:
            status["currentMetrics"] = statuses
        if old.get("conditions"):
            status["conditions"] = old["conditions"]
        hpa["status"] = status

    async def _write_status(self, hpa: Obj, before: Obj) -> None:
        if not hpa["status"].get("conditions"):
            hpa["status"].pop("conditions", None)
        if hpa["status"] == before:
            return
        try:
            await self.client.update_status(HPAS, hpa)
        except NotFound:
            pass

    # -- metrics ---------------------------------------------------------------------------------

    async def _compute(self, hpa: Obj, scale: Obj, conditions: list[Obj], now: float,
                       stamp: str) -> tuple[int, str, list[Obj]]:
        """The largest proposal of all metrics (computeReplicasForMetrics), their statuses."""
        selector_text = (scale.get("status") or {}).get("selector") or ""
        if not selector_text:
            self.recorder.emit(hpa, "Warning", "SelectorRequired", "selector is required")
            set_condition(conditions, "ScalingActive", "False", "InvalidSelector",
                          "the HPA target's scale is missing a selector", stamp)
            raise MetricFailure("InvalidSelector", "", "selector is required")
        try:
            selector = parse_label_selector(selector_text)
        except SelectorError as exc:
            message = f"couldn't convert selector into a corresponding internal selector object: {exc}"
            self.recorder.emit(hpa, "Warning", "InvalidSelector", message)
            set_condition(conditions, "ScalingActive", "False", "InvalidSelector", message, stamp)
            raise MetricFailure("InvalidSelector", message, message) from None
        ns = hpa["metadata"].get("namespace", "default")
        pods = [p for p in self.pods.list() if p["metadata"].get("namespace") == ns
                and selector.matches(p["metadata"].get("labels"))]
        spec_replicas = int((scale.get("spec") or {}).get("replicas") or 0)
        specs = [m for m in (hpa.get("spec") or {}).get("metrics") or [] if isinstance(m, dict)]
        statuses: list[Obj] = [{"type": ""} for _ in specs]
        replicas, name, failures = 0, "", []
        for i, spec in enumerate(specs):
            try:
                proposal, metric_name, statuses[i] = await self._one(spec, spec_replicas, ns, selector_text,
                                                                     pods, now)
            except MetricFailure as exc:
                self.recorder.emit(hpa, "Warning", exc.reason, str(exc))
                failures.append(exc)
                continue
            if replicas == 0 or proposal > replicas:
                replicas, name = proposal, metric_name
        if failures and (len(failures) >= len(specs) or replicas < spec_replicas):
            first = failures[0]
            set_condition(conditions, "ScalingActive", "False", first.reason,
                          f"the HPA was unable to compute the replica count: {first.message}", stamp)
            raise MetricFailure(first.reason, first.message, f"invalid metrics ({len(failures)} invalid out of "
                                f"{len(specs)}), first error is: {first}", statuses)
        set_condition(conditions, "ScalingActive", "True", "ValidMetricFound",
                      f"the HPA was able to successfully calculate a replica count from {name}", stamp)
        return replicas, name, statuses

    async def _one(self, spec: Obj, current: int, ns: str, selector: str, pods: list[Obj],
                   now: float) -> tuple[int, str, Obj]:
        kind = spec.get("type")
        if kind not in ("Resource", "ContainerResource"):
            field = {"Pods": "pods", "Object": "object", "External": "external"}.get(str(kind))
            if field is None:
                message = f'unknown metric source type "{kind}"'
                raise MetricFailure("InvalidMetricSourceType", message, message)
            metric = ((spec.get(field) or {}).get("metric") or {}).get("name", "")
            message = (f"unable to get metric {metric}: no {'external' if field == 'external' else 'custom'} "
                       "metrics API is served by this cluster")
            reason = {"pods": "FailedGetPodsMetric", "object": "FailedGetObjectMetric",
                      "external": "FailedGetExternalMetric"}[field]
            raise MetricFailure(reason, message, f"failed to get {field} metric value: {message}")
        field = "resource" if kind == "Resource" else "containerResource"
        source = spec.get(field) or {}
        resource, container = source.get("name", ""), source.get("container", "") if kind == "ContainerResource" else ""
        target = source.get("target") or {}
        reason = "FailedGetResourceMetric" if kind == "Resource" else "FailedGetContainerResourceMetric"
        what = f"{resource} {'container ' if container else ''}resource"
        try:
            measured = await self._pod_metrics(ns, selector, resource, container)
            if target.get("averageValue") is not None:
                goal = scaling.quantity_milli(target["averageValue"])
                if goal is None or goal <= 0:
                    raise ScalingError(f"invalid target averageValue {target['averageValue']!r}")
                replicas, usage = scaling.average_replicas(current, goal, measured, pods, resource, now, self.tuning)
                current_of: Obj = {"averageValue": milli_quantity(usage)}
                name = what
            elif target.get("averageUtilization") is not None:
                replicas, utilization, raw = scaling.resource_replicas(
                    current, int(target["averageUtilization"]), measured, pods, resource, now, self.tuning, container)
                current_of = {"averageValue": milli_quantity(raw), "averageUtilization": utilization}
                name = f"{what} utilization (percentage of request)"
            else:
                raise ScalingError(f"invalid {field} metric source: neither a utilization target nor a value "
                                   "target was set")
        except ScalingError as exc:
            message = f"failed to get {resource} utilization: {exc}"
            raise MetricFailure(reason, message, f"failed to get {resource} {field} metric value: {message}") from None
        status: Obj = {"type": kind, field: {"name": resource, "current": current_of}}
        if container:
            status[field]["container"] = container
        return replicas, name, status

    async def _pod_metrics(self, ns: str, selector: str, resource: str, container: str) -> dict[str, PodMetric]:
        """Per-pod usage of `resource` in milli-units (all containers summed, or the one named)."""
        try:
            listing = await self.client.request("GET", f"{self.client.config.base_url}{METRICS_API}/namespaces/{ns}/pods",
                                                params={"labelSelector": selector} if selector else None)
        except ApiError as exc:
            raise ScalingError(f"unable to get metrics for resource {resource}: unable to fetch metrics from "
                               f"resource metrics API: {exc}") from None
        items = listing.get("items") or []
        if not items:
            raise ScalingError(f"unable to get metrics for resource {resource}: no metrics returned from "
                               "resource metrics API")
        out = {}
        for item in items:
            values = [scaling.quantity_milli((c.get("usage") or {}).get(resource))
                      for c in item.get("containers") or [] if not container or c.get("name") == container]
            if not values or any(v is None for v in values):
                continue  # a pod without that resource (or container) measured counts as missing
            at = parse_time(item.get("timestamp"))
            out[item["metadata"]["name"]] = PodMetric(sum(v for v in values if v is not None),
                                                      at.timestamp() if at else 0.0,
                                                      _duration(item.get("window")))
        return out


def _duration(value: Any) -> float:
    try:
        return parse_duration(value) if isinstance(value, str) else 0.0
    except ValueError:
        return 0.0
