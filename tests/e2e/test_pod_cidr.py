"""A runc agent started without --pod-cidr, as root: it runs no pod before the node IPAM
controller has given its Node a podCIDR, then runs pods with IPs from that podCIDR (real
etcd, API server, gateway, controller, CNI and runc; the test's own bridge and podCIDRs,
removed afterwards by the runtime tests' `node` fixture)."""

from __future__ import annotations

import ipaddress

from agent.main import pod_network_setter
from agent.node import Agent
from agent.nodeinfo import local_registration
from agent.session import SessionConfig
from controlplane.controllers.manager import ControllerManager
from controlplane.gateway import GatewayConfig, start_gateway
from tests.cluster import Client, wait_until

from .helpers import container
from .test_runtime import Node, node, pytestmark  # noqa: F401  (the fixture and the root/runc skip)

PODS = "/api/v1/namespaces/default/pods"


async def test_runc_agent_runs_pods_in_the_pod_cidr_its_node_was_given(api, node: Node) -> None:  # noqa: F811
    cluster = node.cidr  # this test's own /24; the controller carves /26s from it
    gateway = await start_gateway(api.url, "127.0.0.1:0", GatewayConfig(heartbeat_period=0.2, cluster_cidr=cluster))
    ipam = ControllerManager(api.url, leader_election=False, controllers=("nodeipam",),
                             cluster_cidr=cluster, node_cidr_mask=26)
    client = Client(api.url)
    name = f"runc-{node.bridge}"
    agent = Agent(gateway.address, local_registration(name, node.rt.version, "127.0.0.1"), node.rt,
                  host_ip="127.0.0.1", listen=None, learn_pod_cidr=True,
                  on_pod_cidr=pod_network_setter(node.rt, node.net),
                  session_config=SessionConfig(backoff_base=0.05, backoff_max=0.5)).start()
    try:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
               "spec": {"nodeName": name, "terminationGracePeriodSeconds": 0,
                        "containers": [container("c", "sleep", "3600")]}}
        assert (await client.request("POST", PODS, pod))[0] == 201
        await wait_until(lambda: agent.session.waiting_for_pod_cidr, timeout=30)  # held: no podCIDR yet
        assert await node.rt.list_pods() == []

        await ipam.start()

        async def running() -> dict | None:
            _, body = await client.request("GET", f"{PODS}/web")
            return body if body.get("status", {}).get("phase") == "Running" else None
        body = await wait_until(running, timeout=60)
        _, n = await client.request("GET", f"/api/v1/nodes/{name}")
        pod_cidr = ipaddress.ip_network(n["spec"]["podCIDR"])
        assert pod_cidr.prefixlen == 26 and pod_cidr.subnet_of(ipaddress.ip_network(cluster))
        assert ipaddress.ip_address(body["status"]["podIP"]) in pod_cidr

        assert (await client.request("DELETE", f"{PODS}/web"))[0] == 200

        async def gone() -> bool:
            return (await client.request("GET", f"{PODS}/web"))[0] == 404 and await node.rt.list_pods() == []
        await wait_until(gone, timeout=60)
    finally:
        await agent.stop()
        await ipam.stop()
        await gateway.stop()
        await client.close()
