"""Why a pod is Pending, node by node, and `pyctl plan`, against the real API server on etcd,
the real scheduler and three hollow agents over the real gateway (test_replicaset_controller's
`nodes`: 4 cpu, 8Gi, 110 pods each). Where nothing but the test may write to etcd (a plan
writes nothing), plain Node objects stand in for the agents, whose heartbeats write."""

from __future__ import annotations

import json

import pytest
import yaml

from controlplane.machinery import placement
from controlplane.store import Store

from ..cluster import wait_until
from .kubectl import Kubectl
from .secure_api import admin, binding, call, secure_api  # noqa: F401
from .test_deployment_controller import controllers  # noqa: F401
from .test_pyctl import pyctl
from .test_replicaset_controller import NODES, apiclient, hollow_nodes, nodes, rs_controller  # noqa: F401
from .test_scheduler import (create_node, create_pod, events_for, node, pod, wait_bound,
                             wait_unschedulable)

PODS = "/api/v1/namespaces/default/pods"
DEPLOY = "/apis/apps/v1/namespaces/default/deployments"
PLANS = "/apis/pyctl.io/v1alpha1/namespaces/default/plans"
MERGE = {"Content-Type": "application/merge-patch+json"}


async def record_of(client, name: str) -> dict | None:
    _, body = await client.request("GET", f"{PODS}/{name}")
    return placement.read(body)


async def wait_record(client, name: str, result: str) -> dict:
    async def found():
        r = await record_of(client, name)
        return r if r and r["result"] == result else None
    return await wait_until(found, timeout=20)


@pytest.fixture
async def hollow(api, client):
    """Three Ready hollow nodes, and the scheduler itself."""
    async with hollow_nodes(api, client) as scheduler:
        yield scheduler


def deployment(name: str, replicas: int, cpu: str = "100m", **spec) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                         {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}], **spec}}}}


