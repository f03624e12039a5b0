"""HorizontalPodAutoscaler end to end on hollow nodes: the controller scales through the scale
subresource from metrics.k8s.io (hollow pods use what their pyctl.io/hollow-cpu annotation
says), sets kube's conditions and events; autoscaling/v1 and v2 serve one object; the real
kubectl autoscale / get / describe and pyctl get / describe work on it."""

from __future__ import annotations

import asyncio
import re

import pytest

from controlplane.controllers.manager import ManagerConfig
from controlplane.controllers.podautoscaler import AutoscalerConfig

from ..cluster import wait_until
from .kubectl import Kubectl
from .test_pyctl import pyctl
from .test_resource_metrics import DEPLOY, deployment, measured_cluster

HPAS = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"
HPAS_V1 = "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers"
FAST = AutoscalerConfig(sync_period=0.5, downscale_stabilization=2.0, cpu_initialization_period=0.0,
                        initial_readiness_delay=0.0)


@pytest.fixture
async def cluster(api, client):
    async with measured_cluster(api, client, ManagerConfig(leader_election=False, autoscaler=FAST)) as agents:
        yield agents


def hpa(name: str, *, kind: str = "Deployment", api_version: str = "apps/v1", target: int = 50, max_replicas: int = 4,
        behavior: dict | None = None) -> dict:
    spec = {"scaleTargetRef": {"apiVersion": api_version, "kind": kind, "name": name}, "minReplicas": 1,
            "maxReplicas": max_replicas,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                                  "averageUtilization": target}}}]}
    if behavior is not None:
        spec["behavior"] = behavior
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": name}, "spec": spec}


async def replicas(client, name: str) -> int:
    _, scale = await client.request("GET", f"{DEPLOY}/{name}/scale")
    return scale["spec"]["replicas"]


def condition(obj: dict, kind: str) -> dict:
    return next(c for c in obj["status"].get("conditions") or [] if c["type"] == kind)


async def test_scales_up_under_load_and_back_down_when_it_stops(cluster, client):
    # each pod uses 400m of its 200m request for its first 8 s, then 20m
    assert (await client.request("POST", DEPLOY, deployment("load", 1, "400m,8s,20m", request="200m")))[0] == 201
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 1}}
    assert (await client.request("POST", HPAS, hpa("load", behavior=behavior)))[0] == 201

    async def scaled(n: int) -> bool:
        return await replicas(client, "load") == n
    await wait_until(lambda: scaled(4), timeout=30)
    _, obj = await client.request("GET", f"{HPAS}/load")
    assert obj["status"]["lastScaleTime"] and obj["status"]["desiredReplicas"] >= 2
    assert condition(obj, "ScalingActive")["reason"] == "ValidMetricFound"
    await wait_until(lambda: scaled(1), timeout=40)

    async def settled():
        _, obj = await client.request("GET", f"{HPAS}/load")
        return obj if obj["status"].get("currentReplicas") == 1 else None
    obj = await wait_until(settled, timeout=10)
    (current,) = obj["status"]["currentMetrics"]
    assert current["type"] == "Resource" and current["resource"]["current"]["averageUtilization"] < 50
    assert condition(obj, "AbleToScale")["status"] == "True"
    assert condition(obj, "ScalingLimited")["reason"] in ("DesiredWithinRange", "TooFewReplicas")
    _, events = await client.request("GET", "/api/v1/namespaces/default/events?fieldSelector=reason%3DSuccessfulRescale")
    messages = [e["message"] for e in events["items"]]
    assert any("above target" in m for m in messages) and any("All metrics below target" in m for m in messages)


