"""The HorizontalPodAutoscaler's arithmetic, as kube's (pkg/controller/podautoscaler): pure.

* `resource_replicas` / `average_replicas`: a replica count from per-pod metric values
  (replica_calculator.go): desired = ceil(current ratio x pods measured), nothing within the
  tolerance (10%), pods grouped first: deleted and failed pods are ignored; pending pods, and
  for CPU pods not ready or measured too soon after becoming ready (within the CPU
  initialization period), are unready; pods without metrics are missing. On a scale-up
  unready and missing pods count as using nothing, on a scale-down missing ones as using
  their whole request (or the target, when it is above 100%); a result that would reverse
  the direction is dropped.
* `Recommender`: what follows from a proposal (horizontal.go): stabilization over past
  recommendations (the legacy 5-minute scale-down window, or `behavior`'s windows), then the
  rate limits (legacy: at most max(2 x current, 4); `behavior`: Pods / Percent policies per
  periodSeconds, selectPolicy Max / Min / Disabled), then min/max replicas, with the reason
  and message kube sets on the AbleToScale and ScalingLimited conditions.

Every time is passed in (`now`, seconds), so tests drive a fake clock. Metric values are
milli-units, as kube's: CPU in millicores, memory in milli-bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from ..machinery.meta import parse_time
from ..machinery.types import Obj
from ..resources.validation import parse_quantity


class ScalingError(Exception):
    """A replica count cannot be computed; the message is kube's."""


@dataclass(frozen=True)
class PodMetric:
    value: int  # milli-units
    timestamp: float = 0.0  # end of the window (seconds since the epoch)
    window: float = 0.0  # seconds


@dataclass(frozen=True)
class Tuning:
    tolerance: float = 0.1
    cpu_initialization_period: float = 300.0
    initial_readiness_delay: float = 30.0


# -- grouping pods -------------------------------------------------------------------------------

def _epoch(value: Any) -> float | None:
    at = parse_time(value) if isinstance(value, str) else None
    return at.timestamp() if at is not None else None


