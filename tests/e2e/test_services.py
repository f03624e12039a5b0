"""Services end to end, as root: a pod reaches a Service's ClusterIP through the node's proxy.

Real etcd, API server, controllers (deployment, replicaset, endpoints), gateway and a runc
agent. The node is a network namespace THIS test creates: the agent's CNI plugins run in it
(wrappers that `nsenter` it), so the pod bridge lives there, and the agent's service proxy
programs its iptables NAT there, never the host's. A client pod fetches the ClusterIP and
gets answers from both backends; after scaling one away only the other answers; the pods
carry the service env vars; a pod resolves the Service's name through the node's cluster
DNS (also bound in that namespace); stopping the agent removes every PYCTL chain. The
namespace is deleted afterwards.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from agent.main import service_route_setter
from agent.network import netns as nsmod
from agent.network.dns import DnsServer
from agent.network.serviceproxy import ServiceProxy
from agent.node import Agent
from agent.nodeinfo import local_registration
from agent.pods import PodTimings
from agent.session import SessionConfig
from controlplane.controllers.manager import ControllerManager
from controlplane.gateway import GatewayConfig, start_gateway

from ..cluster import wait_until
from .test_exec import agent_exec, joined
from .test_runtime import HTTP_GET, Node, node, pytestmark  # noqa: F401  (the fixture and the root/runc skip)

FAST = GatewayConfig(heartbeat_period=0.2, lease_renew_interval=0.5, status_flush_interval=0.05)
NS = "/api/v1/namespaces/default"
PLUGINS = ("bridge", "host-local", "loopback", "portmap")


def iptables_nat(netns: Path) -> str:
    return subprocess.run(["nsenter", f"--net={netns}", "--", "iptables-save", "-t", "nat"],
                          capture_output=True, text=True, check=True, timeout=20).stdout


@pytest.fixture
async def services_node(api, node: Node, tmp_path: Path):  # noqa: F811
    """(client, agent, node netns path): the whole stack, the agent's network in a netns of ours."""
    name = f"pysvc-{uuid.uuid4().hex[:8]}"
    netns = Path("/run/netns") / name
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=20)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, timeout=20)
    wrappers = tmp_path / "cni-bin"
    wrappers.mkdir()
    for plugin in PLUGINS:  # the plugins make the bridge (and turn on forwarding) in the node netns
        real = next(Path(d) / plugin for d in node.net.cni_path.split(":") if (Path(d) / plugin).exists())
        w = wrappers / plugin
        w.write_text(f'#!/bin/sh\nexec nsenter --net={netns} -- {real} "$@"\n')
        w.chmod(0o755)
    node.net = replace(node.net, cni_path=str(wrappers))
    node.rt = node.runtime()
    dns = DnsServer(node.cidr.replace(".0/24", ".1"), netns=str(netns))  # the bridge's gateway address
    node.rt.cluster_dns = dns.address
    manager = ControllerManager(api.url, leader_election=False,
                                controllers=("deployment", "replicaset", "endpoints"))
    gateway = agent = None
    left = ""
    try:
        await manager.start()
        gateway = await start_gateway(api.url, "127.0.0.1:0", FAST)
        agent = Agent(gateway.address, local_registration("e1", node.rt.version, "127.0.0.1"), node.rt,
                      host_ip="127.0.0.1", pod_timings=PodTimings(resync_period=0.2, backoff_base=0.2),
                      session_config=SessionConfig(backoff_base=0.05, backoff_max=0.5), listen="127.0.0.1:0",
                      service_proxy=ServiceProxy(resync_period=2.0, netns=str(netns)),
                      on_service_cidr=service_route_setter(node.rt), dns=dns).start()
        from tests.cluster import Client
        client = Client(api.url)
        try:
            yield client, agent, netns
        finally:
            await client.close()
    finally:
        try:
            if agent is not None:
                await agent.stop()
                left = iptables_nat(netns)
        finally:
            try:
                if gateway is not None:
                    await gateway.stop()
                await manager.stop()
            finally:
                await node.cleanup()  # pods first: their CNI DEL runs in the node netns
                subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)
    assert not netns.exists()
    assert "PYCTL" not in left, f"the proxy left rules behind:\n{left}"


def web_deployment(replicas: int) -> dict:
    labels = {"app": "web"}
    serve = "echo $POD_NAME > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "nodeName": "e1", "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", serve],
                                         "env": [{"name": "POD_NAME", "valueFrom": {
                                             "fieldRef": {"fieldPath": "metadata.name"}}}]}]}}}}


