"""metrics.k8s.io end to end on hollow nodes: agents report usage on their session, the gateway
forwards it, the API server serves NodeMetrics and PodMetrics from memory (never etcd) in
metrics-server's units, and the real `kubectl top` and `pyctl top` read them."""

from __future__ import annotations

import contextlib

import pytest

from controlplane.controllers.manager import ManagerConfig
from controlplane.gateway import GatewayConfig
from controlplane.store import Store

from ..cluster import wait_until
from .kubectl import Kubectl
from .test_cluster_flows import NODES, hollow_cluster
from .test_pyctl import pyctl

METRICS = "/apis/metrics.k8s.io/v1beta1"
DEPLOY = "/apis/apps/v1/namespaces/default/deployments"


@contextlib.asynccontextmanager
async def measured_cluster(api, client, controllers: ManagerConfig | None = None):
    """The hollow cluster of test_cluster_flows, its agents reporting usage every 0.3 s."""
    gateway = GatewayConfig(metrics_period=0.3, metrics_flush_interval=0.1)
    async with hollow_cluster(api, client, controllers or ManagerConfig(leader_election=False), gateway) as agents:
        async def measured():
            code, body = await client.request("GET", f"{METRICS}/nodes")
            return code == 200 and len(body["items"]) == len(NODES)
        await wait_until(measured, timeout=20)
        yield agents


@pytest.fixture
async def cluster(api, client):
    async with measured_cluster(api, client) as agents:
        yield agents


def deployment(name: str, replicas: int, cpu: str, memory: str = "64Mi", request: str = "500m") -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name, "tier": "web"},
                                               "annotations": {"pyctl.io/hollow-cpu": cpu,
                                                               "pyctl.io/hollow-memory": memory}},
                                  "spec": {"containers": [{"name": "c", "image": "web:1",
                                                           "resources": {"requests": {"cpu": request}}}]}}}}


async def pod_metrics(client, query: str = "") -> list[dict]:
    code, body = await client.request("GET", f"{METRICS}/namespaces/default/pods{query}")
    assert code == 200, body
    return body["items"]


def nanocores(text: str) -> int:
    assert text.endswith("n"), text
    return int(text[:-1])


async def test_node_and_pod_metrics_as_metrics_server_serves_them(cluster, client, etcd):
    assert (await client.request("POST", DEPLOY, deployment("web", 2, "250m")))[0] == 201
    await wait_until(lambda: _count(client, "?labelSelector=app%3Dweb", 2), timeout=30)
    items = await pod_metrics(client, "?labelSelector=app%3Dweb")
    for m in items:
        assert (m["kind"], m["apiVersion"]) == ("PodMetrics", "metrics.k8s.io/v1beta1")
        assert m["metadata"]["labels"]["app"] == "web" and m["metadata"]["namespace"] == "default"
        assert m["timestamp"].endswith("Z") and m["window"].endswith("s")
        (container,) = m["containers"]
        assert container["name"] == "c" and container["usage"]["memory"] == "64Mi"
        assert 200_000_000 < nanocores(container["usage"]["cpu"]) < 300_000_000
    # selectors: labels of the pods, fields of the PodMetrics
    assert await pod_metrics(client, "?labelSelector=app%3Dother") == []
    name = items[0]["metadata"]["name"]
    assert [m["metadata"]["name"] for m in await pod_metrics(client, f"?fieldSelector=metadata.name%3D{name}")] == [name]
    code, one = await client.request("GET", f"{METRICS}/namespaces/default/pods/{name}")
    assert code == 200 and one["metadata"]["name"] == name
    code, everywhere = await client.request("GET", f"{METRICS}/pods")
    assert code == 200 and {m["metadata"]["name"] for m in everywhere["items"]} >= {m["metadata"]["name"] for m in items}
    # nodes: each one, with its own use on top of its pods'
    code, nodes = await client.request("GET", f"{METRICS}/nodes")
    assert code == 200 and sorted(n["metadata"]["name"] for n in nodes["items"]) == NODES
    for n in nodes["items"]:
        assert nanocores(n["usage"]["cpu"]) >= 90_000_000 and n["usage"]["memory"].endswith(("Ki", "Mi"))
        assert n["metadata"]["labels"]["kubernetes.io/hostname"] == n["metadata"]["name"]
    # read-only, and nothing of it in etcd
    assert (await client.request("POST", f"{METRICS}/namespaces/default/pods", {"metadata": {"name": "x"}}))[0] == 405
    assert (await client.request("GET", f"{METRICS}/pods?watch=1"))[0] == 405
    store = Store([etcd.url])
    await store.open()
    try:
        keys = [kv.key for kv in (await store.list("/"))[0]]
    finally:
        await store.close()
    assert not [k for k in keys if "metrics" in k], keys


