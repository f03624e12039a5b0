"""The rollout arithmetic as a specification: surge/unavailable rounding, how far a rolling
update may go in one step, status conditions, scale-down order and revision history."""

from __future__ import annotations

import datetime as dt

import pytest

from controlplane.controllers.deployment import progress, util
from controlplane.machinery import rollout as rollback
from controlplane.controllers.deployment.recreate import old_pods_remaining
from controlplane.controllers.deployment.rolling import new_rs_target, old_rs_targets
from controlplane.controllers.replicaset import calculate_status, pods_to_delete, slow_start_batches

NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "web:1"}]}}


def deployment(replicas=10, surge="25%", unavailable="25%", generation=1, **spec) -> dict:
    return {"metadata": {"name": "web", "uid": "d-uid", "generation": generation},
            "spec": {"replicas": replicas, "progressDeadlineSeconds": 600,
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
                     "template": TEMPLATE, **spec}}


def rs(name, replicas, available=None, status_replicas=None, created="2026-01-01T00:00:00Z", rev=1, gen=1, observed=1):
    return {"metadata": {"name": name, "uid": f"{name}-uid", "creationTimestamp": created, "generation": gen,
                         "annotations": {util.REVISION: str(rev)}},
            "spec": {"replicas": replicas, "template": TEMPLATE},
            "status": {"replicas": replicas if status_replicas is None else status_replicas,
                       "availableReplicas": replicas if available is None else available,
                       "readyReplicas": replicas if available is None else available,
                       "observedGeneration": observed}}


@pytest.mark.parametrize("value,total,up,want", [
    ("25%", 10, True, 3), ("25%", 10, False, 2), ("25%", 3, True, 1), ("25%", 3, False, 0),
    (2, 10, True, 2), ("0%", 5, True, 0), ("100%", 7, False, 7), ("1", 4, False, 1), ("33%", 1, True, 1),
])
def test_int_or_percent_rounds_surge_up_and_unavailable_down(value, total, up, want):
    assert util.scaled_value(value, total, up) == want


def test_surge_and_unavailable_never_both_zero():
    assert util.surge_and_unavailable(deployment(3)) == (1, 0)
    assert util.surge_and_unavailable(deployment(3, surge=0, unavailable=0)) == (0, 1)
    assert util.surge_and_unavailable(deployment(10)) == (3, 2)
    assert util.surge_and_unavailable(deployment(1, surge="0%", unavailable="10%")) == (0, 1)


def test_new_rs_grows_within_the_surge_only():
    d = deployment(10)  # surge 3
    old, new = rs("old", 10), rs("new", 0, created="2026-01-02T00:00:00Z")
    assert new_rs_target(d, [old, new], new) == 3
    # The old RS's pods still count while they go away (status above spec).
    old_shrinking = rs("old", 8, status_replicas=10)
    assert new_rs_target(d, [old_shrinking, rs("new", 3)], rs("new", 3)) == 3
    assert new_rs_target(d, [rs("old", 5), rs("new", 5)], rs("new", 5)) == 8
    # Never beyond replicas, and a new RS left too big comes down to replicas.
    assert new_rs_target(d, [rs("old", 0), rs("new", 9)], rs("new", 9)) == 10
    assert new_rs_target(deployment(4), [rs("new", 10)], rs("new", 10)) == 4


def test_old_rs_shrinks_only_while_enough_stay_available():
    d = deployment(10)  # min available 8
    old = rs("old", 10)
    new = rs("new", 3, available=0, created="2026-01-02T00:00:00Z")
    # 13 pods, 10 available: two may go; the 3 unready new ones stop more.
    assert old_rs_targets(d, [old], new) == {"old": 8}
    new_ready = rs("new", 3, available=3, created="2026-01-02T00:00:00Z")
    assert old_rs_targets(d, [old], new_ready) == {"old": 5}
    assert old_rs_targets(d, [rs("old", 0)], new_ready) == {}


def test_unhealthy_old_pods_go_first_and_cost_no_availability():
    d = deployment(4, surge=1, unavailable=0)
    old = rs("old", 4, available=2)  # two of its pods are not ready
    new = rs("new", 1, available=1, created="2026-01-02T00:00:00Z")
    # Budget: 5 pods - 4 min available - 0 unavailable new = 1; spare available = 3-4 < 0.
    assert old_rs_targets(d, [old], new) == {"old": 3}