async def test_pending_pod_shows_every_failing_filter_on_every_node(api, client, nodes, tmp_path):  # noqa: F811
    await create_pod(client, pod("big", memory="100Ti", nodeSelector={"disk": "ssd"}))
    # The standard condition and event keep kube's aggregate (the first failure per node) ...
    message = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    await wait_unschedulable(client, "big", message)
    # ... and the verdict has every filter on every node: one group of identical nodes.
    record = await wait_record(client, "big", placement.UNSCHEDULABLE)
    assert record["nodes"] == 3 and len(record["groups"]) == 1
    (group,) = record["groups"]
    assert (group["count"], group["nodes"]) == (3, list(nodes))
    assert [(f["filter"], f["detail"], f.get("fix")) for f in group["failures"]] == [
        ("NodeAffinity", "nodeSelector disk=ssd: label missing", "drop nodeSelector disk=ssd"),
        ("NodeResourcesFit", "memory: requests 100Ti > allocatable 8Gi",
         "lower the memory request to 8Gi (from 100Ti)")]
    # Requests of other pods are free memory's to subtract: none here, so the whole node fits.
    assert record["suggestions"] == [{"changes": ["drop nodeSelector disk=ssd",
                                                  "lower the memory request to 8Gi (from 100Ti)"], "nodes": 3}]

    r = await pyctl(api.url, "describe", "pod", "big")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Placement:"))
    assert "fits on none of 3 nodes" in lines[start]
    table = lines[start + 1:start + 5]
    assert table[0].split() == ["NODES", "FILTER", "PROBLEM", "CHANGE", "THAT", "WOULD", "LIFT", "IT"]
    assert table[2].startswith("  node-a, node-b, node-c  NodeAffinity") \
        and "nodeSelector disk=ssd: label missing" in table[2] and table[2].endswith("drop nodeSelector disk=ssd")
    assert table[3].split()[0] == "NodeResourcesFit" and "memory: requests 100Ti > allocatable 8Gi" in table[3]
    assert "1. drop nodeSelector disk=ssd; lower the memory request to 8Gi (from 100Ti) (then it fits on 3 nodes)" \
        in r.out
    assert placement.ANNOTATION + ":" not in r.out  # shown as the table, not as raw JSON

    # kubectl shows the standard condition and event, unchanged.
    kubectl = Kubectl(api.url, tmp_path)
    got = json.loads(await kubectl.ok("get", "pod", "big", "-o", "json"))
    cond = next(c for c in got["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", message)
    out = await kubectl.ok("get", "events", "--field-selector", "involvedObject.name=big")
    assert "FailedScheduling" in out and message in out


async def test_a_tainted_node_names_its_taint_and_the_toleration_that_would_fit(api, client, nodes):  # noqa: F811
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    status, _ = await client.request("PATCH", "/api/v1/nodes/node-b", {"spec": {"taints": [taint]}}, headers=MERGE)
    assert status == 200
    await create_pod(client, pod("pinned", nodeSelector={"kubernetes.io/hostname": "node-b"}))
    await wait_unschedulable(client, "pinned", "0/3 nodes are available: 1 node(s) had untolerated taint "
                                               "{dedicated: gpu}, 2 node(s) didn't match Pod's node affinity/selector.")
    record = await wait_record(client, "pinned", placement.UNSCHEDULABLE)
    by_nodes = {tuple(g["nodes"]): g["failures"] for g in record["groups"]}
    assert by_nodes[("node-b",)] == [{
        "filter": "TaintToleration", "reason": "node(s) had untolerated taint {dedicated: gpu}",
        "detail": "taint dedicated=gpu:NoSchedule not tolerated", "fix": "add a toleration for dedicated=gpu:NoSchedule"}]
    # Nodes that differ only in the label's value group together; the values are listed.
    assert [f["detail"] for f in by_nodes[("node-a", "node-c")]] == [
        "nodeSelector kubernetes.io/hostname=node-b: node has kubernetes.io/hostname=node-a, node-c"]
    assert record["suggestions"] == [
        {"changes": ["drop nodeSelector kubernetes.io/hostname=node-b"], "nodes": 2},
        {"changes": ["add a toleration for dedicated=gpu:NoSchedule"], "nodes": 1}]

    r = await pyctl(api.url, "describe", "pod", "pinned")
    assert "taint dedicated=gpu:NoSchedule not tolerated" in r.out
    assert "2. add a toleration for dedicated=gpu:NoSchedule (then it fits on 1 node)" in r.out

    # Tolerating it is enough: the verdict gives way to the scores that placed it.
    status, _ = await client.request("DELETE", f"{PODS}/pinned", {"gracePeriodSeconds": 0})
    assert status == 200
    await create_pod(client, pod("pinned2", nodeSelector={"kubernetes.io/hostname": "node-b"},
                                 tolerations=[{"key": "dedicated", "operator": "Exists"}]))
    assert await wait_bound(client, "pinned2") == {"pinned2": "node-b"}


async def test_a_bound_pod_shows_the_scores_that_chose_its_node(api, client, nodes):  # noqa: F811
    await create_pod(client, pod("chosen"))
    placed = (await wait_bound(client, "chosen"))["chosen"]
    record = await wait_record(client, "chosen", placement.SCHEDULED)
    assert (record["node"], record["nodes"], record["feasible"]) == (placed, 3, 3)
    assert record["scores"][0]["node"] == placed and len(record["scores"]) == 3
    assert record["scores"][0]["total"] >= record["scores"][1]["total"] >= record["scores"][2]["total"]
    assert set(record["scores"][0]["plugins"]) >= {"NodeResourcesLeastAllocated", "SelectorSpread"}
    r = await pyctl(api.url, "describe", "pod", "chosen")
    assert f"Placement:  {placed} chosen of 3 nodes (3 examined, 3 fit)" in r.out
    assert "NODE    SCORE  WEIGHTED SCORE BY PLUGIN" in r.out


async def test_a_verdict_is_written_once_while_nothing_changes(api, client, hollow):
    # Five replicas of one template: one explanation serves them all.
    for i in range(5):
        await create_pod(client, pod(f"huge-{i}", memory="100Ti", labels={"app": "huge"}))
    for i in range(5):
        await wait_record(client, f"huge-{i}", placement.UNSCHEDULABLE)
    assert (hollow.stats["explained"], hollow.stats["verdicts"]) == (1, 5)
    await create_pod(client, pod("huge", memory="100Ti"))
    first = await wait_record(client, "huge", placement.UNSCHEDULABLE)
    _, body = await client.request("GET", f"{PODS}/huge")
    rv = body["metadata"]["resourceVersion"]
    attempts = hollow.stats["unschedulable"]
    # Retried (unschedulable_timeout 2 s) with the same verdict: nothing is written again.
    await wait_until(lambda: _more(hollow, attempts + 2), timeout=20)
    _, body = await client.request("GET", f"{PODS}/huge")
    assert body["metadata"]["resourceVersion"] == rv
    assert placement.read(body)["signature"] == first["signature"]
    assert len([e for e in await events_for(client, "huge") if e["reason"] == "FailedScheduling"]) == 1
    assert hollow.stats["verdicts"] == 6

    # A new node changes the verdict (and where the pod could go): written once more.
    await client.request("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {
        "name": "node-d", "labels": {"kubernetes.io/hostname": "node-d"}}})
    second = await wait_until(lambda: _changed(client, first["signature"]), timeout=20)
    assert second["nodes"] == 4


