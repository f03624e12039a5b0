"""Each scheduler plugin on hand-made snapshots: what fits where, and the reason when not."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.scheduler.framework import Code, Status
from controlplane.scheduler.plugins import (least_allocated, node_affinity, node_affinity_preference, node_name,
                                            node_ports, node_ready, node_unschedulable, pod_anti_affinity,
                                            resources_fit, spread, taint_preference, taint_toleration)
from controlplane.scheduler.snapshot import PodInfo, Snapshot

Obj = dict[str, Any]


def make_node(name: str, *, cpu: str = "4", memory: str = "8Gi", pods: str = "110",
              labels: dict[str, str] | None = None, taints: list[Obj] | None = None,
              ready: str | None = "True", unschedulable: bool = False) -> Obj:
    spec: Obj = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    conditions = [{"type": "Ready", "status": ready}] if ready else []
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": spec,
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods}, "conditions": conditions}}


def make_pod(name: str, *, cpu: str | None = None, memory: str | None = None, node: str = "",
             labels: dict[str, str] | None = None, host_port: int | None = None, host_ip: str = "",
             tolerations: list[Obj] | None = None, node_selector: dict[str, str] | None = None,
             affinity: Obj | None = None, owner: str | None = None, namespace: str = "default") -> Obj:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container: Obj = {"name": "c", "image": "busybox", "resources": {"requests": requests} if requests else {}}
    if host_port:
        container["ports"] = [{"containerPort": 80, "hostPort": host_port,
                               **({"hostIP": host_ip} if host_ip else {})}]
    md: Obj = {"name": name, "namespace": namespace, "uid": f"uid-{name}", "labels": labels or {}}
    if owner:
        md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner,
                                  "uid": f"uid-{owner}", "controller": True}]
    spec: Obj = {"containers": [container], "schedulerName": "default-scheduler"}
    for key, value in (("nodeName", node), ("tolerations", tolerations), ("nodeSelector", node_selector),
                       ("affinity", affinity)):
        if value:
            spec[key] = value
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec}


def snap(*nodes: Obj, pods: tuple[Obj, ...] = ()) -> Snapshot:
    return Snapshot.build(nodes, pods)


def run_filter(plugin_module: Any, pod: Obj, snapshot: Snapshot) -> dict[str, Status | None]:
    """Each node's status from one filter plugin (None: fits)."""
    p = PodInfo.from_pod(pod)
    check = plugin_module.PLUGIN.prepare(p, snapshot)
    if isinstance(check, Status):
        return {n.name: check for n in snapshot.node_list()}
    return {n.name: (None if check is None else check(n)) for n in snapshot.node_list()}


def reasons(result: dict[str, Status | None]) -> dict[str, tuple[str, ...]]:
    return {name: (s.reasons if s else ()) for name, s in result.items()}


# ---- NodeUnschedulable / NodeReady / NodeName ---------------------------------------------

def test_cordoned_node_takes_no_new_pods_unless_tolerated():
    s = snap(make_node("a"), make_node("b", unschedulable=True))
    result = run_filter(node_unschedulable, make_pod("p"), s)
    assert result["a"] is None
    assert result["b"].code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert result["b"].reasons == ("node(s) were unschedulable",)
    tolerant = make_pod("p", tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                                           "effect": "NoSchedule"}])
    assert run_filter(node_unschedulable, tolerant, s)["b"] is None


def test_not_ready_nodes_read_as_their_kubernetes_taints():
    s = snap(make_node("ready"), make_node("down", ready="False"), make_node("lost", ready="Unknown"),
             make_node("new", ready=None))
    assert reasons(run_filter(node_ready, make_pod("p"), s)) == {
        "ready": (),
        "down": ("node(s) had untolerated taint {node.kubernetes.io/not-ready: }",),
        "lost": ("node(s) had untolerated taint {node.kubernetes.io/unreachable: }",),
        "new": ("node(s) had untolerated taint {node.kubernetes.io/unreachable: }",),
    }


