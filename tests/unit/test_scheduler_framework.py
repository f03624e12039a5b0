"""Quantities, the snapshot's accounting, `schedule` end to end over the default profile, and
the FailedScheduling message."""

from __future__ import annotations

import random

import pytest

from controlplane.scheduler import DEFAULT_PROFILE, PodInfo, Snapshot, schedule
from controlplane.scheduler.explain import fit_error_message
from controlplane.scheduler.framework import Code, FilterPlugin, Profile, Status, unresolvable, unschedulable
from controlplane.scheduler.snapshot import cpu_millis, quantity_value

from .test_scheduler_plugins import make_node, make_pod


@pytest.mark.parametrize("q, milli", [("100m", 100), ("1", 1000), ("0.5", 500), ("2", 2000), (1, 1000),
                                      ("1e3", 1_000_000), ("1.0001", 1001), ("1n", 1), ("", 0)])
def test_cpu_quantities_in_millicores_rounded_up(q, milli):
    assert cpu_millis(q) == milli


@pytest.mark.parametrize("q, value", [("128Mi", 128 * 2**20), ("1G", 10**9), ("1Gi", 2**30), ("1e3", 1000),
                                      ("1.5Ki", 1536), ("100", 100), ("1k", 1000), ("500m", 1), ("x", 0)])
def test_quantities_as_integers_rounded_up(q, value):
    assert quantity_value(q) == value


def test_snapshot_accounts_pods_and_forgets_assumed_ones():
    s = Snapshot.build([make_node("a")], [make_pod("x", cpu="1", memory="1Gi", node="a", host_port=80)])
    a = s.nodes["a"]
    assert (a.requested["cpu"], a.requested["memory"], len(a.pods)) == (1000, 2**30, 1)
    p = PodInfo.from_pod(make_pod("y", cpu="500m", owner="rs"))
    s.assume(p, "a")
    assert a.requested["cpu"] == 1500 and a.workloads["uid:uid-rs"] == 1 and "default/y" in s.assumed
    s.forget("default/y")
    assert a.requested["cpu"] == 1000 and a.workloads["uid:uid-rs"] == 0 and "default/y" not in a.pods
    s.remove_pod("default/x")
    assert a.requested["cpu"] == 0 and a.used_port_any_ip[("TCP", 80)] == 0


def test_confirmed_binding_replaces_the_assumed_placement():
    s = Snapshot.build([make_node("a")])
    p = PodInfo.from_pod(make_pod("y", cpu="500m"))
    s.assume(p, "a")
    s.add_pod(PodInfo.from_pod(make_pod("y", cpu="500m", node="a")))
    assert s.nodes["a"].requested["cpu"] == 500 and not s.assumed
    s.forget("default/y")  # a late failure report must not undo a confirmed binding
    assert s.nodes["a"].requested["cpu"] == 500


def test_pods_on_unknown_nodes_are_kept_but_not_schedulable_targets():
    s = Snapshot.build([make_node("a")], [make_pod("x", node="ghost")])
    assert [n.name for n in s.node_list()] == ["a"]
    s.set_node(make_node("ghost"))
    assert [n.name for n in s.node_list()] == ["a", "ghost"] and len(s.nodes["ghost"].pods) == 1
    s.remove_node("ghost")
    assert [n.name for n in s.node_list()] == ["a"]
    s.remove_pod("default/x")
    assert "ghost" not in s.nodes


def test_node_changes_that_matter_are_reported():
    s = Snapshot()
    assert s.set_node(make_node("a"))
    heartbeat = make_node("a")
    heartbeat["status"]["conditions"][0]["lastHeartbeatTime"] = "2026-01-01T00:00:00Z"
    assert not s.set_node(heartbeat)
    assert s.set_node(make_node("a", labels={"disk": "ssd"}))


def test_a_batch_of_replicas_spreads_over_identical_nodes():
    s = Snapshot.build([make_node(n) for n in ("a", "b", "c")])
    rng = random.Random(1)
    placed = []
    for i in range(9):
        p = PodInfo.from_pod(make_pod(f"r{i}", cpu="100m", memory="64Mi", owner="rs"))
        d = schedule(p, s, DEFAULT_PROFILE, rng)
        s.assume(p, d.node)
        placed.append(d.node)
    assert sorted(placed.count(n) for n in "abc") == [3, 3, 3]


