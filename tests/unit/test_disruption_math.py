"""PodDisruptionBudget arithmetic: how many must stay healthy, who is healthy, the condition."""

from __future__ import annotations

import datetime as dt

import pytest

from controlplane.machinery import disruption as pdb

NOW = dt.datetime(2026, 11, 27, 12, 0, 0, tzinfo=dt.timezone.utc)


def stamp(seconds_ago: float) -> str:
    return (NOW - dt.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str, ready: bool = True, deleting: bool = False) -> dict:
    md: dict = {"name": name}
    if deleting:
        md["deletionTimestamp"] = stamp(0)
    return {"metadata": md, "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


@pytest.mark.parametrize("spec, expected, desired", [
    ({"minAvailable": 2}, 5, 2),
    ({"minAvailable": "50%"}, 5, 3),      # 2.5 rounds up
    ({"minAvailable": "100%"}, 3, 3),
    ({"maxUnavailable": 1}, 5, 4),
    ({"maxUnavailable": "34%"}, 3, 1),    # 1.02 unavailable rounds up to 2
    ({"maxUnavailable": "100%"}, 3, 0),
    ({"maxUnavailable": 9}, 3, 0),        # never below zero
    ({}, 4, 0),
])
def test_desired_healthy_rounds_percentages_up(spec: dict, expected: int, desired: int) -> None:
    assert pdb.desired_healthy(spec, expected) == desired


def test_only_percentages_and_max_unavailable_need_the_controllers_scale() -> None:
    assert not pdb.needs_scale({"minAvailable": 2})
    assert pdb.needs_scale({"minAvailable": "20%"}) and pdb.needs_scale({"maxUnavailable": 0})


def test_healthy_pods_are_ready_not_deleting_and_not_just_evicted() -> None:
    pods = [pod("a"), pod("b", ready=False), pod("c", deleting=True), pod("d"), pod("e")]
    assert pdb.healthy(pods, {"d": stamp(5)}) == 2


def test_recorded_evictions_expire_once_shown_or_after_two_minutes() -> None:
    pods = [pod("shown", deleting=True), pod("fresh"), pod("stale"), pod("other")]
    kept, recheck = pdb.recent_disruptions(pods, {"shown": stamp(1), "fresh": stamp(30), "stale": stamp(121),
                                                  "gone": stamp(1)}, NOW)
    assert kept == {"fresh": stamp(30)}
    assert recheck == NOW + dt.timedelta(seconds=90)


def test_the_disruption_allowed_condition_keeps_its_transition_time() -> None:
    status: dict = {"disruptionsAllowed": 1}
    pdb.set_allowed_condition(status, 3, NOW)
    c, = status["conditions"]
    assert c == {"type": "DisruptionAllowed", "status": "True", "observedGeneration": 3,
                 "lastTransitionTime": stamp(0), "reason": "SufficientPods", "message": ""}
    later = NOW + dt.timedelta(seconds=30)
    pdb.set_allowed_condition(status, 3, later)
    assert status["conditions"][0]["lastTransitionTime"] == stamp(0)
    status["disruptionsAllowed"] = 0
    pdb.set_allowed_condition(status, 3, later)
    assert status["conditions"][0]["reason"] == "InsufficientPods"
    assert status["conditions"][0]["lastTransitionTime"] == "2026-11-27T12:00:30Z"
    pdb.set_allowed_condition(status, 4, later, reason="SyncFailed", message="found no controllers for pod \"x\"")
    c, = status["conditions"]
    assert (c["status"], c["reason"], c["observedGeneration"]) == ("False", "SyncFailed", 4)