def test_a_pod_tolerating_everything_fits_not_ready_nodes():
    s = snap(make_node("down", ready="False"))
    assert run_filter(node_ready, make_pod("p", tolerations=[{"operator": "Exists"}]), s)["down"] is None


def test_default_noexecute_tolerations_do_not_admit_to_not_ready_nodes():
    default = [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                "tolerationSeconds": 300}]
    s = snap(make_node("down", ready="False"))
    assert run_filter(node_ready, make_pod("p", tolerations=default), s)["down"] is not None


def test_node_name_pins_the_pod():
    s = snap(make_node("a"), make_node("b"))
    assert reasons(run_filter(node_name, make_pod("p", node="b"), s)) == {
        "a": ("node(s) didn't match the requested node name",), "b": ()}
    assert run_filter(node_name, make_pod("p"), s) == {"a": None, "b": None}


# ---- NodeResourcesFit -----------------------------------------------------------------------

def test_requests_must_fit_in_allocatable_minus_what_is_requested():
    s = snap(make_node("a", cpu="1", memory="1Gi"), make_node("b", cpu="2", memory="4Gi"),
             pods=(make_pod("old", cpu="500m", memory="512Mi", node="a"),))
    result = reasons(run_filter(resources_fit, make_pod("p", cpu="600m", memory="600Mi"), s))
    assert result == {"a": ("Insufficient cpu", "Insufficient memory"), "b": ()}


def test_exact_fit_fits():
    s = snap(make_node("a", cpu="1", memory="1Gi"), pods=(make_pod("old", cpu="250m", memory="0.5Gi", node="a"),))
    assert run_filter(resources_fit, make_pod("p", cpu="750m", memory="512Mi"), s)["a"] is None


def test_pod_count_is_a_resource():
    s = snap(make_node("a", pods="2"), pods=(make_pod("x", node="a"), make_pod("y", node="a")))
    assert reasons(run_filter(resources_fit, make_pod("p"), s)) == {"a": ("Too many pods",)}


def test_extended_resources_are_counted_by_name():
    node = make_node("a")
    node["status"]["allocatable"]["example.com/gpu"] = "1"
    pod = make_pod("p")
    pod["spec"]["containers"][0]["resources"] = {"limits": {"example.com/gpu": "2"}}
    assert reasons(run_filter(resources_fit, pod, snap(node))) == {"a": ("Insufficient example.com/gpu",)}


def test_init_containers_count_as_their_largest_and_overhead_adds():
    pod = make_pod("p", cpu="100m")
    pod["spec"]["initContainers"] = [{"name": "i", "resources": {"requests": {"cpu": "1500m"}}}]
    pod["spec"]["overhead"] = {"cpu": "250m"}
    assert PodInfo.from_pod(pod).cpu == 1750


# ---- NodeAffinity ---------------------------------------------------------------------------

def test_node_selector_needs_every_label():
    s = snap(make_node("a", labels={"disk": "ssd", "zone": "1"}), make_node("b", labels={"disk": "ssd"}))
    result = reasons(run_filter(node_affinity, make_pod("p", node_selector={"disk": "ssd", "zone": "1"}), s))
    assert result == {"a": (), "b": ("node(s) didn't match Pod's node affinity/selector",)}


def _required(*terms: Obj) -> Obj:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


@pytest.mark.parametrize("expr, fits", [
    ({"key": "zone", "operator": "In", "values": ["1", "2"]}, {"a", "b"}),
    ({"key": "zone", "operator": "NotIn", "values": ["1"]}, {"b", "c"}),
    ({"key": "zone", "operator": "Exists"}, {"a", "b"}),
    ({"key": "zone", "operator": "DoesNotExist"}, {"c"}),
    ({"key": "cores", "operator": "Gt", "values": ["4"]}, {"b"}),
    ({"key": "cores", "operator": "Lt", "values": ["8"]}, {"a"}),
])
def test_required_node_affinity_operators(expr, fits):
    s = snap(make_node("a", labels={"zone": "1", "cores": "4"}), make_node("b", labels={"zone": "2", "cores": "16"}),
             make_node("c"))
    result = run_filter(node_affinity, make_pod("p", affinity=_required({"matchExpressions": [expr]})), s)
    assert {name for name, st in result.items() if st is None} == fits