def test_assumed_pods_use_up_capacity_within_a_batch():
    s = Snapshot.build([make_node("a", memory="1Gi"), make_node("b", memory="1Gi")])
    results = []
    for i in range(3):
        p = PodInfo.from_pod(make_pod(f"p{i}", memory="768Mi"))
        d = schedule(p, s, DEFAULT_PROFILE)
        if d.node:
            s.assume(p, d.node)
        results.append(d)
    assert sorted(d.node for d in results[:2]) == ["a", "b"]
    assert results[2].node is None
    assert results[2].message == "0/2 nodes are available: 2 Insufficient memory."


def test_first_failing_filter_gives_the_nodes_reason():
    s = Snapshot.build([make_node("a", memory="1Gi", unschedulable=True), make_node("b", memory="1Gi"),
                        make_node("c", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])])
    d = schedule(PodInfo.from_pod(make_pod("p", memory="2Gi")), s, DEFAULT_PROFILE)
    assert d.node is None
    assert d.failures["a"].reasons == ("node(s) were unschedulable",)
    assert d.message == ("0/3 nodes are available: 1 Insufficient memory, "
                         "1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) were unschedulable.")


def test_a_pod_level_failure_fails_every_node():
    bad = FilterPlugin("Bad", lambda pod, snap: unresolvable("Bad", "pod spec is broken"))
    s = Snapshot.build([make_node("a"), make_node("b")])
    d = schedule(PodInfo.from_pod(make_pod("p")), s, Profile([bad], []))
    assert d.message == "0/2 nodes are available: 2 pod spec is broken."


def test_no_nodes_at_all():
    d = schedule(PodInfo.from_pod(make_pod("p")), Snapshot(), DEFAULT_PROFILE)
    assert d.node is None and d.message == "no nodes available to schedule pods"


def test_explain_counts_every_reason_and_sorts_like_kube():
    failures = [unschedulable("Fit", "Insufficient cpu", "Insufficient memory"),
                unschedulable("Fit", "Insufficient memory"),
                unresolvable("TaintToleration", "node(s) had untolerated taint {node.kubernetes.io/unreachable: }")]
    assert fit_error_message(3, failures) == (
        "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint "
        "{node.kubernetes.io/unreachable: }, 2 Insufficient memory.")


def test_status_codes():
    assert Status(Code.SUCCESS).ok and not unschedulable("x", "r").ok
    assert unresolvable("x", "r").code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE


def test_big_clusters_are_sampled_from_a_rotating_start():
    from controlplane.scheduler.framework import feasible_nodes_to_find

    assert feasible_nodes_to_find(50) == 50
    assert feasible_nodes_to_find(500) == 230  # 46 %
    assert feasible_nodes_to_find(5000) == 500  # 10 %
    assert feasible_nodes_to_find(100_000) == 5000  # never under 5 %
    s = Snapshot.build([make_node(f"n{i:03}") for i in range(500)])
    d = schedule(PodInfo.from_pod(make_pod("p")), s, DEFAULT_PROFILE, start=400)
    assert d.examined == 230 and d.node is not None
    names = [n.name for n in s.node_list()]
    assert d.node in names[400:] + names[:130]


def test_a_pod_that_fits_nowhere_examines_every_node():
    s = Snapshot.build([make_node(f"n{i:03}", memory="1Gi") for i in range(150)])
    d = schedule(PodInfo.from_pod(make_pod("p", memory="2Gi")), s, DEFAULT_PROFILE, start=77)
    assert d.examined == 150 and d.message == "0/150 nodes are available: 150 Insufficient memory."


def test_soft_taints_steer_the_choice():
    soft = {"key": "spot", "value": "true", "effect": "PreferNoSchedule"}
    s = Snapshot.build([make_node("spot", taints=[soft]), make_node("clean")])
    assert schedule(PodInfo.from_pod(make_pod("p")), s, DEFAULT_PROFILE).node == "clean"
