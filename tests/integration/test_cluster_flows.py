"""Whole-cluster flows on hollow nodes: every control-plane component as pyctl-controlplane
runs them (run_components), three hollow agents over the real gateway, real kubectl."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from agent.hollow import run_hollow_agents, stop_agents
from controlplane.components import ComponentsConfig, run_components
from controlplane.controllers.manager import ManagerConfig
from controlplane.gateway import GatewayConfig

from ..cluster import free_port, wait_until
from .kubectl import Kubectl

DEPLOY = "/apis/apps/v1/namespaces/default/deployments"
PODS = "/api/v1/namespaces/default/pods"
NODES = ["node-a", "node-b", "node-c"]


@contextlib.asynccontextmanager
async def hollow_cluster(api, client, controllers: ManagerConfig, gateway: GatewayConfig | None = None):
    """Scheduler, controllers and gateway as pyctl-controlplane runs them, and a hollow agent per
    name in NODES, all Ready; yields the agents."""
    port = free_port()
    config = ComponentsConfig(controllers=controllers, gateway_listen=f"127.0.0.1:{port}", gateway=gateway)
    running = await run_components(api.url, {"scheduler", "controllers", "gateway"}, config)
    agents = await run_hollow_agents(f"127.0.0.1:{port}", NODES)
    try:
        async def all_ready():
            _, nodes = await client.request("GET", "/api/v1/nodes")
            # A node exists for a moment before the gateway writes its status.
            conditions = [n.get("status", {}).get("conditions", []) for n in nodes["items"]]
            return sum(any(c["type"] == "Ready" and c["status"] == "True" for c in cs)
                       for cs in conditions) == len(NODES)
        await wait_until(all_ready, timeout=20)
        yield agents
    finally:
        await stop_agents(agents)
        await running.stop()


@pytest.fixture
async def cluster(api, client):
    fast = ManagerConfig(leader_election=False, node_grace=2.0, eviction_timeout=1.0, node_monitor_period=0.5)
    async with hollow_cluster(api, client, fast) as agents:
        yield dict(zip(NODES, agents))


def deployment(replicas: int, image: str = "web:1") -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


async def running_pods(client) -> list[dict]:
    _, pods = await client.request("GET", PODS + "?labelSelector=app%3Dweb")
    return [p for p in pods["items"] if not p["metadata"].get("deletionTimestamp")
            and p.get("status", {}).get("phase") == "Running"]


async def test_replicas_of_a_lost_node_come_back_on_the_others(cluster, client):
    assert (await client.request("POST", DEPLOY, deployment(6)))[0] == 201
    await wait_until(lambda: _count(client, 6), timeout=30)
    placed = {p["spec"]["nodeName"] for p in await running_pods(client)}
    assert placed == set(NODES)  # spread over every node
    await stop_agents([cluster["node-a"]])  # the node goes silent

    async def moved():
        pods = await running_pods(client)
        return len(pods) == 6 and all(p["spec"]["nodeName"] != "node-a" for p in pods)
    await wait_until(moved, timeout=60)
    _, node = await client.request("GET", "/api/v1/nodes/node-a")
    assert any(t["key"] == "node.kubernetes.io/unreachable" for t in node["spec"].get("taints", []))


async def _count(client, n: int) -> bool:
    return len(await running_pods(client)) == n


async def test_real_kubectl_rollout_status_undo_and_describe(cluster, client, api, tmp_path: Path):
    kubectl = Kubectl(api.url, tmp_path)
    assert (await client.request("POST", DEPLOY, deployment(3)))[0] == 201
    out = await kubectl.ok("rollout", "status", "deployment/web", "--timeout=60s")
    assert 'deployment "web" successfully rolled out' in out
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "web:2"}]}}}}
    await client.request("PATCH", f"{DEPLOY}/web", data=json.dumps(patch),
                         headers={"Content-Type": "application/strategic-merge-patch+json"})
    out = await kubectl.ok("rollout", "status", "deployment/web", "--timeout=60s")
    assert out.strip().endswith('deployment "web" successfully rolled out')
    out = await kubectl.ok("rollout", "undo", "deployment/web")
    assert "deployment.apps/web rolled back" in out
    await kubectl.ok("rollout", "status", "deployment/web", "--timeout=60s")
    _, dep = await client.request("GET", f"{DEPLOY}/web")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "web:1"
    described = await kubectl.ok("describe", "deployment", "web")
    assert "Replicas:" in described and "3 desired | 3 updated | 3 total | 3 available" in described
    assert "NewReplicaSet:" in described and "ScalingReplicaSet" in described