async def _more(scheduler, n: int) -> bool:
    return scheduler.stats["unschedulable"] >= n


async def _changed(client, signature: str) -> dict | None:
    record = await record_of(client, "huge")
    return record if record and record["signature"] != signature else None


async def test_plan_places_and_pends_a_deployment_and_writes_nothing(api, client, etcd, tmp_path):
    # Plain Node objects and nothing else running: nothing but the plan could write to etcd.
    for n in NODES:
        await create_node(client, node(n))
    store = Store([etcd.url])
    await store.open()
    try:
        before = await store.revision()
        # 1.5 cpu each: two fit on a 4-cpu node, so 3 nodes hold 6 of the 8.
        status, plan = await client.request("POST", PLANS, {
            "apiVersion": "pyctl.io/v1alpha1", "kind": "Plan",
            "spec": {"workloads": [deployment("web", 8, cpu="1500m")]}})
        assert status == 201, plan
        assert await store.revision() == before
    finally:
        await store.close()
    (web,) = plan["status"]["workloads"]
    assert (web["desired"], web["toPlace"], web["placed"], web["pending"]) == (8, 8, 6, 2)
    assert sorted((n["name"], n["pods"]) for n in web["nodes"]) == [("node-a", 2), ("node-b", 2), ("node-c", 2)]
    why = web["unschedulable"]
    assert why["message"] == "0/3 nodes are available: 3 Insufficient cpu."
    assert why["groups"][0]["failures"] == [{
        "filter": "NodeResourcesFit", "reason": "Insufficient cpu",
        "detail": "cpu: requests 1500m > free 1 of allocatable 4", "fix": "lower the cpu request to 1 (from 1500m)"}]
    assert plan["status"]["preemption"]["victims"] == []
    _, listed = await client.request("GET", DEPLOY)
    assert listed["items"] == []  # planned, not created

    # pyctl prints the same, and says so by its exit code.
    manifest = tmp_path / "web.yaml"
    manifest.write_text(yaml.safe_dump(deployment("web", 8, cpu="1500m")))
    r = await pyctl(api.url, "plan", "-f", str(manifest))
    assert r.code == 2, r.err
    assert "deployment.apps/web (namespace default): 6 of 8 new pod(s) placed; 2 stay Pending: " \
           "0/3 nodes are available: 3 Insufficient cpu." in r.out
    assert "cpu: requests 1500m > free 1 of allocatable 4" in r.out
    assert "Preemption:  none: pyctl does not preempt pods" in r.out
    r = await pyctl(api.url, "plan", "-f", str(manifest), "--replicas", "6")
    assert r.code == 0 and "6 of 6 new pod(s) placed" in r.out


