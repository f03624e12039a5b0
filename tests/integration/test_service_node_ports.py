"""Node port allocation against the real API server and etcd: what a client sees on a Service."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.cluster import ApiServer, Client

SVCS = "/api/v1/namespaces/default/services"
MERGE = {"Content-Type": "application/merge-patch+json"}


def svc(name: str, kind: str = "NodePort", ports: list | None = None, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": kind, "selector": {"app": name}, "ports": ports or [{"port": 80}], **spec}}


async def create(client: Client, body: dict) -> tuple[int, dict]:
    return await client.request("POST", SVCS, body)


async def patch(client: Client, name: str, body: dict) -> tuple[int, dict]:
    return await client.request("PATCH", f"{SVCS}/{name}", data=json.dumps(body), headers=MERGE)


async def test_every_port_gets_a_node_port_in_the_range_shown_in_the_table(client):
    code, body = await create(client, svc("web", ports=[{"name": "http", "port": 80},
                                                         {"name": "https", "port": 443}]))
    assert code == 201, body
    ports = [p["nodePort"] for p in body["spec"]["ports"]]
    assert len(set(ports)) == 2 and all(30000 <= p <= 32767 for p in ports)
    assert body["spec"]["externalTrafficPolicy"] == "Cluster"
    code, table = await client.request("GET", f"{SVCS}/web",
                                       headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert [r["cells"][4] for r in table["rows"]] == [f"80:{ports[0]}/TCP,443:{ports[1]}/TCP"]


async def test_requested_port_is_honoured_then_refused_when_taken_or_out_of_range(client):
    code, body = await create(client, svc("a", ports=[{"port": 80, "nodePort": 30080}]))
    assert code == 201, body
    assert body["spec"]["ports"][0]["nodePort"] == 30080
    code, body = await create(client, svc("b", ports=[{"port": 80, "nodePort": 30080}]))
    assert code == 422
    assert body["message"] == ('Service "b" is invalid: spec.ports[0].nodePort: Invalid value: 30080: '
                               'provided port is already allocated')
    code, body = await create(client, svc("c", ports=[{"port": 80, "nodePort": 8080}]))
    assert code == 422
    assert body["message"] == ('Service "c" is invalid: spec.ports[0].nodePort: Invalid value: 8080: '
                               'provided port is not in the valid range. The range of valid ports is 30000-32767')
    for name in ("b", "c"):
        assert (await client.request("GET", f"{SVCS}/{name}"))[0] == 404  # nothing stored


async def test_one_node_port_serves_tcp_and_udp_of_one_service_but_not_twice_one_protocol(client):
    code, body = await create(client, svc("dns", ports=[
        {"name": "tcp", "port": 53, "protocol": "TCP", "nodePort": 30053},
        {"name": "udp", "port": 53, "protocol": "UDP", "nodePort": 30053}]))
    assert code == 201, body
    code, body = await create(client, svc("twice", ports=[
        {"name": "a", "port": 80, "nodePort": 30081}, {"name": "b", "port": 81, "nodePort": 30081}]))
    assert code == 422 and "spec.ports[1].nodePort: Duplicate value: 30081" in body["message"], body


async def test_delete_and_type_change_release_ports_and_omitted_ports_are_kept(client):
    code, a = await create(client, svc("a", ports=[{"name": "http", "port": 80, "nodePort": 30100}]))
    assert code == 201, a
    # A manifest without nodePort (kubectl apply) keeps the allocated one.
    spec = {**a["spec"], "ports": [{"name": "http", "port": 80}]}
    code, got = await client.request("PUT", f"{SVCS}/a", {**a, "spec": spec})
    assert code == 200 and got["spec"]["ports"][0]["nodePort"] == 30100, got
    # Back to ClusterIP: the port (and the external policy) go, and another Service may take it.
    code, got = await patch(client, "a", {"spec": {"type": "ClusterIP"}})
    assert code == 200, got
    assert "nodePort" not in got["spec"]["ports"][0] and "externalTrafficPolicy" not in got["spec"]
    code, b = await create(client, svc("b", ports=[{"port": 80, "nodePort": 30100}]))
    assert code == 201, b
    # Changing type to NodePort allocates in the update; a taken request is refused, nothing changes.
    code, err = await patch(client, "a", {"spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80,
                                                                                 "nodePort": 30100}]}})
    assert code == 422 and "provided port is already allocated" in err["message"], err
    code, got = await patch(client, "a", {"spec": {"type": "NodePort"}})
    assert code == 200 and 30000 <= got["spec"]["ports"][0]["nodePort"] <= 32767, got
    assert (await client.request("DELETE", f"{SVCS}/b"))[0] == 200
    code, c = await create(client, svc("c", ports=[{"port": 80, "nodePort": 30100}]))
    assert code == 201, c


async def test_load_balancer_ports_health_check_port_and_class(client):
    code, body = await create(client, svc("lb", "LoadBalancer", externalTrafficPolicy="Local"))
    assert code == 201, body
    spec = body["spec"]
    assert spec["allocateLoadBalancerNodePorts"] is True and spec["ports"][0]["nodePort"]
    assert 30000 <= spec["healthCheckNodePort"] <= 32767 and spec["healthCheckNodePort"] != spec["ports"][0]["nodePort"]
    assert body["status"] == {"loadBalancer": {}}
    code, body = await create(client, svc("noports", "LoadBalancer", allocateLoadBalancerNodePorts=False))
    assert code == 201 and "nodePort" not in body["spec"]["ports"][0], body
    code, body = await create(client, svc("hc", "NodePort", healthCheckNodePort=31000))
    assert code == 422 and "spec.healthCheckNodePort: Invalid value: 31000: may only be set when `type` is " \
        "'LoadBalancer' and `externalTrafficPolicy` is 'Local'" in body["message"], body
    code, body = await create(client, svc("cls", "NodePort", loadBalancerClass="example.com/lb"))
    assert code == 422 and "spec.loadBalancerClass: Forbidden: may only be used when `type` is " \
        "'LoadBalancer'" in body["message"], body
    code, body = await create(client, svc("ext", "LoadBalancer", loadBalancerClass="example.com/lb"))
    assert code == 201, body
    code, body = await patch(client, "ext", {"spec": {"loadBalancerClass": "example.com/other"}})
    assert code == 422 and "spec.loadBalancerClass: Invalid value: \"example.com/other\": may not change " \
        "once set" in body["message"], body
    # Local -> Cluster: the health check port is released with the policy.
    hc = spec["healthCheckNodePort"]
    code, body = await patch(client, "lb", {"spec": {"externalTrafficPolicy": "Cluster"}})
    assert code == 200 and "healthCheckNodePort" not in body["spec"], body
    code, body = await create(client, svc("again", ports=[{"port": 80, "nodePort": hc}]))
    assert code == 201, body


async def test_ports_survive_an_api_server_restart(etcd):
    server = await ApiServer(etcd).start()
    client = Client(server.url)
    try:
        code, body = await create(client, svc("keep"))
        assert code == 201
        port = body["spec"]["ports"][0]["nodePort"]
    finally:
        await client.close()
        await server.stop()
    server = await ApiServer(etcd).start()
    client = Client(server.url)
    try:
        code, body = await create(client, svc("other", ports=[{"port": 80, "nodePort": port}]))
        assert code == 422 and "provided port is already allocated" in body["message"]
    finally:
        await client.close()
        await server.stop()


async def test_concurrent_creates_on_two_api_servers_never_share_a_port(etcd):
    # A range of 6 ports: 6 Services across two API servers get 6 different ones, the 7th is refused.
    servers = [await ApiServer(etcd, service_node_port_range="30500-30505").start() for _ in range(2)]
    clients = [Client(s.url) for s in servers]
    try:
        results = await asyncio.gather(*(create(clients[i % 2], svc(f"s{i}")) for i in range(6)))
        assert [code for code, _ in results] == [201] * 6, results
        assert {body["spec"]["ports"][0]["nodePort"] for _, body in results} == set(range(30500, 30506))
        code, body = await create(clients[0], svc("full"))
        assert code == 500 and "failed to allocate a nodePort: range is full" in body["message"], body
    finally:
        for c in clients:
            await c.close()
        for s in servers:
            await s.stop()


@pytest.mark.parametrize("text", ["30000", "30000-32767", "1-65535"])
def test_port_range_flag_accepts(text):
    from controlplane.main import parse_args
    assert parse_args(["--etcd-servers", "http://127.0.0.1:1", "--service-node-port-range", text])


@pytest.mark.parametrize("text", ["32767-30000", "0-10", "30000-70000", "ports"])
def test_bad_port_range_is_refused_at_start(text):
    from controlplane.main import parse_args
    with pytest.raises(SystemExit):
        parse_args(["--etcd-servers", "http://127.0.0.1:1", "--service-node-port-range", text])