async def test_discovery_lists_the_group(cluster, client):
    code, groups = await client.request("GET", "/apis")
    group = next(g for g in groups["groups"] if g["name"] == "metrics.k8s.io")
    assert group["preferredVersion"]["version"] == "v1beta1"
    code, resources = await client.request("GET", f"{METRICS}")
    assert {(r["name"], r["kind"], tuple(r["verbs"])) for r in resources["resources"]} == {
        ("nodes", "NodeMetrics", ("get", "list")), ("pods", "PodMetrics", ("get", "list"))}


async def test_a_deleted_pod_is_no_longer_served(cluster, client):
    assert (await client.request("POST", DEPLOY, deployment("gone", 1, "100m")))[0] == 201
    await wait_until(lambda: _count(client, "?labelSelector=app%3Dgone", 1), timeout=30)
    name = (await pod_metrics(client, "?labelSelector=app%3Dgone"))[0]["metadata"]["name"]
    assert (await client.request("DELETE", f"{DEPLOY}/gone"))[0] == 200
    await client.request("DELETE", f"/api/v1/namespaces/default/pods/{name}?gracePeriodSeconds=0")

    async def gone():
        return (await client.request("GET", f"{METRICS}/namespaces/default/pods/{name}"))[0] == 404
    await wait_until(gone, timeout=20)


async def test_kubectl_top_and_pyctl_top(cluster, client, api, tmp_path):
    assert (await client.request("POST", DEPLOY, deployment("top", 2, "300m", "48Mi")))[0] == 201
    await wait_until(lambda: _count(client, "?labelSelector=app%3Dtop", 2), timeout=30)
    kubectl = Kubectl(api.url, tmp_path)
    for tool in ("kubectl", "pyctl"):
        async def top(*args: str) -> list[list[str]]:
            if tool == "kubectl":
                out = await kubectl.ok("top", *args)
            else:
                r = await pyctl(api.url, "top", *args, config=tmp_path / "pyctl-config")
                assert r.code == 0, r.err
                out = r.out
            return [line.split() for line in out.splitlines()]

        nodes = await top("nodes")
        assert nodes[0] == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"], tool
        assert sorted(row[0] for row in nodes[1:]) == NODES
        assert all(row[1].endswith("m") and row[2].endswith("%") and row[3].endswith("Mi") for row in nodes[1:])
        pods = await top("pods", "-l", "app=top")
        assert pods[0] == ["NAME", "CPU(cores)", "MEMORY(bytes)"] and len(pods) == 3, (tool, pods)
        assert all(250 <= int(row[1][:-1]) <= 350 and row[2] == "48Mi" for row in pods[1:]), (tool, pods)
        containers = await top("pods", "-l", "app=top", "--containers")
        assert containers[0] == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
        assert [row[1] for row in containers[1:]] == ["c", "c"]
    # an empty namespace, and a pod with no metrics, as kubectl words them
    r = await pyctl(api.url, "top", "pod", "-n", "kube-system", config=tmp_path / "pyctl-config")
    assert (r.code, r.err) == (0, "No resources found in kube-system namespace.\n")
    r = await pyctl(api.url, "top", "pod", "nosuch", config=tmp_path / "pyctl-config")
    assert r.code == 1 and 'podmetrics.metrics.k8s.io "default/nosuch" not found' in r.err


async def _count(client, query: str, n: int) -> bool:
    code, body = await client.request("GET", f"{METRICS}/namespaces/default/pods{query}")
    return code == 200 and len(body["items"]) == n
