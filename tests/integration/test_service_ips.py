"""ClusterIP allocation against the real API server and etcd: what a client sees on a Service."""

from __future__ import annotations

import asyncio
import ipaddress
import json

import pytest

from tests.cluster import ApiServer, Client

SVCS = "/api/v1/namespaces/default/services"


def svc(name: str, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec}}


async def create(client: Client, body: dict) -> tuple[int, dict]:
    return await client.request("POST", SVCS, body)


async def test_create_allocates_an_ip_in_the_range_and_shows_it(client):
    code, body = await create(client, svc("web"))
    assert code == 201, body
    ip = body["spec"]["clusterIP"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/16")
    assert body["spec"]["clusterIPs"] == [ip]
    assert body["spec"]["ipFamilies"] == ["IPv4"]
    code, got = await client.request("GET", f"{SVCS}/web")
    assert got["spec"]["clusterIP"] == ip
    code, table = await client.request(
        "GET", SVCS, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert code == 200
    assert [r["cells"][2] for r in table["rows"] if r["cells"][0] == "web"] == [ip]


async def test_headless_and_external_name_get_no_ip(client):
    code, body = await create(client, svc("headless", clusterIP="None"))
    assert code == 201, body
    assert body["spec"]["clusterIP"] == "None" and body["spec"]["clusterIPs"] == ["None"]
    code, body = await create(client, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
                                       "spec": {"type": "ExternalName", "externalName": "example.invalid"}})
    assert code == 201, body
    assert "clusterIP" not in body["spec"]


async def test_requested_ip_is_honoured_then_refused_when_taken(client):
    code, body = await create(client, svc("a", clusterIP="10.96.0.10"))
    assert code == 201, body
    assert body["spec"]["clusterIPs"] == ["10.96.0.10"]
    code, body = await create(client, svc("b", clusterIP="10.96.0.10"))
    assert code == 422
    assert body["message"] == ('Service "b" is invalid: spec.clusterIPs: Invalid value: '
                               '[]string{"10.96.0.10"}: failed to allocate IP 10.96.0.10: '
                               'provided IP is already allocated')
    code, _ = await client.request("GET", f"{SVCS}/b")
    assert code == 404  # nothing stored


async def test_requested_ip_outside_the_range_is_refused(client):
    code, body = await create(client, svc("a", clusterIP="10.0.0.5"))
    assert code == 422
    assert "is not in the valid range. The range of valid IPs is 10.96.0.0/16" in body["message"]
    assert body["details"]["causes"][0]["field"] == "spec.clusterIPs"


async def test_delete_releases_the_ip(client):
    code, body = await create(client, svc("a", clusterIP="10.96.0.20"))
    assert code == 201
    code, _ = await client.request("DELETE", f"{SVCS}/a")
    assert code == 200
    code, body = await create(client, svc("b", clusterIP="10.96.0.20"))
    assert code == 201, body


async def test_ip_released_when_finalizer_removal_deletes_the_service(client):
    code, body = await create(client, {**svc("a", clusterIP="10.96.0.30"),
                                       "metadata": {"name": "a", "finalizers": ["example.com/hold"]}})
    assert code == 201, body
    assert (await client.request("DELETE", f"{SVCS}/a"))[0] == 200
    code, _ = await create(client, svc("b", clusterIP="10.96.0.30"))
    assert code == 422  # still held while the Service waits on its finalizer
    patch = {"metadata": {"finalizers": None}}
    code, _ = await client.request("PATCH", f"{SVCS}/a", data=json.dumps(patch),
                                   headers={"Content-Type": "application/merge-patch+json"})
    assert code == 200
    code, body = await create(client, svc("b", clusterIP="10.96.0.30"))
    assert code == 201, body


async def test_cluster_ip_is_immutable_and_kept_when_omitted(client):
    code, body = await create(client, svc("a"))
    ip = body["spec"]["clusterIP"]
    other = "10.96.0.99" if ip != "10.96.0.99" else "10.96.0.98"
    changed = {**body, "spec": {**body["spec"], "clusterIP": other, "clusterIPs": [other]}}
    code, err = await client.request("PUT", f"{SVCS}/a", changed)
    assert code == 422
    assert "may not change once set" in err["message"]
    # A manifest without clusterIP (kubectl apply, replace) keeps the allocated one.
    omitted = {**body, "spec": {k: v for k, v in body["spec"].items()
                                if k not in ("clusterIP", "clusterIPs")}}
    omitted["spec"]["ports"] = [{"port": 81}]
    code, got = await client.request("PUT", f"{SVCS}/a", omitted)
    assert code == 200, got
    assert got["spec"]["clusterIP"] == ip and got["spec"]["ports"][0]["port"] == 81


async def test_concurrent_creates_on_two_api_servers_never_share_an_ip(etcd):
    # A /29 has 6 usable addresses, the first the `kubernetes` Service's: 5 Services across two
    # API servers must get the 5 others, and the 6th is refused as a full range.
    servers = [await ApiServer(etcd, service_cluster_ip_range="10.96.7.0/29").start() for _ in range(2)]
    clients = [Client(s.url) for s in servers]
    try:
        results = await asyncio.gather(*(create(clients[i % 2], svc(f"s{i}")) for i in range(5)))
        assert [code for code, _ in results] == [201] * 5, results
        ips = {body["spec"]["clusterIP"] for _, body in results}
        assert len(ips) == 5 and "10.96.7.1" not in ips
        code, kubernetes = await clients[0].request("GET", f"{SVCS}/kubernetes")
        assert kubernetes["spec"]["clusterIP"] == "10.96.7.1"
        assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.7.0/29") for ip in ips)
        code, body = await create(clients[0], svc("full"))
        assert code == 500 and "range is full" in body["message"]
    finally:
        for c in clients:
            await c.close()
        for s in servers:
            await s.stop()


@pytest.mark.parametrize("cidr", ["10.96.0.0/31", "fd00::/112", "nonsense"])
def test_bad_range_is_refused_at_start(cidr):
    from controlplane.main import parse_args
    with pytest.raises(SystemExit):
        parse_args(["--etcd-servers", "http://127.0.0.1:1", "--service-cluster-ip-range", cidr])