def plain_pod(name: str, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": "e1", "terminationGracePeriodSeconds": 1, **spec,
                     "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}


async def running(client, name: str) -> dict | None:
    _, got = await client.request("GET", f"{NS}/pods/{name}")
    ok = any("running" in (s.get("state") or {}) for s in (got.get("status") or {}).get("containerStatuses") or [])
    return got if ok else None


async def ready_endpoints(client) -> list[str]:
    code, ep = await client.request("GET", f"{NS}/endpoints/web")
    if code != 200:
        return []
    return sorted(a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses") or [])


async def fetch_names(client_ns: Path, url: str, times: int) -> list[str]:
    """`times` fetches of `url` from inside the client pod (each a new connection)."""
    out = []
    for _ in range(times):  # bounded; a failed fetch is recorded, not retried
        rc, body, _ = await nsmod.run_in_netns(client_ns, sys.executable, "-c", HTTP_GET, url, timeout=20)
        out.append(body.strip() if rc == 0 else "<failed>")
    return out


async def test_a_pod_reaches_both_backends_by_cluster_ip_then_only_the_one_left(services_node, node):  # noqa: F811
    client, agent, netns = services_node
    code, svc = await client.request("POST", f"{NS}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
    assert code == 201, svc
    ip = svc["spec"]["clusterIP"]
    code, body = await client.request("POST", "/apis/apps/v1/namespaces/default/deployments", web_deployment(2))
    assert code == 201, body
    code, body = await client.request("POST", f"{NS}/pods", plain_pod("client"))
    assert code == 201, body
    await wait_until(lambda: running(client, "client"), timeout=90)
    await wait_until(lambda: _count(ready_endpoints(client), 2), timeout=90)
    client_ns = node.state / "pods" / body["metadata"]["uid"] / "ns" / "net"

    # The pod routes the service CIDR via its bridge (learned from the ServiceTable).
    rc, routes, _ = await nsmod.run_in_netns(client_ns, "ip", "route")
    assert rc == 0 and "10.96.0.0/16 via" in routes, routes
    await wait_until(lambda: f"-d {ip}/32 -p tcp -m tcp --dport 80" in (nat := iptables_nat(netns))
                     and "statistic --mode random" in nat, timeout=30)

    _, pods = await client.request("GET", f"{NS}/pods", params={"labelSelector": "app=web"})
    names = {p["metadata"]["name"] for p in pods["items"]}
    seen: set[str] = set()
    for _ in range(10):  # bounded: 10 rounds of 10 fetches; each backend has half the chance
        seen.update(await fetch_names(client_ns, f"http://{ip}/index.html", 10))
        if names <= seen:
            break
    assert names <= seen, seen

    code, _ = await client.request("PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale",
                                   data='{"spec": {"replicas": 1}}',
                                   headers={"Content-Type": "application/merge-patch+json"})
    assert code == 200
    await wait_until(lambda: _count(ready_endpoints(client), 1), timeout=90)
    _, pods = await client.request("GET", f"{NS}/pods", params={"labelSelector": "app=web"})
    left = {p["metadata"]["name"] for p in pods["items"] if not p["metadata"].get("deletionTimestamp")}
    assert len(left) == 1

    async def only_the_one_left() -> bool:
        return set(await fetch_names(client_ns, f"http://{ip}/index.html", 8)) == left
    await wait_until(only_the_one_left, timeout=60, interval=0.5)


async def test_pods_get_service_env_vars_unless_they_opt_out(services_node):
    client, agent, _ = services_node
    code, svc = await client.request("POST", f"{NS}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "my-db"},
        "spec": {"selector": {"app": "db"}, "ports": [{"name": "sql", "port": 5432}]}})
    assert code == 201, svc
    ip = svc["spec"]["clusterIP"]
    await wait_until(lambda: agent.session.services is not None and any(
        s.name == "my-db" for s in agent.session.services.services), timeout=30)
    for name, spec in (("linked", {}), ("unlinked", {"enableServiceLinks": False})):
        code, body = await client.request("POST", f"{NS}/pods", plain_pod(name, **spec))
        assert code == 201, body
    await wait_until(lambda: running(client, "linked"), timeout=90)
    await wait_until(lambda: running(client, "unlinked"), timeout=90)
    port = agent.registration.agent_port
    env = joined(await agent_exec(port, "linked", ["env"]), "stdout").decode()
    for line in (f"MY_DB_SERVICE_HOST={ip}", "MY_DB_SERVICE_PORT=5432", "MY_DB_SERVICE_PORT_SQL=5432",
                 f"MY_DB_PORT=tcp://{ip}:5432", f"MY_DB_PORT_5432_TCP_ADDR={ip}"):
        assert line in env.splitlines(), env
    env = joined(await agent_exec(port, "unlinked", ["env"]), "stdout").decode()
    assert "MY_DB_SERVICE_HOST" not in env


async def _count(ips, n: int) -> bool:
    return len(await ips) == n


async def test_a_pod_resolves_services_by_name_through_cluster_dns(services_node):
    client, agent, _ = services_node
    code, svc = await client.request("POST", f"{NS}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    assert code == 201, svc
    await wait_until(lambda: agent.dns.table is not None and any(s.name == "web" for s in agent.dns.table.services),
                     timeout=30)
    code, body = await client.request("POST", f"{NS}/pods", plain_pod("asker"))
    assert code == 201, body
    await wait_until(lambda: running(client, "asker"), timeout=90)
    port = agent.registration.agent_port
    conf = joined(await agent_exec(port, "asker", ["cat", "/etc/resolv.conf"]), "stdout").decode()
    assert conf.splitlines() == [f"nameserver {agent.dns.address}",
                                 "search default.svc.cluster.local svc.cluster.local cluster.local",
                                 "options ndots:5"]
    out = await agent_exec(port, "asker", ["nslookup", "web.default.svc.cluster.local"])
    assert out[-1].exit_code == 0 and f"Address: {svc['spec']['clusterIP']}" in joined(out, "stdout").decode()
    out = await agent_exec(port, "asker", ["nslookup", "web"])  # the search path of resolv.conf
    assert f"Address: {svc['spec']['clusterIP']}" in joined(out, "stdout").decode(), joined(out, "stdout")
    out = await agent_exec(port, "asker", ["nslookup", "example.com"])  # nothing is forwarded
    assert out[-1].exit_code != 0 and "REFUSED" in joined(out, "stdout").decode()
