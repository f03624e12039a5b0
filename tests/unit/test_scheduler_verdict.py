"""The verdict on a pod that fits nowhere, over hand-made snapshots: every filter on every node,
nodes grouped, numbers, the smallest changes, the size bound; and the scores of a decision."""

from __future__ import annotations

import json
import random

import pytest

from controlplane.machinery import placement
from controlplane.scheduler import DEFAULT_PROFILE, PodInfo, Snapshot, schedule, verdict
from controlplane.scheduler.findings import amount

from .test_scheduler_plugins import make_node, make_pod

GiB = 2**30


def explain(pod: dict, s: Snapshot) -> dict:
    return verdict.explain(PodInfo.from_pod(pod), s, DEFAULT_PROFILE, now="2026-01-01T00:00:00Z")


def failures(group: dict) -> list[tuple[str, str, str | None]]:
    return [(f["filter"], f["detail"], f.get("fix")) for f in group["failures"]]


@pytest.mark.parametrize("resource, value, text", [
    ("memory", int(7.63 * GiB), "7.6Gi"), ("memory", 8 * GiB, "8Gi"), ("memory", 100 * 2**40, "100Ti"),
    ("memory", 512, "512"), ("cpu", 1500, "1500m"), ("cpu", 2000, "2"), ("pods", 110, "110"),
    ("ephemeral-storage", 3 * 2**20 + 1, "3Mi"), ("nvidia.com/gpu", 2, "2")])
def test_amounts_read_as_people_write_them_rounded_down(resource, value, text):
    assert amount(resource, value) == text


def test_every_failing_filter_is_reported_not_only_the_first():
    s = Snapshot.build([make_node("a"), make_node("b")])
    pod = make_pod("big", memory="100Ti", node_selector={"disk": "ssd"})
    decision = schedule(PodInfo.from_pod(pod), s, DEFAULT_PROFILE)
    # The FitError histogram stops at the first failure on each node ...
    assert decision.message == "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."
    # ... the verdict does not.
    record = explain(pod, s)
    assert (record["result"], record["nodes"]) == (placement.UNSCHEDULABLE, 2)
    (group,) = record["groups"]
    assert (group["count"], group["nodes"]) == (2, ["a", "b"])
    assert failures(group) == [
        ("NodeAffinity", "nodeSelector disk=ssd: label missing", "drop nodeSelector disk=ssd"),
        ("NodeResourcesFit", "memory: requests 100Ti > allocatable 8Gi", "lower the memory request to 8Gi (from 100Ti)")]
    assert record["suggestions"] == [
        {"changes": ["drop nodeSelector disk=ssd", "lower the memory request to 8Gi (from 100Ti)"], "nodes": 2}]


def test_free_amounts_are_a_range_over_the_group_and_the_fix_the_most_that_fits():
    used = {"a": "7Gi", "b": "6Gi", "c": "5Gi"}
    s = Snapshot.build([make_node(n) for n in used], [make_pod(f"x-{n}", memory=m, node=n) for n, m in used.items()])
    record = explain(make_pod("p", memory="4Gi"), s)
    (group,) = record["groups"]
    assert failures(group) == [("NodeResourcesFit", "memory: requests 4Gi > free 1Gi–3Gi of allocatable 8Gi",
                                "lower the memory request to 3Gi (from 4Gi)")]
    # Lowered to 3Gi it fits where 3Gi are free: one node.
    assert record["suggestions"] == [{"changes": ["lower the memory request to 3Gi (from 4Gi)"], "nodes": 1}]


def test_nodes_that_differ_only_in_a_label_value_group_together():
    s = Snapshot.build([make_node(f"n{i}", labels={"zone": z}) for i, z in enumerate("abcdab")])
    record = explain(make_pod("p", node_selector={"zone": "x"}), s)
    (group,) = record["groups"]
    assert group["count"] == 6
    assert failures(group) == [("NodeAffinity", "nodeSelector zone=x: node has zone=a, b, c, ...",
                                "drop nodeSelector zone=x")]


