"""The node gateway against the real API server, with hollow agents over real gRPC on loopback."""

from __future__ import annotations

import asyncio

import pytest

from agent.hollow import run_hollow_agents, stop_agents
from agent.pods import PodTimings
from agent.session import SessionConfig
from controlplane.client import ApiClient
from controlplane.gateway import GatewayConfig, start_gateway
from controlplane.gateway.status import PendingStatus, StatusWriter

from ..cluster import wait_until
from .test_api_watch import WatchStream

FAST = GatewayConfig(heartbeat_period=0.2, lease_renew_interval=0.5, status_flush_interval=0.05)
PODS = "/api/v1/namespaces/default/pods"


def pod(name: str, node: str, **annotations: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}}


@pytest.fixture
async def gateway(api):
    handle = await start_gateway(api.url, "127.0.0.1:0", FAST)
    yield handle
    await handle.stop()


@pytest.fixture
async def agents(gateway):
    started = []

    async def start(*names: str):
        new = await run_hollow_agents(gateway.address, list(names),
                                      pod_timings=PodTimings(resync_period=0.5, backoff_base=0.2),
                                      session_config=SessionConfig(backoff_base=0.05, backoff_max=0.5))
        started.extend(new)
        return new

    yield start
    await stop_agents(started)


async def node_ready(client, name: str) -> bool:
    status, node = await client.request("GET", f"/api/v1/nodes/{name}")
    if status != 200:
        return False
    conds = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
    return conds.get("Ready") == "True"


async def pod_phase(client, name: str) -> str | None:
    status, body = await client.request("GET", f"{PODS}/{name}")
    return body.get("status", {}).get("phase") if status == 200 else None


async def test_agents_register_nodes_ready_with_lease(client, agents):
    await agents("node-a", "node-b", "node-c")
    for n in ("node-a", "node-b", "node-c"):
        await wait_until(lambda n=n: node_ready(client, n), timeout=15)
    _, node = await client.request("GET", "/api/v1/nodes/node-b")
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "node-b"
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"] == "hollow://0.1"
    assert node["status"]["capacity"]["pods"] == "110"
    assert {"type": "InternalIP", "address": "127.0.0.1"} in node["status"]["addresses"]
    status, lease = await client.request("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-b")
    assert status == 200 and lease["spec"]["holderIdentity"] == "node-b"
    first = lease["spec"]["renewTime"]

    async def renewed():
        _, l2 = await client.request("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-b")
        return l2["spec"]["renewTime"] != first
    await wait_until(renewed, timeout=10)


async def test_pod_runs_and_status_is_written_back(client, agents):
    await agents("node-a")
    await wait_until(lambda: node_ready(client, "node-a"), timeout=15)
    status, _ = await client.request("POST", PODS, pod("web", "node-a"))
    assert status == 201
    await wait_until(lambda: pod_phase(client, "web"), timeout=10)
    await wait_until(lambda: _running_ready(client, "web"), timeout=10)
    _, body = await client.request("GET", f"{PODS}/web")
    st = body["status"]
    assert st["podIP"].startswith("198.18.") or st["podIP"].startswith("198.19.")
    assert st["hostIP"] == "127.0.0.1"
    assert st["containerStatuses"][0]["containerID"].startswith("hollow://")
    assert st["qosClass"] == "BestEffort"  # the API's field survives the agent's status patch


async def test_a_pod_that_turns_ready_keeps_no_not_ready_reason(client, agents):
    """The status is a strategic merge patch: conditions merge by type, so a condition that
    turned True must say reason: null, or it keeps the reason it had while False."""
    await agents("node-a")
    await wait_until(lambda: node_ready(client, "node-a"), timeout=15)
    body = pod("late", "node-a")
    body["spec"]["containers"][0]["readinessProbe"] = {"exec": {"command": ["true"]},
                                                       "initialDelaySeconds": 1, "periodSeconds": 1}
    assert (await client.request("POST", PODS, body))[0] == 201
    async with WatchStream(client.session, f"{client.base}{PODS}?watch=1&fieldSelector=metadata.name%3Dlate") as w:
        seen: list[dict] = []
        while not (seen and _ready(seen[-1]) == "True"):
            seen.append((await w.next(timeout=15))["object"])
    assert any(_ready(p) == "False" for p in seen)  # it was not ready first
    ready = {c["type"]: c for c in seen[-1]["status"]["conditions"] if c["type"] in ("Ready", "ContainersReady")}
    assert [c["status"] for c in ready.values()] == ["True", "True"]
    assert all("reason" not in c for c in ready.values()), ready


def _ready(pod: dict) -> str | None:
    return next((c["status"] for c in (pod.get("status") or {}).get("conditions") or []
                 if c["type"] == "Ready"), None)


async def _running_ready(client, name: str) -> bool:
    status, body = await client.request("GET", f"{PODS}/{name}")
    if status != 200:
        return False
    st = body.get("status", {})
    conds = {c["type"]: c["status"] for c in st.get("conditions", [])}
    return st.get("phase") == "Running" and conds.get("Ready") == "True"