async def test_replicasets_scale_too_and_a_missing_target_is_reported(cluster, client):
    rs = deployment("rs", 1, "400m", request="100m")
    rs["kind"] = "ReplicaSet"
    assert (await client.request("POST", "/apis/apps/v1/namespaces/default/replicasets", rs))[0] == 201
    assert (await client.request("POST", HPAS, hpa("rs", kind="ReplicaSet", max_replicas=3)))[0] == 201

    async def rs_scaled():
        _, scale = await client.request("GET", "/apis/apps/v1/namespaces/default/replicasets/rs/scale")
        return scale["spec"]["replicas"] == 3
    await wait_until(rs_scaled, timeout=30)
    _, obj = await client.request("GET", f"{HPAS}/rs")
    assert condition(obj, "ScalingLimited")["reason"] == "TooManyReplicas"

    assert (await client.request("POST", HPAS, hpa("nosuch")))[0] == 201

    async def failed():
        _, obj = await client.request("GET", f"{HPAS}/nosuch")
        return any(c["reason"] == "FailedGetScale" for c in obj["status"].get("conditions") or [])
    await wait_until(failed, timeout=10)
    _, obj = await client.request("GET", f"{HPAS}/nosuch")
    able = condition(obj, "AbleToScale")
    assert able["status"] == "False" and 'deployments.apps "nosuch" not found' in able["message"]
    assert (await client.request("POST", HPAS, hpa("odd", kind="Widget", api_version="example.com/v1")))[0] == 201

    async def unknown_kind():
        _, obj = await client.request("GET", f"{HPAS}/odd")
        conditions = obj["status"].get("conditions") or []
        return any('no matches for kind "Widget" in group "example.com"' in c["message"] for c in conditions)
    await wait_until(unknown_kind, timeout=10)