def test_oldest_old_rs_is_drained_first():
    d = deployment(6, surge=0, unavailable=2)
    a = rs("a", 3, created="2026-01-01T00:00:00Z")
    b = rs("b", 3, created="2026-01-01T01:00:00Z")
    new = rs("new", 0, created="2026-01-02T00:00:00Z")
    assert old_rs_targets(d, [b, a], new) == {"a": 1}


def test_template_hash_is_stable_and_ignores_key_order():
    other_order = {"spec": {"containers": [{"image": "web:1", "name": "c"}]}, "metadata": {"labels": {"app": "web"}}}
    assert util.template_hash(TEMPLATE) == util.template_hash(other_order)
    assert util.template_hash(TEMPLATE) != util.template_hash(TEMPLATE, collision_count=1)
    assert set(util.template_hash(TEMPLATE)) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_new_rs_is_the_one_whose_template_equals_ignoring_the_hash():
    d = deployment(3)
    hashed = rs("web-abc", 3)
    hashed["spec"]["template"] = {"metadata": {"labels": {"app": "web", util.HASH_LABEL: "abc"}},
                                  "spec": TEMPLATE["spec"]}
    other = rs("web-old", 0)
    other["spec"]["template"] = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}
    assert util.find_new_rs(d, [other, hashed]) is hashed


def test_status_and_conditions_as_rollout_status_reads_them():
    d = deployment(3, surge=1, unavailable=0)
    new = rs("new", 3, available=1)
    status = progress.rollout_status(d, new, [new], NOW)
    assert (status["observedGeneration"], status["replicas"], status["updatedReplicas"],
            status["availableReplicas"], status["unavailableReplicas"]) == (1, 3, 3, 1, 2)
    avail = util.get_condition(status, "Available")
    assert (avail["status"], avail["reason"]) == ("False", util.MIN_UNAVAILABLE)
    prog = util.get_condition(status, "Progressing")
    assert (prog["status"], prog["reason"], prog["message"]) == ("True", util.RS_UPDATED,
                                                                  'ReplicaSet "new" is progressing.')
    done = progress.rollout_status({**d, "status": status}, rs("new", 3), [rs("new", 3)], NOW)
    assert util.get_condition(done, "Available")["reason"] == util.MIN_AVAILABLE
    assert util.get_condition(done, "Progressing")["reason"] == util.NEW_RS_AVAILABLE
    assert util.get_condition(done, "Progressing")["lastTransitionTime"] == prog["lastTransitionTime"]


def test_no_progress_past_the_deadline_times_out():
    d = deployment(3, surge=1, unavailable=0, progressDeadlineSeconds=10)
    stuck = rs("new", 3, available=1)
    earlier = NOW - dt.timedelta(seconds=30)
    d["status"] = progress.rollout_status(d, stuck, [stuck], earlier)
    assert progress.requeue_after(d, d["status"], earlier) == pytest.approx(11.0)
    later = progress.rollout_status(d, stuck, [stuck], NOW)
    prog = util.get_condition(later, "Progressing")
    assert (prog["status"], prog["reason"]) == ("False", util.TIMED_OUT)
    assert prog["message"] == 'ReplicaSet "new" has timed out progressing.'


def test_paused_and_resumed_conditions():
    d = deployment(3, paused=True)
    status: dict = {}
    progress.paused_condition(d, status, NOW)
    assert util.get_condition(status, "Progressing")["reason"] == util.PAUSED
    d["spec"]["paused"] = False
    progress.paused_condition(d, status, NOW)
    assert util.get_condition(status, "Progressing")["reason"] == util.RESUMED


def test_set_condition_keeps_transition_time_when_status_is_unchanged():
    status: dict = {}
    util.set_condition(status, util.new_condition("Available", "True", "A", "m", NOW))
    util.set_condition(status, util.new_condition("Available", "True", "B", "m", NOW + dt.timedelta(seconds=5)))
    cond = util.get_condition(status, "Available")
    assert cond["reason"] == "B" and cond["lastTransitionTime"] == util.fmt_time(NOW)


