"""The whole autoscaling loop on real runc pods, as root: a CPU-bound Deployment (busybox spinning
for a bounded time, capped by a CPU limit) is measured from its cgroups by the agent, served as
metrics.k8s.io by the API server, scaled up by a HorizontalPodAutoscaler, and scaled back down
once the load stops. Short metric resolution, sync period and stabilization windows (controller
flags and the HPA's own behavior) keep it to a minute or so instead of the defaults' minutes."""

from __future__ import annotations

import pytest

from controlplane.components import ComponentsConfig, run_components
from controlplane.controllers.manager import ManagerConfig
from controlplane.controllers.podautoscaler import AutoscalerConfig
from controlplane.gateway import GatewayConfig

from ..cluster import free_port, wait_until
from .helpers import fast_agent
from .test_runtime import Node, node, pytestmark  # noqa: F401  (the fixture and the root/runc skip)

DEPLOY = "/apis/apps/v1/namespaces/default/deployments"
HPAS = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"
METRICS = "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods"
BURN_SECONDS = 20  # how long each pod spins (bounded), then it sleeps


@pytest.fixture
async def cluster(api, client, node: Node):  # noqa: F811
    port = free_port()
    autoscaler = AutoscalerConfig(sync_period=1.0, downscale_stabilization=3.0, cpu_initialization_period=0.0,
                                  initial_readiness_delay=0.0)
    config = ComponentsConfig(
        controllers=ManagerConfig(leader_election=False, autoscaler=autoscaler,
                                  controllers=("replicaset", "deployment", "horizontalpodautoscaling")),
        gateway_listen=f"127.0.0.1:{port}",
        gateway=GatewayConfig(heartbeat_period=0.2, lease_renew_interval=0.5, status_flush_interval=0.05,
                              metrics_period=1.0, metrics_flush_interval=0.2))
    running = await run_components(api.url, {"scheduler", "controllers", "gateway"}, config)
    agent = fast_agent(f"127.0.0.1:{port}", node.rt)
    try:
        yield client
    finally:
        await client.request("DELETE", f"{DEPLOY}/burn?propagationPolicy=Background")
        await agent.stop()
        await running.stop()


def burner() -> dict:
    script = f"timeout {BURN_SECONDS} sh -c 'while :; do :; done'; exec sleep 3600"
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "burn"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "burn"}},
                     "template": {"metadata": {"labels": {"app": "burn"}}, "spec": {
                         "terminationGracePeriodSeconds": 0,
                         "containers": [{"name": "burn", "image": "busybox", "command": ["sh", "-c", script],
                                         "resources": {"requests": {"cpu": "100m"},
                                                       "limits": {"cpu": "200m", "memory": "64Mi"}}}]}}}}


async def replicas(client) -> int:
    _, scale = await client.request("GET", f"{DEPLOY}/burn/scale")
    return scale["spec"]["replicas"]


async def test_a_cpu_bound_deployment_scales_up_and_back_down(cluster) -> None:
    client = cluster
    assert (await client.request("POST", DEPLOY, burner()))[0] == 201
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "burn"},
           "spec": {"scaleTargetRef": dict(apiVersion="apps/v1", kind="Deployment", name="burn"),
                    "minReplicas": 1, "maxReplicas": 3,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                        "type": "Utilization", "averageUtilization": 50}}}],
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 3}}}}
    assert (await client.request("POST", HPAS, hpa))[0] == 201

    # The agent reads the spinning container's cgroup: close to its 200m limit, far above 50m.
    async def burning() -> bool:
        code, body = await client.request("GET", METRICS)
        cpus = [int(c["usage"]["cpu"].rstrip("n")) for m in (body or {}).get("items", []) for c in m["containers"]]
        return code == 200 and any(cpu > 100_000_000 for cpu in cpus)
    await wait_until(burning, timeout=60, interval=0.5)

    async def at(n: int) -> bool:
        return await replicas(client) == n
    await wait_until(lambda: at(3), timeout=60, interval=0.5)
    # Every pod stops spinning BURN_SECONDS after it started: usage falls, and the HPA scales in.
    await wait_until(lambda: at(1), timeout=90, interval=0.5)
    _, obj = await client.request("GET", f"{HPAS}/burn")
    assert obj["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"] < 50
    _, events = await client.request("GET", "/api/v1/namespaces/default/events?fieldSelector=reason%3DSuccessfulRescale")
    messages = [e["message"] for e in events["items"]]
    assert any(m.startswith("New size: 3;") for m in messages) and any(m.startswith("New size: 1;") for m in messages)
