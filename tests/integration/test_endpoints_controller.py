"""Endpoints controller against the real API server. No agent runs: pod status (podIP,
Ready) is written through the API's /status subresource, as an agent's gateway would."""

from __future__ import annotations

import pytest

from controlplane.controllers.endpoints import desired_subsets, resolve_port, run_endpoints_controller

from ..cluster import wait_until

NS = "/api/v1/namespaces/default"


@pytest.fixture
async def controller(api):
    c = await run_endpoints_controller(api.url)
    yield c
    await c.stop()


def pod(name: str, labels: dict[str, str], node: str = "node-a") -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels},
            "spec": {"nodeName": node, "containers": [{
                "name": "web", "image": "busybox",
                "ports": [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9090}]}]}}


def service(name: str, selector: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": {"team": "a"}},
            "spec": {"selector": selector, "ports": [
                {"name": "web", "port": 80, "targetPort": "http"},
                {"name": "raw", "port": 81, "targetPort": 7000}]}}


async def set_status(client, name: str, ip: str, ready: bool) -> None:
    status, body = await client.request("GET", f"{NS}/pods/{name}")
    assert status == 200
    body["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                      "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    status, body = await client.request("PUT", f"{NS}/pods/{name}/status", body)
    assert status == 200, body


async def endpoints(client, name: str) -> dict | None:
    status, body = await client.request("GET", f"{NS}/endpoints/{name}")
    return body if status == 200 else None


def addresses(ep: dict | None, field: str) -> list[str]:
    return sorted(a["targetRef"]["name"] for s in (ep or {}).get("subsets") or [] for a in s.get(field, []))


async def test_service_gets_ready_and_not_ready_addresses_with_resolved_ports(client, controller):
    for i, ip in enumerate(("10.1.0.3", "10.1.0.2", "10.1.0.4")):
        assert (await client.request("POST", f"{NS}/pods", pod(f"web-{i}", {"app": "web"})))[0] == 201
        await set_status(client, f"web-{i}", ip, ready=i != 2)
    assert (await client.request("POST", f"{NS}/pods", pod("other", {"app": "db"})))[0] == 201
    await set_status(client, "other", "10.1.0.9", ready=True)
    assert (await client.request("POST", f"{NS}/pods", pod("no-ip", {"app": "web"})))[0] == 201
    assert (await client.request("POST", f"{NS}/services", service("web", {"app": "web"})))[0] == 201

    async def complete():
        ep = await endpoints(client, "web")
        return ep if addresses(ep, "addresses") == ["web-0", "web-1"] and \
            addresses(ep, "notReadyAddresses") == ["web-2"] else None
    ep = await wait_until(complete, timeout=10)

    assert ep["metadata"]["labels"] == {"team": "a"}
    [subset] = ep["subsets"]
    assert sorted((p["name"], p["port"], p["protocol"]) for p in subset["ports"]) == \
        [("raw", 7000, "TCP"), ("web", 8080, "TCP")]
    first = subset["addresses"][0]
    assert first["ip"] == "10.1.0.2" and first["nodeName"] == "node-a"
    assert first["targetRef"]["kind"] == "Pod" and first["targetRef"]["namespace"] == "default"
    _, web1 = await client.request("GET", f"{NS}/pods/web-1")
    assert first["targetRef"] == {"kind": "Pod", "name": "web-1", "namespace": "default",
                                  "uid": web1["metadata"]["uid"]}

    # A pod becoming Ready moves across.
    await set_status(client, "web-2", "10.1.0.4", ready=True)

    async def all_ready():
        ep = await endpoints(client, "web")
        return addresses(ep, "addresses") == ["web-0", "web-1", "web-2"] and \
            not addresses(ep, "notReadyAddresses")
    await wait_until(all_ready, timeout=10)

    # A sync that finds nothing different writes nothing.
    ep = await endpoints(client, "web")
    rv = ep["metadata"]["resourceVersion"]
    await wait_until(lambda: (controller.endpoints.get("default/web") or {}).get("metadata", {})
                     .get("resourceVersion") == rv, timeout=10)
    await controller.sync("default/web")
    assert (await endpoints(client, "web"))["metadata"]["resourceVersion"] == rv

    # A pod whose labels no longer match drops out; a deleted pod too.
    _, web0 = await client.request("GET", f"{NS}/pods/web-0")
    web0["metadata"]["labels"] = {"app": "elsewhere"}
    assert (await client.request("PUT", f"{NS}/pods/web-0", web0))[0] == 200
    assert (await client.request("DELETE", f"{NS}/pods/web-1", {"gracePeriodSeconds": 0}))[0] == 200

    async def only_web2():
        return addresses(await endpoints(client, "web"), "addresses") == ["web-2"]
    await wait_until(only_web2, timeout=10)

    # The Service goes: so do its Endpoints.
    assert (await client.request("DELETE", f"{NS}/services/web"))[0] == 200

    async def gone():
        return await endpoints(client, "web") is None
    await wait_until(gone, timeout=10)


async def test_endpoints_are_repaired_and_selectorless_services_left_alone(client, controller):
    assert (await client.request("POST", f"{NS}/services", service("empty", {"app": "none"})))[0] == 201
    await wait_until(lambda: endpoints(client, "empty"), timeout=10)
    manual = service("manual", {})  # an empty selector is no selector: the Endpoints are the user's
    assert (await client.request("POST", f"{NS}/services", manual))[0] == 201
    user_ep = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "manual"},
               "subsets": [{"addresses": [{"ip": "192.0.2.1"}], "ports": [{"port": 80}]}]}
    assert (await client.request("POST", f"{NS}/endpoints", user_ep))[0] == 201

    # Someone scribbles on a managed Endpoints: the controller puts it back.
    _, ep = await client.request("GET", f"{NS}/endpoints/empty")
    ep["subsets"] = [{"addresses": [{"ip": "192.0.2.7"}], "ports": [{"port": 1}]}]
    assert (await client.request("PUT", f"{NS}/endpoints/empty", ep))[0] == 200

    async def repaired():
        ep = await endpoints(client, "empty")
        return ep is not None and not ep.get("subsets")
    await wait_until(repaired, timeout=10)
    ep = await endpoints(client, "manual")
    assert ep["subsets"][0]["addresses"][0]["ip"] == "192.0.2.1"