def test_node_affinity_terms_are_ored_and_match_fields_select_by_name():
    s = snap(make_node("a", labels={"zone": "1"}), make_node("b"), make_node("c"))
    affinity = _required({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["1"]}]},
                         {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["c"]}]})
    result = run_filter(node_affinity, make_pod("p", affinity=affinity), s)
    assert {name for name, st in result.items() if st is None} == {"a", "c"}


def test_an_empty_node_selector_term_matches_nothing():
    s = snap(make_node("a"))
    assert run_filter(node_affinity, make_pod("p", affinity=_required({})), s)["a"] is not None


# ---- TaintToleration ------------------------------------------------------------------------

def test_untolerated_noschedule_and_noexecute_taints_keep_pods_out():
    s = snap(make_node("gpu", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
             make_node("gone", taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]),
             make_node("soft", taints=[{"key": "x", "effect": "PreferNoSchedule"}]))
    assert reasons(run_filter(taint_toleration, make_pod("p"), s)) == {
        "gpu": ("node(s) had untolerated taint {dedicated: gpu}",),
        "gone": ("node(s) had untolerated taint {node.kubernetes.io/unreachable: }",),
        "soft": (),
    }


@pytest.mark.parametrize("toleration, ok", [
    ({"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}, True),
    ({"key": "dedicated", "value": "gpu"}, True),  # operator defaults to Equal, any effect
    ({"key": "dedicated", "operator": "Exists"}, True),
    ({"operator": "Exists"}, True),
    ({"key": "dedicated", "operator": "Equal", "value": "cpu"}, False),
    ({"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}, False),
    ({"key": "other", "operator": "Exists"}, False),
])
def test_toleration_matching(toleration, ok):
    s = snap(make_node("gpu", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]))
    assert (run_filter(taint_toleration, make_pod("p", tolerations=[toleration]), s)["gpu"] is None) == ok


# ---- NodePorts ------------------------------------------------------------------------------

def test_host_ports_conflict_per_node():
    s = snap(make_node("a"), make_node("b"), pods=(make_pod("web", host_port=8080, node="a"),))
    assert reasons(run_filter(node_ports, make_pod("p", host_port=8080), s)) == {
        "a": ("node(s) didn't have free ports for the requested pod ports",), "b": ()}
    assert run_filter(node_ports, make_pod("p", host_port=8081), s) == {"a": None, "b": None}


def test_specific_host_ips_share_a_port_but_the_wildcard_does_not():
    s = snap(make_node("a"), pods=(make_pod("web", host_port=80, host_ip="10.0.0.1", node="a"),))
    assert run_filter(node_ports, make_pod("p", host_port=80, host_ip="10.0.0.2"), s)["a"] is None
    assert run_filter(node_ports, make_pod("p", host_port=80, host_ip="10.0.0.1"), s)["a"] is not None
    assert run_filter(node_ports, make_pod("p", host_port=80), s)["a"] is not None


# ---- InterPodAffinity (required anti-affinity) ----------------------------------------------

def _anti(labels: dict[str, str], key: str = "kubernetes.io/hostname") -> Obj:
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": labels}, "topologyKey": key}]}}


def test_anti_affinity_keeps_replicas_off_nodes_with_a_matching_pod():
    s = snap(make_node("a"), make_node("b"),
             pods=(make_pod("web-1", labels={"app": "web"}, node="a"),
                   make_pod("other", labels={"app": "web"}, node="b", namespace="elsewhere")))
    result = reasons(run_filter(pod_anti_affinity, make_pod("web-2", labels={"app": "web"},
                                                            affinity=_anti({"app": "web"})), s))
    assert result == {"a": ("node(s) didn't match pod anti-affinity rules",), "b": ()}


def test_existing_pods_anti_affinity_is_respected():
    s = snap(make_node("a"), make_node("b"),
             pods=(make_pod("loner", labels={"app": "db"}, affinity=_anti({"app": "web"}), node="b"),))
    result = reasons(run_filter(pod_anti_affinity, make_pod("web", labels={"app": "web"}), s))
    assert result == {"a": (), "b": ("node(s) didn't satisfy existing pods anti-affinity rules",)}


def test_anti_affinity_by_zone_blocks_the_whole_zone():
    s = snap(make_node("a", labels={"zone": "1"}), make_node("b", labels={"zone": "1"}),
             make_node("c", labels={"zone": "2"}), pods=(make_pod("w1", labels={"app": "w"}, node="a"),))
    result = run_filter(pod_anti_affinity, make_pod("w2", labels={"app": "w"}, affinity=_anti({"app": "w"}, "zone")), s)
    assert {n for n, st in result.items() if st is None} == {"c"}


# ---- scores ---------------------------------------------------------------------------------

def _scores(plugin_module: Any, pod: Obj, s: Snapshot) -> dict[str, float]:
    fn = plugin_module.PLUGIN.prepare(PodInfo.from_pod(pod), s)
    nodes = s.node_list()
    raw = [fn(n) for n in nodes]
    if plugin_module.PLUGIN.normalize:
        raw = plugin_module.PLUGIN.normalize(raw)
    return {n.name: v for n, v in zip(nodes, raw)}


def test_least_allocated_prefers_the_emptier_node():
    s = snap(make_node("busy", cpu="2", memory="2Gi"), make_node("idle", cpu="2", memory="2Gi"),
             pods=(make_pod("x", cpu="1", memory="1Gi", node="busy"),))
    scores = _scores(least_allocated, make_pod("p", cpu="500m", memory="512Mi"), s)
    assert scores == {"busy": 25, "idle": 75}


def test_best_effort_pods_are_scored_with_default_requests():
    s = snap(make_node("a", cpu="1", memory="1Gi"), pods=(make_pod("x", node="a"),))
    # 100m + 100m of 1000m, 200Mi + 200Mi of 1024Mi
    assert _scores(least_allocated, make_pod("p"), s) == {"a": (80 + 60) // 2}


def test_spread_prefers_nodes_with_fewer_replicas_of_the_same_workload():
    s = snap(make_node("a"), make_node("b"), make_node("c"),
             pods=(make_pod("r1", owner="rs", node="a"), make_pod("r2", owner="rs", node="a"),
                   make_pod("r3", owner="rs", node="b"), make_pod("other", owner="rs2", node="c")))
    assert _scores(spread, make_pod("r4", owner="rs"), s) == {"a": 0, "b": 50, "c": 100}


def test_bare_pods_spread_by_labels_and_unlabelled_pods_not_at_all():
    assert PodInfo.from_pod(make_pod("x", labels={"app": "w"})).workload == \
        PodInfo.from_pod(make_pod("y", labels={"app": "w"})).workload
    assert PodInfo.from_pod(make_pod("z")).workload is None
    assert spread.PLUGIN.prepare(PodInfo.from_pod(make_pod("z")), snap(make_node("a"))) is None


def test_soft_taints_are_avoided_unless_tolerated():
    soft = {"key": "spot", "value": "true", "effect": "PreferNoSchedule"}
    s = snap(make_node("clean"), make_node("spot", taints=[soft]))
    assert _scores(taint_preference, make_pod("p"), s) == {"clean": 100, "spot": 0}
    tolerant = make_pod("p", tolerations=[{"key": "spot", "operator": "Exists", "effect": "PreferNoSchedule"}])
    assert _scores(taint_preference, tolerant, s) == {"clean": 100, "spot": 100}


def test_preferred_node_affinity_adds_term_weights():
    s = snap(make_node("a", labels={"disk": "ssd", "zone": "1"}), make_node("b", labels={"disk": "ssd"}),
             make_node("c"))
    affinity = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 30, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}},
        {"weight": 10, "preference": {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}}]}}
    assert _scores(node_affinity_preference, make_pod("p", affinity=affinity), s) == {"a": 100, "b": 75, "c": 0}
    assert node_affinity_preference.PLUGIN.prepare(PodInfo.from_pod(make_pod("p")), s) is None