async def test_plan_of_a_scale_keeps_the_running_replicas(api, client, nodes, controllers, tmp_path):  # noqa: F811
    status, _ = await client.request("POST", DEPLOY, deployment("app", 3, cpu="1"))
    assert status == 201

    async def running() -> bool:
        _, pods = await client.request("GET", f"{PODS}?labelSelector=app%3Dapp")
        return len([p for p in pods["items"] if p["spec"].get("nodeName")]) == 3
    await wait_until(running, timeout=30)
    # Scale to 9: the 3 running stay, 6 new go where there is room (4 cpu each, 1 used).
    r = await pyctl(api.url, "plan", "deployment/app", "--replicas", "9", "-o", "json")
    assert r.code == 0, r.err
    (app,) = json.loads(r.out)["status"]["workloads"]
    assert (app["existing"], app["toPlace"], app["placed"], app["pending"]) == (3, 6, 6, 0)
    assert sorted(n["pods"] for n in app["nodes"]) == [2, 2, 2]  # spread with the running ones
    # Scale to 13: one pod too many for 12 cpus.
    r = await pyctl(api.url, "plan", "deployment/app", "--replicas", "13")
    assert r.code == 2 and "3 existing pod(s) stay; 9 of 10 new pod(s) placed; 1 stay Pending" in r.out
    # A new template replaces them all: their room is free for the new pods.
    changed = deployment("app", 3, cpu="3")
    manifest = tmp_path / "app.yaml"
    manifest.write_text(yaml.safe_dump(changed))
    r = await pyctl(api.url, "plan", "-f", str(manifest), "-o", "yaml")
    (app,) = yaml.safe_load(r.out)["status"]["workloads"]
    assert (app["existing"], app["replaced"], app["placed"], app["pending"]) == (0, 3, 3, 0)


async def test_plan_refuses_what_create_would_refuse(api, client):
    bad = deployment("bad", 1)
    bad["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    status, body = await client.request("POST", PLANS, {"apiVersion": "pyctl.io/v1alpha1", "kind": "Plan",
                                                        "spec": {"workloads": [bad]}})
    assert status == 422 and body["reason"] == "Invalid"
    assert body["message"].startswith('Deployment.apps "bad" is invalid: spec.template.metadata.labels')
    status, body = await client.request("POST", PLANS, {"apiVersion": "pyctl.io/v1alpha1", "kind": "Plan",
                                                        "spec": {"workloads": [{"apiVersion": "v1", "kind": "Service",
                                                                                "metadata": {"name": "s"}}]}})
    assert status == 422 and "v1 Service runs no pods" in body["message"]
    assert body["details"]["causes"][0]["field"] == "spec.workloads[0].kind"
    status, body = await client.request("POST", PLANS, {"apiVersion": "pyctl.io/v1alpha1", "kind": "Plan",
                                                        "spec": {"workloads": [deployment("many", 10**6)]}})
    assert status == 422 and "a plan places at most 10000 pods" in body["message"]
    status, body = await client.request("GET", PLANS)
    assert status == 405


async def test_planning_is_a_create_on_plans(secure_api, admin):  # noqa: F811
    plan = {"apiVersion": "pyctl.io/v1alpha1", "kind": "Plan", "spec": {"workloads": [deployment("web", 2)]}}
    async with secure_api.session("bob") as bob:
        code, body = await call(bob, "POST", PLANS, plan)
        assert code == 403
        assert body["message"] == ('plans.pyctl.io is forbidden: User "bob" cannot create resource "plans" in '
                                   'API group "pyctl.io" in the namespace "default"')
        assert (await call(admin, "POST", *binding("bob-edit", "edit", user="bob")))[0] == 201
        code, body = await call(bob, "POST", PLANS, plan)
        assert code == 201, body
        # No nodes in this cluster: both stay Pending, and the plan says why.
        (web,) = body["status"]["workloads"]
        assert (web["placed"], web["pending"]) == (0, 2)
        assert web["unschedulable"]["message"] == "no nodes available to schedule pods"