async def test_pods_without_cpu_requests_cannot_be_measured(cluster, client):
    plain = deployment("noreq", 1, "100m")
    del plain["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert (await client.request("POST", DEPLOY, plain))[0] == 201
    assert (await client.request("POST", HPAS, hpa("noreq")))[0] == 201

    async def inactive():
        _, obj = await client.request("GET", f"{HPAS}/noreq")
        active = [c for c in obj["status"].get("conditions") or [] if c["type"] == "ScalingActive"]
        return active and active[0]["status"] == "False" and "missing request for cpu" in active[0]["message"]
    await wait_until(inactive, timeout=15)
    _, obj = await client.request("GET", f"{HPAS}/noreq")
    assert condition(obj, "ScalingActive")["reason"] == "FailedGetResourceMetric"
    assert obj["status"]["currentMetrics"] == [{"type": ""}]  # kube's empty status of a failed metric


async def test_one_object_through_autoscaling_v1_and_v2(api, client):
    v1 = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
          "spec": {"scaleTargetRef": dict(apiVersion="apps/v1", kind="Deployment", name="web"),
                   "maxReplicas": 3, "targetCPUUtilizationPercentage": 60}}
    code, created = await client.request("POST", HPAS_V1, v1)
    assert code == 201 and created["apiVersion"] == "autoscaling/v1"
    assert created["spec"]["targetCPUUtilizationPercentage"] == 60 and created["spec"]["minReplicas"] == 1
    _, new = await client.request("GET", f"{HPAS}/web")
    assert new["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    # v2-only fields survive a v1 read-modify-write, through kube's annotations
    new["spec"]["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": 30}}
    new["spec"]["metrics"].append({"type": "Resource", "resource": {"name": "memory", "target": {
        "type": "AverageValue", "averageValue": "100Mi"}}})
    assert (await client.request("PUT", f"{HPAS}/web", new))[0] == 200
    _, old = await client.request("GET", f"{HPAS_V1}/web")
    assert "autoscaling.alpha.kubernetes.io/behavior" in old["metadata"]["annotations"]
    old["spec"]["maxReplicas"] = 7
    code, put = await client.request("PUT", f"{HPAS_V1}/web", old)
    assert code == 200, put
    _, new = await client.request("GET", f"{HPAS}/web")
    assert new["spec"]["maxReplicas"] == 7 and new["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 30
    assert len(new["spec"]["metrics"]) == 2 and "annotations" not in new["metadata"]
    # a merge patch through v1 applies to the v1 form
    code, patched = await client.request("PATCH", f"{HPAS_V1}/web", data=b'{"spec":{"targetCPUUtilizationPercentage":80}}',
                                         headers={"Content-Type": "application/merge-patch+json"})
    assert code == 200 and patched["spec"]["targetCPUUtilizationPercentage"] == 80
    # lists and watches in v1
    _, listed = await client.request("GET", HPAS_V1)
    assert listed["kind"] == "HorizontalPodAutoscalerList" and listed["items"][0]["apiVersion"] == "autoscaling/v1"
    # invalid through either version: one message, naming the stored version's field
    bad = dict(v1, metadata={"name": "bad"}, spec={**v1["spec"], "maxReplicas": 0})
    code, status = await client.request("POST", HPAS_V1, bad)
    assert code == 422 and "spec.maxReplicas" in status["message"]


async def test_kubectl_autoscale_get_and_describe(cluster, client, api, tmp_path):
    assert (await client.request("POST", DEPLOY, deployment("web", 1, "10m", request="100m")))[0] == 201
    kubectl = Kubectl(api.url, tmp_path)
    assert "horizontalpodautoscaler.autoscaling/web autoscaled" in await kubectl.ok(
        "autoscale", "deployment", "web", "--cpu-percent=50", "--min=1", "--max=5")
    _, obj = await client.request("GET", f"{HPAS}/web")
    assert obj["spec"]["maxReplicas"] == 5 and obj["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 50

    async def measured():
        _, obj = await client.request("GET", f"{HPAS}/web")
        return obj["status"].get("currentMetrics")
    await wait_until(measured, timeout=15)
    for out in (await kubectl.ok("get", "hpa"),
                (await pyctl(api.url, "get", "hpa", config=tmp_path / "pyctl-config")).out):
        header, row = out.splitlines()[:2]
        assert header.split() == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
        assert row.split()[:3] == ["web", "Deployment/web", "cpu:"] and row.split()[4:7] == ["1", "5", "1"]
    described = (await pyctl(api.url, "describe", "hpa", "web", config=tmp_path / "pyctl-config")).out
    for line in ("Reference:", "Deployment/web", "resource cpu on pods  (as a percentage of request):",
                 "/ 50%", "Min replicas:", "Max replicas:", "Deployment pods:", "ScalingActive"):
        assert line in described, described
    theirs = await kubectl.ok("describe", "hpa", "web")

    def steady(text: str) -> list[str]:  # usage moves between the two reads (a sync may even find
        # no fresh sample: <unknown>); the layout must not
        return [re.sub(r"\d+% \(\d+m\)|<unknown>", "N% (Nm)", line) for line in text.splitlines()
                if not line.startswith(("  Normal", "  Warning", "Events"))][:12]
    assert steady(described) == steady(theirs)


async def test_the_official_python_client(cluster, client, api):
    """kubernetes-client: AutoscalingV2Api and V1Api on one object, metrics through CustomObjectsApi."""
    from kubernetes import client as k8s

    assert (await client.request("POST", DEPLOY, deployment("pyc", 1, "50m", request="100m")))[0] == 201

    def flow() -> tuple:
        cfg = k8s.Configuration()
        cfg.host = api.url
        with k8s.ApiClient(cfg) as c:
            v2, v1 = k8s.AutoscalingV2Api(c), k8s.AutoscalingV1Api(c)
            v2.create_namespaced_horizontal_pod_autoscaler("default", hpa("pyc", target=70))
            read_v1 = v1.read_namespaced_horizontal_pod_autoscaler("pyc", "default")
            listed = v2.list_namespaced_horizontal_pod_autoscaler("default").items
            pods = k8s.CustomObjectsApi(c).list_namespaced_custom_object("metrics.k8s.io", "v1beta1", "default", "pods")
            return read_v1.spec.target_cpu_utilization_percentage, [h.metadata.name for h in listed], pods

    async def measured() -> bool:
        code, body = await client.request("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods")
        return code == 200 and len(body["items"]) == 1
    await wait_until(measured, timeout=20)
    target, names, pods = await asyncio.to_thread(flow)
    assert target == 70 and names == ["pyc"]
    assert pods["kind"] == "PodMetricsList" and pods["items"][0]["containers"][0]["usage"]["cpu"].endswith("n")
