"""The scheduler's dry run over hand-made snapshots: replicas placed and pended, scales and
new templates of running workloads, DaemonSets by the node-eligibility rule, and what each
workload kind asks for."""

from __future__ import annotations

import random
from typing import Any

import pytest

from controlplane.resources.kinds.pod import POD
from controlplane.scheduler import DEFAULT_PROFILE, Snapshot, daemon, planner
from controlplane.scheduler.workloads import NotPlannable, replica_pod, workload

from .test_scheduler_plugins import make_node, make_pod

Obj = dict[str, Any]


def template(cpu: str = "100m", **spec: Any) -> Obj:
    return {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu}}}], **spec}}


def deployment(replicas: int, cpu: str = "100m", **spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": template(cpu, **spec)}}


def daemonset(**spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template(**spec)}}


def run(obj: Obj, s: Snapshot, replicas: int | None = None, existing: planner.Existing = planner.Existing(),
        owner: str | None = "uid-rs") -> Obj:
    w = workload(obj, "default", replicas)
    pod = replica_pod(w, owner)
    if w.daemon:
        daemon.add_tolerations(pod["spec"])
    POD.default(pod)
    return planner.plan(w, pod, s, DEFAULT_PROFILE, existing=existing, rng=random.Random(1), now="t")


def test_replicas_fill_the_nodes_then_the_rest_stays_pending_with_the_reason():
    s = Snapshot.build([make_node(n) for n in "abc"])
    r = run(deployment(8, cpu="1500m"), s)
    assert (r["desired"], r["toPlace"], r["placed"], r["pending"]) == (8, 8, 6, 2)
    assert r["nodes"] == [{"name": "a", "pods": 2}, {"name": "b", "pods": 2}, {"name": "c", "pods": 2}]
    assert r["unschedulable"]["message"] == "0/3 nodes are available: 3 Insufficient cpu."
    assert r["unschedulable"]["groups"][0]["failures"][0]["detail"] == "cpu: requests 1500m > free 1 of allocatable 4"
    assert r["message"] == ("6 of 8 new pod(s) placed; 2 stay Pending: 0/3 nodes are available: "
                            "3 Insufficient cpu.")
    # The snapshot keeps the placements: the next workload of a manifest sees them.
    assert sum(len(n.pods) for n in s.nodes.values()) == 6


def test_a_scale_keeps_the_running_pods_and_places_only_the_difference():
    running = [make_pod(f"web-{i}", cpu="1", node="a", owner="rs", labels={"app": "web"}) for i in range(2)]
    s = Snapshot.build([make_node("a"), make_node("b")], running)
    r = run(deployment(4, cpu="1"), s, existing=planner.Existing(tuple(running)))
    assert (r["existing"], r["toPlace"], r["placed"]) == (2, 2, 2)
    # Spread with the running replicas (same controller): both new ones go to b.
    assert r["nodes"] == [{"name": "b", "pods": 2}]
    # Scaled down: the surplus is removed, nothing placed.
    r = run(deployment(1, cpu="1"), Snapshot.build([make_node("a")], running), existing=planner.Existing(tuple(running)))
    assert (r["existing"], r["removed"], r["toPlace"]) == (1, 1, 0)


def test_a_new_template_replaces_the_pods_and_frees_their_room():
    running = [make_pod(f"web-{i}", cpu="2", node="a", owner="rs") for i in range(2)]  # node a is full
    s = Snapshot.build([make_node("a")], running)
    r = run(deployment(2, cpu="2"), s, existing=planner.Existing(tuple(running), template_changed=True))
    assert (r["existing"], r["replaced"], r["placed"], r["pending"]) == (0, 2, 2, 0)


def test_no_nodes_at_all():
    r = run(deployment(2), Snapshot())
    assert (r["placed"], r["pending"]) == (0, 2)
    assert r["unschedulable"]["message"] == "no nodes available to schedule pods"


def test_a_daemonset_goes_on_every_eligible_node_and_only_there():
    s = Snapshot.build([
        make_node("plain"), make_node("cordoned", unschedulable=True),  # daemon pods tolerate a cordon
        make_node("tainted", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
        make_node("full", cpu="50m"),
        make_node("other", labels={"role": "edge"})])
    r = run(daemonset(), s)
    assert r["notEligible"]["count"] == 1
    assert r["notEligible"]["groups"][0]["nodes"] == ["tainted"]
    assert r["notEligible"]["groups"][0]["failures"][0]["detail"] == "taint dedicated=gpu:NoSchedule not tolerated"
    assert sorted(n["name"] for n in r["nodes"]) == ["cordoned", "other", "plain"]
    assert (r["desired"], r["placed"], r["pending"]) == (4, 3, 1)
    (pending,) = r["unschedulable"]["groups"]
    assert pending["nodes"] == ["full"] and pending["failures"][0]["detail"] == \
        "cpu: requests 100m > allocatable 50m"
    # A selector narrows the eligible nodes; daemon pods already running stay.
    s = Snapshot.build([make_node("a", labels={"role": "edge"}), make_node("b", labels={"role": "edge"}),
                        make_node("c")],
                       [make_pod("agent-a", node="a", owner="ds")])
    existing = planner.Existing((make_pod("agent-a", node="a", owner="ds"),))
    r = run(daemonset(nodeSelector={"role": "edge"}), s, existing=existing)
    assert (r["desired"], r["existing"], r["placed"]) == (2, 1, 1) and r["nodes"] == [{"name": "b", "pods": 1}]
    assert r["notEligible"]["groups"][0]["failures"][0]["detail"] == "nodeSelector role=edge: label missing"


@pytest.mark.parametrize("obj, replicas, pods", [
    ({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
      "spec": {"parallelism": 5, "completions": 3, "template": template()}}, None, 3),
    ({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"template": template()}}, None, 1),
    ({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
      "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"parallelism": 2, "template": template()}}}}, None, 2),
    ({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"},
      "spec": {"replicas": 4, "template": template()}}, None, 4),
    ({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "r"},
      "spec": {"template": template()}}, 7, 7),
    ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
      "spec": template()["spec"]}, None, 1),
])
def test_what_each_kind_asks_for(obj, replicas, pods):
    w = workload(obj, "default", replicas)
    assert (w.replicas, w.daemon) == (pods, False)
    assert replica_pod(w, None)["spec"]["containers"][0]["name"] == "c"


@pytest.mark.parametrize("obj, replicas, field, message", [
    ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}, None, "kind", "v1 Service runs no pods"),
    ({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {}}, None,
     "spec.template", "Required value"),
    ({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d"}, "spec": {"template": template()}}, 3,
     "replicas", "a DaemonSet runs one pod on each eligible node"),
    ({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
      "spec": {"parallelism": -1, "template": template()}}, None, "spec.parallelism", "must be a non-negative integer"),
])
def test_what_cannot_be_planned_says_where(obj, replicas, field, message):
    with pytest.raises(NotPlannable) as caught:
        workload(obj, "default", replicas)
    assert caught.value.field == field and caught.value.message.startswith(message)