def test_port_resolution_and_packing():
    p = pod("a", {"app": "x"})
    p["metadata"]["uid"] = "u1"
    p["status"] = {"podIP": "10.0.0.1", "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    assert resolve_port(p, {"port": 80, "targetPort": "http"}) == 8080
    assert resolve_port(p, {"port": 80, "targetPort": "http", "protocol": "UDP"}) is None
    assert resolve_port(p, {"port": 80, "targetPort": 9}) == 9
    assert resolve_port(p, {"port": 80}) == 80
    q = {**p, "metadata": {"name": "b", "uid": "u2"},
         "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 3000}]}]},
         "status": {**p["status"], "podIP": "10.0.0.2"}}
    svc = {"metadata": {"name": "s"}, "spec": {"ports": [{"name": "w", "port": 80, "targetPort": "http"}]}}
    subsets = desired_subsets(svc, [p, q])
    assert [[a["ip"] for a in s["addresses"]] for s in subsets] == [["10.0.0.2"], ["10.0.0.1"]]
    assert [s["ports"][0]["port"] for s in subsets] == [3000, 8080]
    finished = {**p, "spec": {**p["spec"], "restartPolicy": "Never"}, "status": {**p["status"], "phase": "Succeeded"}}
    terminating = {**p, "metadata": {**p["metadata"], "deletionTimestamp": "2020-01-01T00:00:00Z"}}
    assert desired_subsets(svc, [finished, terminating]) == []