def test_fewest_changes_first_and_nodes_no_pod_change_opens_are_left_out():
    s = Snapshot.build([
        make_node("cordoned", labels={"disk": "ssd"}, unschedulable=True),
        make_node("gpu", labels={"disk": "ssd"}, taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
        make_node("plain-1"), make_node("plain-2")])
    record = explain(make_pod("p", node_selector={"disk": "ssd"}), s)
    by_node = {tuple(g["nodes"]): failures(g) for g in record["groups"]}
    assert by_node == {
        ("plain-1", "plain-2"): [("NodeAffinity", "nodeSelector disk=ssd: label missing", "drop nodeSelector disk=ssd")],
        ("cordoned",): [("NodeUnschedulable", "node is cordoned (spec.unschedulable)", None)],
        ("gpu",): [("TaintToleration", "taint dedicated=gpu:NoSchedule not tolerated",
                    "add a toleration for dedicated=gpu:NoSchedule")]}
    assert record["suggestions"] == [{"changes": ["drop nodeSelector disk=ssd"], "nodes": 2},
                                     {"changes": ["add a toleration for dedicated=gpu:NoSchedule"], "nodes": 1}]


def test_each_filter_names_what_it_found():
    s = Snapshot.build([make_node("busy", pods="1"), make_node("down", ready="False"),
                        make_node("ports", labels={"zone": "z"})],
                       [make_pod("x", node="busy", labels={"app": "db"}), make_pod("y", node="ports", host_port=8080)])
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    record = explain(make_pod("p", host_port=8080, affinity=anti, labels={"app": "db"}), s)
    by_node = {g["nodes"][0]: failures(g) for g in record["groups"]}
    assert by_node["busy"] == [
        ("NodeResourcesFit", "pods: 1 of 1 in use", None),
        ("InterPodAffinity", "required anti-affinity (topologyKey kubernetes.io/hostname): a matching pod already "
                             "runs in this node's domain", "relax the required pod anti-affinity")]
    assert by_node["down"] == [("NodeReady", "node is NotReady (Ready=False)", None)]
    assert by_node["ports"] == [("NodePorts", "hostPort 8080/TCP already in use", "use another hostPort than 8080/TCP")]


def test_required_node_affinity_names_the_unmet_requirement():
    s = Snapshot.build([make_node("a", labels={"zone": "c"}), make_node("b")])
    one = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}}
    by_node = {g["nodes"][0]: failures(g) for g in explain(make_pod("p", affinity=one), s)["groups"]}
    assert by_node == {
        "a": [("NodeAffinity", "required node affinity: zone In [a, b]: node has zone=c", "relax the required node affinity")],
        "b": [("NodeAffinity", "required node affinity: zone In [a, b]: label missing", "relax the required node affinity")]}
    two = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["x"]}]}]}}}
    (group,) = explain(make_pod("p", affinity=two), s)["groups"]
    assert failures(group) == [("NodeAffinity", "required node affinity: term 1: zone In [a] not met; "
                                                "term 2: metadata.name In [x] not met", "relax the required node affinity")]
    bad = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "Near", "values": ["a"]}]}]}}}
    (group,) = explain(make_pod("p", affinity=bad), s)["groups"]
    assert failures(group)[0][1] == "required node affinity cannot be used: unsupported node selector operator 'Near'"


def test_the_record_stays_small_however_big_the_cluster():
    # 2,000 nodes, each with a taint of its own: 2,000 distinct verdicts.
    s = Snapshot.build([make_node(f"node-{i:04}", taints=[{"key": f"team-{i}", "effect": "NoSchedule"}])
                        for i in range(2000)])
    record = explain(make_pod("p"), s)
    assert len(placement.encode(record)) <= verdict.MAX_BYTES
    assert len(record["groups"]) <= verdict.MAX_GROUPS
    assert sum(g["count"] for g in record["groups"]) + record["omitted"]["nodes"] == 2000
    # Identical nodes are one group, named by its first few.
    s = Snapshot.build([make_node(f"node-{i:04}", memory="7.6Gi") for i in range(500)])
    record = explain(make_pod("p", memory="100Ti"), s)
    (group,) = record["groups"]
    assert group["count"] == 500 and len(group["nodes"]) == verdict.MAX_NAMES
    assert failures(group)[0][1] == "memory: requests 100Ti > allocatable 7.6Gi"


def test_the_signature_moves_with_the_verdict_not_with_free_amounts():
    s = Snapshot.build([make_node("a"), make_node("b")], [make_pod("x", memory="5Gi", node="a")])
    pod = make_pod("p", memory="9Gi")
    first = explain(pod, s)
    s.add_pod(PodInfo.from_pod(make_pod("y", memory="1Gi", node="b")))  # less free on b: same verdict
    assert explain(pod, s)["signature"] == first["signature"]
    s.set_node(make_node("c", labels={"disk": "ssd"}))  # a new node: a new verdict
    assert explain(pod, s)["signature"] != first["signature"]


def test_a_decision_keeps_the_scores_of_the_chosen_node_and_the_runners_up():
    s = Snapshot.build([make_node(n) for n in "abcd"], [make_pod("x", cpu="3", node="a", owner="rs")])
    d = schedule(PodInfo.from_pod(make_pod("p", cpu="500m", owner="rs")), s, DEFAULT_PROFILE, random.Random(1))
    record = verdict.scheduled(d, now="t")
    assert (record["node"], record["nodes"], record["feasible"]) == (d.node, 4, 4)
    scores = record["scores"]
    assert [sc["node"] for sc in scores][0] == d.node and len(scores) == 3 and "a" not in [sc["node"] for sc in scores]
    assert scores[0]["total"] >= scores[1]["total"] >= scores[2]["total"]
    for sc in scores:
        assert abs(sum(sc["plugins"].values()) - sc["total"]) <= len(sc["plugins"])  # rounded parts
    # The only node that fits needs no scores.
    s = Snapshot.build([make_node("a"), make_node("b", unschedulable=True)])
    d = schedule(PodInfo.from_pod(make_pod("p")), s, DEFAULT_PROFILE)
    assert (d.node, d.feasible, d.scores) == ("a", 1, ())


def test_a_record_round_trips_through_the_annotation():
    record = explain(make_pod("p", memory="100Ti"), Snapshot.build([make_node("a")]))
    pod = {"metadata": {"annotations": {placement.ANNOTATION: placement.encode(record)}}}
    assert placement.read(pod) == record
    for junk in ("{", "[]", json.dumps({"version": 99, "result": "Scheduled"}), json.dumps({"version": 1})):
        assert placement.read({"metadata": {"annotations": {placement.ANNOTATION: junk}}}) is None
    assert placement.read({"metadata": {}}) is None