def pod(name, node="n1", phase="Running", ready=True, since="2026-01-01T11:00:00Z", created="2026-01-01T10:00:00Z"):
    return {"metadata": {"name": name, "uid": name, "creationTimestamp": created, "labels": {"app": "web"}},
            "spec": {"nodeName": node} if node else {},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                                       "lastTransitionTime": since}]}}


def test_scale_down_order_unscheduled_pending_not_ready_then_newest():
    pods = [pod("old-ready"), pod("new-ready", created="2026-01-01T10:30:00Z"),
            pod("not-ready", ready=False), pod("pending", phase="Pending", ready=False),
            pod("unscheduled", node=None, phase="Pending", ready=False)]
    order = [p["metadata"]["name"] for p in pods_to_delete(pods, 5)]
    assert order == ["unscheduled", "pending", "not-ready", "new-ready", "old-ready"]


def test_slow_start_batches_double():
    assert slow_start_batches(10) == [1, 2, 4, 3]
    assert slow_start_batches(1) == [1]
    assert slow_start_batches(0) == []


def test_replicaset_availability_honours_min_ready_seconds():
    r = {"metadata": {"generation": 2}, "spec": {"minReadySeconds": 60, "template": TEMPLATE}, "status": {}}
    pods = [pod("a", since="2026-01-01T11:00:00Z"), pod("b", since="2026-01-01T11:59:30Z"), pod("c", ready=False)]
    status = calculate_status(r, pods, NOW, observed=True)
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"],
            status["fullyLabeledReplicas"], status["observedGeneration"]) == (3, 2, 1, 3, 2)
    assert "observedGeneration" not in calculate_status(r, pods, NOW, observed=False)


def test_recreate_waits_for_every_old_pod():
    old = rs("old", 0, status_replicas=0)
    assert not old_pods_remaining([old], {})
    assert old_pods_remaining([old], {"old-uid": [pod("x")]})
    assert not old_pods_remaining([old], {"old-uid": [pod("x", phase="Succeeded")]})


def test_rollback_picks_the_previous_revision_and_strips_the_hash():
    r1, r2, r3 = rs("a", 0, rev=1), rs("b", 0, rev=2), rs("c", 3, rev=3)
    r2["spec"]["template"] = {"metadata": {"labels": {"app": "web", util.HASH_LABEL: "x"}}, "spec": {}}
    assert rollback.rollback_target("web", [r3, r1, r2]) == (2, r2)
    assert rollback.rollback_target("web", [r3, r1, r2], 1) == (1, r1)
    with pytest.raises(rollback.RollbackError, match="unable to find specified revision 7"):
        rollback.rollback_target("web", [r1, r2], 7)
    with pytest.raises(rollback.RollbackError, match='no rollout history found for deployment "web"'):
        rollback.rollback_target("web", [r1])
    d = deployment(3)
    d["metadata"]["annotations"] = {util.REVISION: "3", "team": "a"}
    patch = rollback.rollback_patch(d, r2)
    assert patch[0]["value"]["metadata"]["labels"] == {"app": "web"}
    assert patch[1]["value"] == {util.REVISION: "3"}


def sized(name, replicas, max_replicas, desired, created):
    r = rs(name, replicas, created=created)
    r["metadata"]["annotations"].update({util.MAX_REPLICAS: str(max_replicas), util.DESIRED_REPLICAS: str(desired)})
    return r


def test_resizing_mid_rollout_is_proportional_with_the_leftover_to_the_largest():
    old = sized("old", 5, 13, 10, "2026-01-01T00:00:00Z")
    new = sized("new", 8, 13, 10, "2026-01-02T00:00:00Z")
    up = deployment(20)  # surge 5: 25 allowed
    assert util.is_scaling_event(up, [old, new])
    assert util.proportional_targets(up, [old, new]) == {"new": 16, "old": 9}
    down = deployment(5)  # surge 2: 7 allowed
    assert util.proportional_targets(down, [old, new]) == {"new": 4, "old": 3}
    assert util.proportional_targets(deployment(0), [old, new]) == {"new": 0, "old": 0}
    assert not util.is_scaling_event(deployment(10), [old, new])
