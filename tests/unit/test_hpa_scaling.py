"""The HorizontalPodAutoscaler's arithmetic (controllers/scaling.py), with a fake clock: the cases
kube's replica_calculator_test.go and horizontal_test.go pin down."""

from __future__ import annotations

import pytest

from controlplane.controllers.scaling import (PodMetric, Recommender, ScalingError, Tuning, average_replicas,
                                              group_pods, pod_requests, resource_replicas)

NOW = 1_000_000.0
LONG_AGO = "1970-01-12T00:00:00Z"  # far before NOW: past every initialization period


def stamp(t: float) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str, cpu: str | None = "100m", *, phase: str = "Running", ready: bool = True,
        started: str = LONG_AGO, ready_since: str = LONG_AGO, deleting: bool = False, containers: int = 1) -> dict:
    resources = {"requests": {"cpu": cpu}} if cpu else {}
    p = {"metadata": {"name": name}, "spec": {"containers": [
            {"name": f"c{i}", "resources": resources} for i in range(containers)]},
         "status": {"phase": phase, "startTime": started,
                    "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                    "lastTransitionTime": ready_since}]}}
    if deleting:
        p["metadata"]["deletionTimestamp"] = stamp(NOW)
    return p


def used(**millis: int) -> dict[str, PodMetric]:
    return {name: PodMetric(value, NOW, 15.0) for name, value in millis.items()}


# -- replica counts ----------------------------------------------------------------------------

def test_scale_up_is_ceil_of_the_usage_ratio_times_the_pods():
    pods = [pod("a"), pod("b"), pod("c")]
    # 3 pods at 90% of a 100m request, target 50%: ceil(1.8 * 3) = 6
    assert resource_replicas(3, 50, used(a=90, b=90, c=90), pods, "cpu", NOW) == (6, 90, 90)


def test_no_change_within_the_tolerance():
    pods = [pod("a"), pod("b")]
    assert resource_replicas(2, 50, used(a=54, b=54), pods, "cpu", NOW)[0] == 2  # 1.08: within 10%
    assert resource_replicas(2, 50, used(a=56, b=56), pods, "cpu", NOW)[0] == 3  # 1.12: out of it


def test_scale_down():
    pods = [pod(n) for n in "abcd"]
    assert resource_replicas(4, 50, used(a=10, b=10, c=10, d=10), pods, "cpu", NOW)[0] == 1


def test_missing_pods_count_as_their_whole_request_on_a_scale_down():
    pods = [pod("a"), pod("b"), pod("c")]
    # a and b at 10% (ratio 0.2): c unmeasured counts as 100%, so (10+10+100)/300 = 40% of 50 -> 0.8 * 3
    assert resource_replicas(3, 50, used(a=10, b=10), pods, "cpu", NOW)[0] == 3
    assert resource_replicas(3, 90, used(a=10, b=10), pods, "cpu", NOW)[0] == 2  # 0.44 * 3 = 1.33 -> 2


def test_missing_pods_count_as_nothing_on_a_scale_up():
    pods = [pod("a"), pod("b"), pod("c"), pod("d")]
    # a, b at 100% (ratio 2): c, d missing count 0 -> 50% average: ratio 1.0, within the tolerance
    assert resource_replicas(4, 50, used(a=100, b=100), pods, "cpu", NOW)[0] == 4
    # a, b at 200%: with c, d as 0 -> 100% = ratio 2 over 4 pods -> 8
    assert resource_replicas(4, 50, used(a=200, b=200), pods, "cpu", NOW)[0] == 8


def test_a_result_that_reverses_the_direction_is_dropped():
    pods = [pod("a"), pod("b"), pod("c")]
    # a at 60% (ratio 1.2, up), b, c missing -> 0: 20% average = a scale-down: keep 3
    assert resource_replicas(3, 50, used(a=60), pods, "cpu", NOW)[0] == 3


def test_unready_and_pending_pods_count_as_nothing_on_a_scale_up_and_are_left_out_otherwise():
    pods = [pod("a"), pod("b"), pod("c", ready=False), pod("d", phase="Pending")]
    metrics = used(a=100, b=100, c=500)
    # only a and b measured as ready: ratio 2; c and d count as 0 -> (200)/400 = 50% -> ratio 1: hold
    assert resource_replicas(4, 50, metrics, pods, "cpu", NOW)[0] == 4
    # below target, the unready are simply left out: a, b at 10% -> ceil(0.2 * 2) = 1
    assert resource_replicas(4, 50, used(a=10, b=10, c=500), pods, "cpu", NOW)[0] == 1


def test_deleted_and_failed_pods_are_ignored():
    pods = [pod("a"), pod("b", deleting=True), pod("c", phase="Failed")]
    assert resource_replicas(3, 50, used(a=100, b=1000, c=1000), pods, "cpu", NOW)[0] == 2


def test_cpu_samples_of_a_starting_pod_count_only_a_whole_window_after_it_became_ready():
    tuning = Tuning(cpu_initialization_period=300)
    fresh = pod("a", started=stamp(NOW - 60), ready_since=stamp(NOW - 10))
    # the 15 s window began before it was ready: unready, so nothing counted at all
    with pytest.raises(ScalingError, match="did not receive metrics for targeted pods"):
        resource_replicas(1, 50, {"a": PodMetric(200, NOW, 15.0)}, [fresh], "cpu", NOW, tuning)
    ready, unready, _, _ = group_pods([fresh], {"a": PodMetric(200, NOW + 10, 15.0)}, "cpu", NOW + 10, tuning)
    assert (ready, unready) == (1, set())  # a window after readiness: counted
    # memory has no initialization period
    assert group_pods([fresh], {"a": PodMetric(200, NOW, 15.0)}, "memory", NOW, tuning)[0] == 1


def test_a_pod_unready_since_its_start_is_left_out_after_the_initialization_period():
    never = pod("a", ready=False, started=stamp(NOW - 1000), ready_since=stamp(NOW - 990))
    later = pod("b", ready=False, started=stamp(NOW - 1000), ready_since=stamp(NOW - 100))
    _, unready, _, _ = group_pods([never, later], used(a=1, b=1), "cpu", NOW, Tuning())
    assert unready == {"a"}  # b was ready once, then became unready: its samples count


def test_requests_and_their_absence():
    assert pod_requests([pod("a", "250m", containers=2)], "cpu") == {"a": 500}
    assert pod_requests([pod("a", "250m", containers=2)], "cpu", container="c1") == {"a": 250}
    with pytest.raises(ScalingError, match="missing request for cpu in container c0 of Pod a"):
        pod_requests([pod("a", None)], "cpu")


def test_no_pods_is_an_error():
    with pytest.raises(ScalingError, match="no pods returned by selector"):
        resource_replicas(1, 50, used(a=1), [], "cpu", NOW)


def test_average_value_targets():
    pods = [pod("a"), pod("b")]
    # 300m average against 100m: ceil(3 * 2) = 6
    assert average_replicas(2, 100, used(a=300, b=300), pods, "cpu", NOW) == (6, 300)
    # memory in milli-bytes: 2 pods at 64Mi against 128Mi -> 1
    mib = 1024 * 1024 * 1000
    assert average_replicas(2, 128 * mib, used(a=64 * mib, b=64 * mib), pods, "memory", NOW)[0] == 1
    # a missing pod counts as the target on a scale-down
    assert average_replicas(2, 100, used(a=20), pods, "cpu", NOW)[0] == 2


# -- stabilization and limits --------------------------------------------------------------------

def test_legacy_scale_down_takes_the_highest_recommendation_of_the_window():
    r = Recommender(downscale_window=300)
    r.start(5, NOW)
    d = r.normalize(5, 2, 1, 10, NOW + 10)
    assert d.replicas == 5 and d.able.reason == "ScaleDownStabilized"
    assert r.normalize(5, 2, 1, 10, NOW + 200).replicas == 5  # 5 still within 300 s
    d = r.normalize(5, 2, 1, 10, NOW + 400)  # the 5s are out of the window now
    assert d.replicas == 2 and d.able.reason == "ReadyForNewScale"
    assert (d.limited.status, d.limited.reason) == ("False", "DesiredWithinRange")


def test_legacy_scale_up_is_limited_to_twice_the_replicas_or_4():
    r = Recommender()
    d = r.normalize(1, 10, 1, 20, NOW)
    assert d.replicas == 4 and (d.limited.status, d.limited.reason) == ("True", "ScaleUpLimit")
    d = r.normalize(5, 50, 1, 20, NOW)
    assert d.replicas == 10 and d.limited.reason == "ScaleUpLimit"
    d = r.normalize(8, 50, 1, 12, NOW)
    assert d.replicas == 12 and d.limited.reason == "TooManyReplicas"
    d = Recommender().normalize(3, 0, 2, 10, NOW)
    assert d.replicas == 2 and d.limited.reason == "TooFewReplicas"


UP = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
      "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]}
DOWN = {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}


def behavior(up=None, down=None) -> dict:
    return {"scaleUp": {**UP, **(up or {})}, "scaleDown": {**DOWN, **(down or {})}}


def test_behavior_default_scale_down_window_is_the_controllers():
    r = Recommender(downscale_window=300)
    r.start(6, NOW)
    assert r.normalize_with_behavior(behavior(), 6, 1, 1, 10, NOW + 60).replicas == 6
    assert r.normalize_with_behavior(behavior(), 6, 1, 1, 10, NOW + 301).replicas == 1


def test_behavior_scale_down_window_and_scale_up_window():
    r = Recommender()
    r.start(6, NOW)
    b = behavior(down={"stabilizationWindowSeconds": 30})
    d = r.normalize_with_behavior(b, 6, 2, 1, 10, NOW + 10)
    assert d.replicas == 6 and d.able.reason == "ScaleDownStabilized"
    assert r.normalize_with_behavior(b, 6, 2, 1, 10, NOW + 41).replicas == 2
    # a scale-up window: the lowest recommendation of the last 60 s
    r = Recommender()
    r.start(2, NOW)
    b = behavior(up={"stabilizationWindowSeconds": 60})
    d = r.normalize_with_behavior(b, 2, 5, 1, 10, NOW + 10)
    assert d.replicas == 2 and d.able.reason == "ScaleUpStabilized"
    assert r.normalize_with_behavior(b, 2, 5, 1, 10, NOW + 71).replicas == 5


def test_behavior_policies_limit_the_change_per_period():
    b = behavior(up={"policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]})
    r = Recommender()
    d = r.normalize_with_behavior(b, 2, 10, 1, 20, NOW)
    assert d.replicas == 4 and d.limited.reason == "ScaleUpLimit"
    r.record_scale(b, 2, 4, NOW)
    # within the same 60 s the 2 pods already added count: no more
    assert r.normalize_with_behavior(b, 4, 10, 1, 20, NOW + 30).replicas == 4
    assert r.normalize_with_behavior(b, 4, 10, 1, 20, NOW + 61).replicas == 6


def test_behavior_select_policy_min_and_disabled():
    pods_or_percent = [{"type": "Pods", "value": 1, "periodSeconds": 15},
                       {"type": "Percent", "value": 100, "periodSeconds": 15}]
    assert Recommender().normalize_with_behavior(
        behavior(up={"policies": pods_or_percent}), 4, 20, 1, 20, NOW).replicas == 8  # Max: +100%
    assert Recommender().normalize_with_behavior(
        behavior(up={"policies": pods_or_percent, "selectPolicy": "Min"}), 4, 20, 1, 20, NOW).replicas == 5
    d = Recommender().normalize_with_behavior(behavior(down={"selectPolicy": "Disabled"}), 4, 1, 1, 20, NOW)
    assert d.replicas == 4 and d.limited.reason == "ScaleDownLimit"


def test_behavior_percent_scale_down_rounds_the_floor_down():
    b = behavior(down={"stabilizationWindowSeconds": 0,
                       "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}]})
    r = Recommender()
    d = r.normalize_with_behavior(b, 5, 1, 1, 10, NOW)
    assert d.replicas == 2  # int(5 * 0.5)
    r.record_scale(b, 5, 2, NOW)
    assert r.normalize_with_behavior(b, 2, 1, 1, 10, NOW + 10).replicas == 2  # 3 removed this period
    assert r.normalize_with_behavior(b, 2, 1, 1, 10, NOW + 61).replicas == 1


def test_behavior_min_and_max_replicas_win():
    d = Recommender().normalize_with_behavior(behavior(), 3, 40, 1, 5, NOW)
    assert d.replicas == 5 and d.limited.reason == "TooManyReplicas"
    d = Recommender().normalize_with_behavior(behavior(down={"stabilizationWindowSeconds": 0}), 3, 0, 2, 5, NOW)
    assert d.replicas == 2 and d.limited.reason == "TooFewReplicas"