async def test_deleted_pod_is_stopped_on_the_agent_before_it_disappears(client, agents):
    (agent,) = await agents("node-a")
    await wait_until(lambda: node_ready(client, "node-a"), timeout=15)
    await client.request("POST", PODS, pod("web", "node-a"))
    await wait_until(lambda: _running_ready(client, "web"), timeout=10)
    _, body = await client.request("GET", f"{PODS}/web")
    uid = body["metadata"]["uid"]
    assert await agent.runtime.pod_status(uid) is not None
    seen_by_stop: list[int] = []
    real_stop = agent.runtime.stop_pod

    async def stop_pod(uid_: str, grace: float) -> None:
        # What the API shows at the moment the agent stops the pod: it must still be there.
        seen_by_stop.append((await client.request("GET", f"{PODS}/web"))[0])
        await real_stop(uid_, grace)
    agent.runtime.stop_pod = stop_pod
    status, marked = await client.request("DELETE", f"{PODS}/web")
    assert status == 200 and marked["metadata"]["deletionTimestamp"]

    async def gone():
        s, _ = await client.request("GET", f"{PODS}/web")
        return s == 404
    await wait_until(gone, timeout=10)
    assert await agent.runtime.pod_status(uid) is None
    assert seen_by_stop and seen_by_stop[0] == 200  # stopped first, then confirmed and removed


def _ready(pod: dict) -> str | None:
    return next((c["status"] for c in (pod.get("status") or {}).get("conditions") or []
                 if c["type"] == "Ready"), None)


async def test_a_deleted_pod_goes_not_ready_with_its_containers_terminated_before_it_goes(client, agents):
    # As the kubelet: ADDED/MODIFIED (Ready) -> MODIFIED (deletionTimestamp) -> MODIFIED
    # (Ready=False, containers terminated, a terminal phase) -> DELETED.
    await agents("node-a")
    await wait_until(lambda: node_ready(client, "node-a"), timeout=15)
    await client.request("POST", PODS, pod("web", "node-a"))
    await wait_until(lambda: _running_ready(client, "web"), timeout=10)
    _, body = await client.request("GET", f"{PODS}/web")
    rv = body["metadata"]["resourceVersion"]
    async with WatchStream(client.session, f"{client.base}{PODS}?watch=1&resourceVersion={rv}"
                                           "&fieldSelector=metadata.name%3Dweb") as w:
        status, _ = await client.request("DELETE", f"{PODS}/web")
        assert status == 200
        seen = []
        while not seen or seen[-1]["type"] != "DELETED":
            event = await w.next(timeout=20)
            assert event is not None, seen
            seen.append(event)
    marked = [e["object"] for e in seen if e["type"] == "MODIFIED" and e["object"]["metadata"].get("deletionTimestamp")]
    stopped = [p for p in marked if _ready(p) == "False"]
    assert stopped, [(e["type"], _ready(e["object"])) for e in seen]
    first = stopped[0]
    assert first["status"]["phase"] == "Failed"  # a hollow container stops as if SIGKILLed: 137
    (cs,) = first["status"]["containerStatuses"]
    assert cs["ready"] is False and cs["state"]["terminated"]["exitCode"] == 137
    assert {c["type"]: c["status"] for c in first["status"]["conditions"]}["ContainersReady"] == "False"
    assert _ready(seen[-1]["object"]) == "False"  # the DELETED object is the stopped pod


async def test_settle_waits_for_a_status_its_flush_has_taken_but_not_begun_to_write(api, client):
    # A deletion the agent confirms waits (settle) for the status it reported before. A flush
    # takes its statuses in one go and their writes begin a loop turn later: a settle in that
    # turn once found the pod neither pending nor being written, and the deletion overtook its
    # last status (the test above then saw DELETED still Ready, now and then).
    status, created = await client.request("POST", PODS, pod("settled", "node-x"))
    assert status == 201
    writer = StatusWriter(ApiClient(api.url))
    try:
        writer.submit(PendingStatus("default", "settled", created["metadata"]["uid"],
                                    {"phase": "Running", "message": "the last report"}))
        flushing = asyncio.ensure_future(writer.flush())
        await asyncio.sleep(0)  # the flush has taken the status; its write has not begun
        assert writer.written == 0
        await writer.settle("default", "settled")
        assert writer.written == 1
        _, body = await client.request("GET", f"{PODS}/settled")
        assert body["status"]["message"] == "the last report"
        await flushing
    finally:
        await writer.client.close()


async def test_pod_status_is_written_on_arrival_not_on_a_timer(api, client):
    # With the retry pace at an hour, a status written on a tick would never arrive within the
    # wait below: the writer flushes when a report comes in (and batches only what arrives
    # while a write is under way).
    handle = await start_gateway(api.url, "127.0.0.1:0", GatewayConfig(
        heartbeat_period=0.2, lease_renew_interval=0.5, status_flush_interval=3600))
    started = []
    try:
        started = await run_hollow_agents(handle.address, ["node-slow-tick"],
                                          pod_timings=PodTimings(resync_period=0.5, backoff_base=0.2),
                                          session_config=SessionConfig(backoff_base=0.05, backoff_max=0.5))
        await wait_until(lambda: node_ready(client, "node-slow-tick"), timeout=15)
        for i in range(3):  # one after another: each write finds the writer idle
            status, _ = await client.request("POST", PODS, pod(f"eager-{i}", "node-slow-tick"))
            assert status == 201
            await wait_until(lambda i=i: _running_ready(client, f"eager-{i}"), timeout=15)
    finally:
        await stop_agents(started)
        await handle.stop()