async def test_plan_of_a_daemonset_follows_the_node_eligibility_rule(api, client):
    await create_node(client, node("edge-1", labels={"role": "edge"}))
    await create_node(client, node("edge-2", labels={"role": "edge"}, unschedulable=True))  # a cordon: still
    await create_node(client, node("edge-gpu", labels={"role": "edge"},
                                   taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]))
    await create_node(client, node("core"))
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
          "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {
              "metadata": {"labels": {"app": "agent"}},
              "spec": {"nodeSelector": {"role": "edge"}, "containers": [{"name": "c", "image": "agent:1"}]}}}}
    status, plan = await client.request("POST", PLANS, {"apiVersion": "pyctl.io/v1alpha1", "kind": "Plan",
                                                        "spec": {"workloads": [ds]}})
    assert status == 201, plan
    (agent,) = plan["status"]["workloads"]
    assert sorted(n["name"] for n in agent["nodes"]) == ["edge-1", "edge-2"]
    assert (agent["desired"], agent["placed"], agent["pending"]) == (2, 2, 0)
    by_node = {tuple(g["nodes"]): g["failures"][0]["detail"] for g in agent["notEligible"]["groups"]}
    assert by_node == {("core",): "nodeSelector role=edge: label missing",
                       ("edge-gpu",): "taint dedicated=gpu:NoSchedule not tolerated"}
    # Its template is checked (as the pod it would become while the cluster serves no DaemonSets).
    ds["spec"]["template"]["spec"]["containers"][0]["image"] = ""
    status, body = await client.request("POST", PLANS, {"apiVersion": "pyctl.io/v1alpha1", "kind": "Plan",
                                                        "spec": {"workloads": [ds]}})
    assert status == 422, body
    assert body["details"]["causes"][0]["field"].endswith("spec.template.spec.containers[0].image")


async def test_kubectl_creates_a_plan_and_reads_the_answer(api, client, tmp_path):
    for n in NODES:
        await create_node(client, node(n))
    plan = {"apiVersion": "pyctl.io/v1alpha1", "kind": "Plan", "metadata": {"name": "check"},
            "spec": {"workloads": [deployment("web", 4)]}}
    manifest = tmp_path / "plan.yaml"
    manifest.write_text(yaml.safe_dump(plan))
    # --validate=false: kubectl's client-side check wants a PATCH operation in the OpenAPI document
    # (to learn the server validates), and a Plan, like a review, is only ever created.
    out = json.loads(await Kubectl(api.url, tmp_path).ok("create", "--validate=false", "-f", str(manifest),
                                                         "-o", "json"))
    (web,) = out["status"]["workloads"]
    assert (web["placed"], web["pending"]) == (4, 0)
    assert "plans" in await Kubectl(api.url, tmp_path).ok("api-resources", "--api-group", "pyctl.io")


async def test_plan_of_every_served_workload_kind(api, client):
    for n in NODES:
        await create_node(client, node(n))
    template = {"metadata": {"labels": {"app": "x"}},
                "spec": {"restartPolicy": "Never", "containers": [
                    {"name": "c", "image": "x:1", "resources": {"requests": {"cpu": "1"}}}]}}
    always = {**template, "spec": {**template["spec"], "restartPolicy": "Always"}}
    workloads = [
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "job"},
         "spec": {"parallelism": 3, "completions": 10, "template": template}},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cron"},
         "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"parallelism": 2, "template": template}}}},
        {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc"},
         "spec": {"replicas": 2, "selector": {"app": "x"}, "template": always}},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs"},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "x"}}, "template": always}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "solo"}, "spec": always["spec"]},
    ]
    status, plan = await client.request("POST", PLANS, {"apiVersion": "pyctl.io/v1alpha1", "kind": "Plan",
                                                        "spec": {"workloads": workloads}})
    assert status == 201, plan
    # 12 cpus: 3 + 2 + 2 + 2 + 1 = 10 fit, planned in order on one snapshot.
    assert [(w["kind"], w["placed"], w["pending"]) for w in plan["status"]["workloads"]] == [
        ("Job", 3, 0), ("CronJob", 2, 0), ("ReplicationController", 2, 0), ("ReplicaSet", 2, 0), ("Pod", 1, 0)]
    status, plan = await client.request("POST", PLANS, {"apiVersion": "pyctl.io/v1alpha1", "kind": "Plan",
                                                        "spec": {"workloads": workloads, "replicas": 3}})
    assert [(w["kind"], w["placed"], w["pending"]) for w in plan["status"]["workloads"]] == [
        ("Job", 3, 0), ("CronJob", 3, 0), ("ReplicationController", 3, 0), ("ReplicaSet", 3, 0), ("Pod", 0, 3)]