def _ready(pod: Obj) -> Obj | None:
    return next((c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)


def group_pods(pods: list[Obj], metrics: dict[str, PodMetric], resource: str, now: float,
               tuning: Tuning) -> tuple[int, set[str], set[str], set[str]]:
    """(ready pods counted, unready pods, pods missing metrics, ignored pods), as groupPods."""
    ready, unready, missing, ignored = 0, set(), set(), set()
    for pod in pods:
        name, status = pod["metadata"]["name"], pod.get("status") or {}
        phase = status.get("phase")
        if pod["metadata"].get("deletionTimestamp") or phase == "Failed":
            ignored.add(name)
            continue
        if phase == "Pending":
            unready.add(name)
            continue
        metric = metrics.get(name)
        if metric is None:
            missing.add(name)
            continue
        if resource == "cpu":
            condition, started = _ready(pod), _epoch(status.get("startTime"))
            if condition is None or started is None:
                not_ready = True
            else:
                changed = _epoch(condition.get("lastTransitionTime")) or 0.0
                if started + tuning.cpu_initialization_period > now:
                    # Still starting: a sample must be a whole window after it became ready.
                    not_ready = condition.get("status") == "False" or metric.timestamp < changed + metric.window
                else:  # unready, and never ready since it started
                    not_ready = condition.get("status") == "False" and started + tuning.initial_readiness_delay > changed
            if not_ready:
                unready.add(name)
                continue
        ready += 1
    return ready, unready, missing, ignored


def quantity_milli(value: Any) -> int | None:
    """A quantity's MilliValue() (rounded up, as Go's); None when malformed or absent."""
    q = parse_quantity(value)
    return None if q is None else math.ceil(q * 1000)


def pod_requests(pods: list[Obj], resource: str, container: str = "") -> dict[str, int]:
    """Milli-value requests of `resource` per pod (of one container, when named); ScalingError
    when a container has none (utilization is a share of the request)."""
    out = {}
    for pod in pods:
        spec = pod.get("spec") or {}
        containers = list(spec.get("containers") or []) + [
            c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]  # sidecars
        total = 0
        for c in containers:
            if container and c.get("name") != container:
                continue
            request = quantity_milli(((c.get("resources") or {}).get("requests") or {}).get(resource))
            if request is None:
                raise ScalingError(f"missing request for {resource} in container {c.get('name')} of Pod "
                                   f"{pod['metadata']['name']}")
            total += request
        out[pod["metadata"]["name"]] = total
    return out


# -- ratios ------------------------------------------------------------------------------------

def utilization_ratio(metrics: dict[str, PodMetric], requests: dict[str, int],
                      target: int) -> tuple[float, int, int]:
    """(usage / target, utilization %, average raw milli-value), as GetResourceUtilizationRatio."""
    used = requested = entries = 0
    for name, metric in metrics.items():
        if name in requests:
            used += metric.value
            requested += requests[name]
            entries += 1
    if requested == 0:
        raise ScalingError("no metrics returned matched known pods")
    utilization = used * 100 // requested
    return utilization / target, utilization, used // entries


def usage_ratio(metrics: dict[str, PodMetric], target: int) -> tuple[float, int]:
    """(average / target, average milli-value), as GetMetricUsageRatio."""
    average = sum(m.value for m in metrics.values()) // len(metrics)
    return average / target, average


def _within(ratio: float, tuning: Tuning) -> bool:
    return abs(1.0 - ratio) <= tuning.tolerance


def _reversed(before: float, after: float) -> bool:
    return (before < 1.0 < after) or (before > 1.0 > after)


def _measured(pods: list[Obj], metrics: dict[str, PodMetric], resource: str, now: float,
              tuning: Tuning) -> tuple[dict[str, PodMetric], int, set[str], set[str]]:
    """The metrics that count, and (ready count, unready pods, missing pods)."""
    if not pods:
        raise ScalingError("no pods returned by selector while calculating replica count")
    metrics = dict(metrics)
    ready, unready, missing, ignored = group_pods(pods, metrics, resource, now, tuning)
    for name in ignored | unready:
        metrics.pop(name, None)
    if not metrics:
        raise ScalingError("did not receive metrics for targeted pods (pods might be unready)")
    return metrics, ready, unready, missing


def _replicas(current: int, ratio: float, ready: int, metrics: dict[str, PodMetric], unready: set[str],
              missing: set[str], tuning: Tuning, ratio_of: Callable[[dict[str, PodMetric]], float],
              missing_use: Callable[[str], int]) -> int:
    """The proposal from a usage ratio, once unready and missing pods are accounted for as kube does:
    on a scale-up they use nothing, on a scale-down the missing use `missing_use(pod)`; a result
    that would reverse the direction keeps `current`."""
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        return current if _within(ratio, tuning) else math.ceil(ratio * ready)
    for name in missing:
        metrics[name] = PodMetric(missing_use(name) if ratio < 1.0 else 0)
    if scale_up_with_unready:
        for name in unready:
            metrics[name] = PodMetric(0)
    new_ratio = ratio_of(metrics)
    if _within(new_ratio, tuning) or _reversed(ratio, new_ratio):
        return current
    replicas = math.ceil(new_ratio * len(metrics))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current
    return replicas


def resource_replicas(current: int, target_utilization: int, metrics: dict[str, PodMetric], pods: list[Obj],
                      resource: str, now: float, tuning: Tuning = Tuning(),
                      container: str = "") -> tuple[int, int, int]:
    """(replicas, utilization %, average raw milli-value) for a Utilization target."""
    metrics, ready, unready, missing = _measured(pods, metrics, resource, now, tuning)
    requests = pod_requests(pods, resource, container)
    ratio, utilization, raw = utilization_ratio(metrics, requests, target_utilization)
    fallback = max(100, target_utilization)  # a missing pod on a scale-down: its request, or the target
    replicas = _replicas(current, ratio, ready, metrics, unready, missing, tuning,
                         lambda m: utilization_ratio(m, requests, target_utilization)[0],
                         lambda name: requests.get(name, 0) * fallback // 100)
    return replicas, utilization, raw


def average_replicas(current: int, target: int, metrics: dict[str, PodMetric], pods: list[Obj], resource: str,
                     now: float, tuning: Tuning = Tuning()) -> tuple[int, int]:
    """(replicas, average milli-value) for an AverageValue target (calcPlainMetricReplicas)."""
    metrics, ready, unready, missing = _measured(pods, metrics, resource, now, tuning)
    ratio, usage = usage_ratio(metrics, target)
    replicas = _replicas(current, ratio, ready, metrics, unready, missing, tuning,
                         lambda m: usage_ratio(m, target)[0], lambda name: target)
    return replicas, usage


# -- from a proposal to a decision --------------------------------------------------------------

SCALE_UP_LIMIT_FACTOR, SCALE_UP_LIMIT_MINIMUM = 2.0, 4.0


@dataclass(frozen=True)
class Condition:
    status: str
    reason: str
    message: str


@dataclass(frozen=True)
class Decision:
    replicas: int
    able: Condition  # AbleToScale
    limited: Condition  # ScalingLimited


@dataclass
class Recommender:
    """One autoscaler's recent recommendations and scale events (kept in memory, as kube's)."""

    downscale_window: float = 300.0
    recommendations: list[tuple[int, float]] = field(default_factory=list)
    scale_up_events: list[tuple[int, float]] = field(default_factory=list)
    scale_down_events: list[tuple[int, float]] = field(default_factory=list)

    def start(self, current: int, now: float) -> None:
        if not self.recommendations:
            self.recommendations.append((current, now))

    # -- without behavior --

    def normalize(self, current: int, desired: int, min_replicas: int, max_replicas: int, now: float) -> Decision:
        stabilized = desired
        cutoff = now - self.downscale_window
        kept = [(r, t) for r, t in self.recommendations if t >= cutoff]
        for r, _ in kept:
            stabilized = max(stabilized, r)
        self.recommendations = kept + [(desired, now)]
        able = Condition("True", "ScaleDownStabilized", "recent recommendations were higher than current one, "
                         "applying the highest recent recommendation") if stabilized != desired else \
            Condition("True", "ReadyForNewScale", "recommended size matches current size")
        ceiling, reason, message = _ceiling(int(max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM)),
                                            max_replicas)
        if stabilized < min_replicas:
            replicas, reason, message = min_replicas, "TooFewReplicas", \
                "the desired replica count is less than the minimum replica count"
        elif stabilized > ceiling:
            replicas = ceiling
        else:
            replicas, reason, message = stabilized, "DesiredWithinRange", "the desired count is within the acceptable range"
        return Decision(replicas, able, Condition("False" if replicas == stabilized else "True", reason, message))

    # -- with behavior --

    def normalize_with_behavior(self, behavior: Obj, current: int, desired: int, min_replicas: int,
                                max_replicas: int, now: float) -> Decision:
        up, down = behavior.get("scaleUp") or {}, behavior.get("scaleDown") or {}
        up_window = float(up.get("stabilizationWindowSeconds") or 0)
        down_window = down.get("stabilizationWindowSeconds")
        down_window = self.downscale_window if down_window is None else float(down_window)
        stabilized, reason, message = self._stabilize(current, desired, up_window, down_window, now)
        able = Condition("True", reason, message) if stabilized != desired else \
            Condition("True", "ReadyForNewScale", "recommended size matches current size")
        replicas, reason, message = self._limit(up, down, current, stabilized, min_replicas, max_replicas, now)
        return Decision(replicas, able, Condition("False" if replicas == stabilized else "True", reason, message))

    def _stabilize(self, current: int, desired: int, up_window: float, down_window: float,
                   now: float) -> tuple[int, str, str]:
        up_cut, down_cut = now - up_window, now - down_window
        up_rec, down_rec = desired, desired
        for r, t in self.recommendations:
            if t > up_cut:
                up_rec = min(up_rec, r)
            if t > down_cut:
                down_rec = max(down_rec, r)
        recommendation = current
        if recommendation < up_rec:  # between the lowest recent up and the highest recent down
            recommendation = up_rec
        if recommendation > down_rec:
            recommendation = down_rec
        oldest = now - max(up_window, down_window)
        self.recommendations = [(r, t) for r, t in self.recommendations if t >= oldest] + [(desired, now)]
        if desired >= current:
            return recommendation, "ScaleUpStabilized", ("recent recommendations were lower than current one, "
                                                         "applying the lowest recent recommendation")
        return recommendation, "ScaleDownStabilized", ("recent recommendations were higher than current one, "
                                                       "applying the highest recent recommendation")

    def _limit(self, up: Obj, down: Obj, current: int, desired: int, min_replicas: int, max_replicas: int,
               now: float) -> tuple[int, str, str]:
        if desired > current:
            ceiling, reason, message = _ceiling(max(_scale_up_limit(current, self.scale_up_events, up, now), current),
                                                max_replicas)
            if desired > ceiling:
                return ceiling, reason, message
        elif desired < current:
            limit = min(_scale_down_limit(current, self.scale_down_events, down, now), current)
            if min_replicas < limit:
                floor, reason, message = limit, "ScaleDownLimit", \
                    "the desired replica count is decreasing faster than the maximum scale rate"
            else:
                floor, reason, message = min_replicas, "TooFewReplicas", \
                    "the desired replica count is less than the minimum replica count"
            if desired < floor:
                return floor, reason, message
        return desired, "DesiredWithinRange", "the desired count is within the acceptable range"

    def record_scale(self, behavior: Obj | None, before: int, after: int, now: float) -> None:
        """A rescale happened: keep it for the rate limits of `behavior` (none without one)."""
        if behavior is None or after == before:
            return
        rules = (behavior.get("scaleUp") if after > before else behavior.get("scaleDown")) or {}
        longest = max((int(p.get("periodSeconds") or 0) for p in rules.get("policies") or []), default=0)
        events = self.scale_up_events if after > before else self.scale_down_events
        events[:] = [(n, t) for n, t in events if t >= now - longest] + [(abs(after - before), now)]


def _ceiling(limit: int, max_replicas: int) -> tuple[int, str, str]:
    """The most replicas a scale-up may reach, and why (the rate limit, or maxReplicas)."""
    if max_replicas > limit:
        return limit, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
    return max_replicas, "TooManyReplicas", "the desired replica count is more than the maximum replica count"


def _changed_within(period: float, events: list[tuple[int, float]], now: float) -> int:
    return sum(n for n, t in events if t > now - period)


def _scale_up_limit(current: int, events: list[tuple[int, float]], rules: Obj, now: float) -> int:
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    best: int | None = None
    for policy in rules.get("policies") or []:
        start = current - _changed_within(float(policy.get("periodSeconds") or 0), events, now)
        value = int(policy.get("value") or 0)
        proposed = start + value if policy.get("type") == "Pods" else math.ceil(start * (1 + value / 100))
        best = proposed if best is None else (min if select == "Min" else max)(best, proposed)
    return current if best is None else best


def _scale_down_limit(current: int, events: list[tuple[int, float]], rules: Obj, now: float) -> int:
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    best: int | None = None
    for policy in rules.get("policies") or []:
        start = current + _changed_within(float(policy.get("periodSeconds") or 0), events, now)
        value = int(policy.get("value") or 0)
        proposed = start - value if policy.get("type") == "Pods" else int(start * (1 - value / 100))
        best = proposed if best is None else (max if select == "Min" else min)(best, proposed)
    return current if best is None else best
