"""The DaemonSet controller's decisions, as pure functions of a snapshot: where its pods belong,
what each node needs, one step of a rolling update, the status."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from controlplane.machinery.daemonpods import DAEMON_TOLERATIONS, daemon_tolerations
from controlplane.controllers.daemonset import (NodeFit, calculate_status,
                                                plan_node, plan_rolling, pod_for_node, pod_template,
                                                surge_and_unavailable, target_node)
from controlplane.machinery import history

NOW = dt.datetime(2026, 11, 26, 22, 0, 0, tzinfo=dt.timezone.utc)
HASH = "new"


def node(name: str, labels: dict | None = None, taints: list | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": taints or []}}


def ds(strategy: dict | None = None, min_ready: int = 0, **pod_spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "agent", "namespace": "kube-system", "uid": "ds-uid", "generation": 4,
                         "annotations": {"deprecated.daemonset.template.generation": "2"}},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "minReadySeconds": min_ready,
                     "updateStrategy": strategy or {"type": "RollingUpdate",
                                                    "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                     "template": {"metadata": {"labels": {"app": "agent"}},
                                  "spec": {"containers": [{"name": "c", "image": "a"}], **pod_spec}}}}


def pod(name: str, on: str, hash_: str = HASH, ready: bool = True, since: int = 600, created: int = 0,
        deleting: bool = False, phase: str = "Running", bound: bool = True) -> dict[str, Any]:
    stamp = (NOW - dt.timedelta(seconds=since)).strftime("%Y-%m-%dT%H:%M:%SZ")
    md: dict[str, Any] = {"name": name, "uid": name, "labels": {history.REVISION_HASH: hash_},
                          "creationTimestamp": f"2026-11-26T20:{created:02d}:00Z"}
    if deleting:
        md["deletionTimestamp"] = "2026-11-26T21:59:00Z"
    spec: dict[str, Any] = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [on]}]}]}}}}
    if bound:
        spec["nodeName"] = on
    return {"metadata": md, "spec": spec, "status": {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": stamp}]}}


# -- where its pods belong ---------------------------------------------------------------------

def test_node_selector_affinity_and_taints() -> None:
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}}
    fit = NodeFit(ds(nodeSelector={"role": "edge"}, affinity=affinity))
    assert fit(node("n", {"role": "edge", "zone": "a"})) == (True, True)
    assert fit(node("n", {"role": "edge", "zone": "c"})) == (False, False)
    assert fit(node("n", {"zone": "a"})) == (False, False)
    # A NoSchedule taint it does not tolerate: no new pod, but the one there may stay.
    edge = {"role": "edge", "zone": "a"}
    assert fit(node("n", edge, [{"key": "gpu", "effect": "NoSchedule"}])) == (False, True)
    assert fit(node("n", edge, [{"key": "gpu", "effect": "NoExecute"}])) == (False, False)
    assert fit(node("n", edge, [{"key": "gpu", "effect": "PreferNoSchedule"}])) == (True, True)
    # Node problems and cordons never keep a daemon pod out.
    for key, effect in (("not-ready", "NoExecute"), ("unreachable", "NoExecute"), ("unschedulable", "NoSchedule"),
                        ("disk-pressure", "NoSchedule"), ("memory-pressure", "NoSchedule"),
                        ("pid-pressure", "NoSchedule")):
        assert fit(node("n", edge, [{"key": f"node.kubernetes.io/{key}", "effect": effect}])) == (True, True)
    assert fit(node("n", edge, [{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}])) == \
        (False, True)  # only host-network pods tolerate that one
    assert NodeFit(ds(hostNetwork=True))(
        node("n", {}, [{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}])) == (True, True)
    assert NodeFit(ds(nodeName="n2"))(node("n1")) == (False, False)
    assert NodeFit(ds(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "x", "operator": "Near"}]}]}}}))(node("n")) == \
        (False, False)  # an unparsable affinity fits nowhere


def test_daemon_tolerations_are_added_once_and_replace_a_same_key_one() -> None:
    mine = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
            "tolerationSeconds": 300}
    other = {"key": "dedicated", "operator": "Equal", "value": "x", "effect": "NoSchedule"}
    got = daemon_tolerations({"tolerations": [mine, other]})
    assert got[1] == other and len(got) == len(DAEMON_TOLERATIONS) + 1
    assert {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"} in got
    assert daemon_tolerations({"tolerations": got}) == got  # idempotent


def test_pods_are_pinned_to_their_node_by_a_node_name_affinity() -> None:
    d = ds(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}})
    made = pod_for_node(d, pod_template(d, "h1", "2"), "node-7")
    assert made["metadata"]["generateName"] == "agent-"
    assert made["metadata"]["labels"] == {"app": "agent", history.REVISION_HASH: "h1", "pod-template-generation": "2"}
    assert made["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
    terms = made["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms == {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                                             "values": ["node-7"]}]}]}
    assert "nodeName" not in made["spec"]  # the scheduler binds it
    assert target_node(made) == "node-7"
    assert d["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] \
        ["nodeSelectorTerms"][0]["matchExpressions"]  # the DaemonSet itself is left alone


# -- what a node needs -----------------------------------------------------------------------

def test_plan_node() -> None:
    assert plan_node(True, True, None, HASH, False, 0, NOW).create
    assert not plan_node(False, True, None, HASH, False, 0, NOW).create
    p = [pod("a", "n", created=1), pod("b", "n", created=2)]
    assert [x["metadata"]["name"] for x in plan_node(True, True, p, HASH, False, 0, NOW).delete] == ["b"]
    assert [x["metadata"]["name"] for x in plan_node(False, False, p, HASH, False, 0, NOW).delete] == ["a", "b"]
    failed = plan_node(True, True, [pod("f", "n", phase="Failed")], HASH, False, 0, NOW)
    assert not failed.create and [x["metadata"]["name"] for x in failed.failed] == ["f"]
    # A node whose pod is terminating gets its new one only once that one is gone...
    assert not plan_node(True, True, [pod("t", "n", deleting=True)], HASH, False, 0, NOW).create
    # ...unless surging, when it needs a live pod now.
    assert plan_node(True, True, [pod("t", "n", deleting=True)], HASH, True, 0, NOW).create
    # Surging: the old pod stays while the new one is not available; then it goes.
    both = [pod("old", "n", hash_="prev", created=1), pod("fresh", "n", ready=False, created=2)]
    assert plan_node(True, True, both, HASH, True, 0, NOW).delete == ()
    both[1] = pod("fresh", "n", created=2)
    assert [x["metadata"]["name"] for x in plan_node(True, True, both, HASH, True, 0, NOW).delete] == ["old"]


# -- rolling updates -------------------------------------------------------------------------

def _names(pods: list[dict]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


def test_rolling_update_without_surge_stays_within_max_unavailable() -> None:
    by_node = {f"n{i}": [pod(f"p{i}", f"n{i}", hash_="prev")] for i in range(5)}
    delete, create = plan_rolling(by_node, set(by_node), lambda n: True, HASH, None, 0, 2, 0, NOW)
    assert (len(delete), create) == (2, [])
    # One node is already down (its new pod not ready): only one more may go.
    by_node["n0"] = [pod("p0", "n0", ready=False)]
    delete, _ = plan_rolling(by_node, set(by_node), lambda n: True, HASH, None, 0, 2, 0, NOW)
    assert len(delete) == 1
    # An old pod that is not available anyway is replaced at once, whatever the budget.
    by_node["n1"] = [pod("p1", "n1", hash_="prev", ready=False)]
    delete, _ = plan_rolling(by_node, set(by_node), lambda n: True, HASH, None, 0, 2, 0, NOW)
    assert _names(delete) == ["p1"]
    # A node that should run one and has none counts as unavailable too.
    delete, _ = plan_rolling({"n0": []}, {"n0", "n1"}, lambda n: True, HASH, None, 0, 1, 0, NOW)
    assert delete == []
    # minReadySeconds: ready for 10 s of 30 is not yet available.
    recent = {"n0": [pod("p0", "n0", since=10)], "n1": [pod("p1", "n1", hash_="prev")]}
    assert plan_rolling(recent, set(recent), lambda n: True, HASH, None, 0, 1, 30, NOW)[0] == []
    assert _names(plan_rolling(recent, set(recent), lambda n: True, HASH, None, 0, 1, 5, NOW)[0]) == ["p1"]


def test_rolling_update_with_surge_starts_new_pods_beside_old_ones() -> None:
    by_node = {f"n{i}": [pod(f"p{i}", f"n{i}", hash_="prev")] for i in range(4)}
    delete, create = plan_rolling(by_node, set(by_node), lambda n: True, HASH, None, 2, 0, 0, NOW)
    assert (delete, create) == ([], ["n0", "n1"])
    by_node["n0"].append(pod("q0", "n0", ready=False, created=5))  # surging, not available yet
    by_node["n1"].append(pod("q1", "n1", created=5))                # surged and available: the old one goes
    delete, create = plan_rolling(by_node, set(by_node), lambda n: True, HASH, None, 2, 0, 0, NOW)
    assert (_names(delete), create) == (["p1"], ["n2"])  # one surge in flight (n0): room for one more
    # An unavailable old pod gets its replacement at once.
    by_node["n2"] = [pod("p2", "n2", hash_="prev", ready=False)]
    assert "n2" in plan_rolling(by_node, set(by_node), lambda n: True, HASH, None, 2, 0, 0, NOW)[1]


@pytest.mark.parametrize("rolling, desired, want", [
    ({"maxUnavailable": 1, "maxSurge": 0}, 10, (0, 1)),
    ({"maxUnavailable": "25%", "maxSurge": 0}, 10, (0, 3)),  # rounded up
    ({"maxUnavailable": 0, "maxSurge": "10%"}, 10, (1, 0)),
    ({"maxUnavailable": 0, "maxSurge": 0}, 10, (0, 1)),        # never both zero
    ({"maxUnavailable": "10%", "maxSurge": 0}, 0, (0, 0)),
])
def test_surge_and_unavailable(rolling: dict, desired: int, want: tuple[int, int]) -> None:
    assert surge_and_unavailable(ds({"type": "RollingUpdate", "rollingUpdate": rolling}), desired) == want
    assert surge_and_unavailable(ds({"type": "OnDelete"}), desired) == (0, 0)


def test_status() -> None:
    fits = {"a": (True, True), "b": (True, True), "c": (True, True), "d": (False, False), "e": (False, True)}
    by_node = {"a": [pod("pa", "a")], "b": [pod("pb", "b", hash_="prev")], "c": [pod("pc", "c", ready=False)],
               "d": [pod("pd", "d")]}
    st = calculate_status(ds(min_ready=0), fits, by_node, HASH, None, NOW, observed=True)
    assert st == {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberMisscheduled": 1,
                  "numberReady": 2, "updatedNumberScheduled": 2, "numberAvailable": 2, "numberUnavailable": 1,
                  "observedGeneration": 4}
    # The old template generation label counts as updated too (pods of older controllers).
    gen = pod("pb", "b", hash_="prev")
    gen["metadata"]["labels"]["pod-template-generation"] = "2"
    st = calculate_status(ds(), {"b": (True, True)}, {"b": [gen]}, HASH, "2", NOW, observed=False)
    assert st["updatedNumberScheduled"] == 1 and "observedGeneration" not in st
    empty = calculate_status(ds(), {}, {}, HASH, None, NOW, observed=True)
    assert "numberAvailable" not in empty and empty["desiredNumberScheduled"] == 0
