"""Node events end to end with hollow agents, the real gateway, scheduler and API server: what a
user reads under `pyctl describe pod` (Scheduled, Created, Started, Unhealthy, Killing, BackOff),
written once per repeat-group with a count, and refused for pods bound to another node."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from agent.hollow import run_hollow_agents, stop_agents
from controlplane.scheduler import run_scheduler
from pyctl_proto import node_pb2 as pb

from ..cluster import wait_until
from .test_agent import AGENT_OPTS
from .test_gateway import PODS, node_ready, pod
from .test_gateway_protocol import gateway, raw  # noqa: F401 (fixtures)
from .test_pyctl import pyctl
from .test_scheduler import FAST as FAST_SCHEDULER

EVENTS = "/api/v1/namespaces/default/events"


async def events_of(client, name: str) -> list[dict]:
    _, body = await client.request("GET", f"{EVENTS}?fieldSelector=involvedObject.name={name}")
    return body.get("items") or []


async def event(client, name: str, reason: str, count: int = 1) -> dict | None:
    found = [e for e in await events_of(client, name) if e["reason"] == reason and e.get("count", 1) >= count]
    return found[0] if found else None


def web(name: str, node: str = "", **annotations: str) -> dict:
    p = pod(name, node, **annotations)
    if not node:
        del p["spec"]["nodeName"]
    p["spec"]["containers"][0]["name"] = "web"
    return p


@pytest.fixture
async def node_a(client, gateway):  # noqa: F811
    """A hollow agent, node-a, Ready behind the gateway."""
    agents = await run_hollow_agents(gateway.address, ["node-a"], **AGENT_OPTS)
    await wait_until(lambda: node_ready(client, "node-a"), timeout=15)
    yield gateway
    await stop_agents(agents)


@pytest.fixture
async def n1(client, raw):  # noqa: F811
    """A raw session registered as node n1, with pod `mine` bound to it and `theirs` to n2."""
    await client.request("POST", PODS, web("theirs", "n2"))
    await client.request("POST", PODS, web("mine", "n1"))
    agent = raw()
    await agent.register("n1")
    return agent


async def test_a_pod_shows_scheduled_created_started_then_killing_in_describe(client, api, node_a):
    stop = asyncio.Event()
    scheduler = asyncio.create_task(run_scheduler(api.url, stop=stop, config=FAST_SCHEDULER))
    try:
        assert (await client.request("POST", PODS, web("web-1")))[0] == 201
        started = await wait_until(lambda: event(client, "web-1", "Started"), timeout=20)
        _, live = await client.request("GET", f"{PODS}/web-1")
        assert started["involvedObject"] == {
            "kind": "Pod", "apiVersion": "v1", "name": "web-1", "namespace": "default",
            "uid": live["metadata"]["uid"], "resourceVersion": started["involvedObject"]["resourceVersion"],
            "fieldPath": "spec.containers{web}"}
        assert started["source"] == {"component": "pyctl-agent", "host": "node-a"}
        assert started["reportingInstance"] == "node-a" and started["message"] == "Started container web"
        created = await event(client, "web-1", "Created")
        assert created and created["message"] == "Created container web" and created["type"] == "Normal"
        # The hollow runtime pulls nothing, so it reports no pull.
        assert not {"Pulling", "Pulled"} & {e["reason"] for e in await events_of(client, "web-1")}

        r = await pyctl(api.url, "describe", "pod", "web-1")
        assert r.code == 0, r.err
        lines = r.out.splitlines()
        table = [line.split(None, 4) for line in lines[lines.index("Events:") + 3:]]
        rows = {(t[0], t[1], t[3]): t[4] for t in table if len(t) == 5}
        assert rows[("Normal", "Scheduled", "default-scheduler")].startswith("Successfully assigned default/web-1")
        assert rows[("Normal", "Created", "pyctl-agent")] == "Created container web"
        assert rows[("Normal", "Started", "pyctl-agent")] == "Started container web"
        # In the order they happened, though all three fall in the same second.
        reasons = [t[1] for t in table if len(t) == 5]
        assert reasons.index("Scheduled") < reasons.index("Created") < reasons.index("Started")
        assert started["eventTime"].endswith("Z") and len(started["eventTime"]) == len("2026-01-01T00:00:00.000000Z")

        assert (await client.request("DELETE", f"{PODS}/web-1"))[0] == 200
        killing = await wait_until(lambda: event(client, "web-1", "Killing"), timeout=20)
        assert killing["message"] == "Stopping container web"
        assert killing["involvedObject"]["fieldPath"] == "spec.containers{web}"
    finally:
        stop.set()
        await asyncio.wait_for(scheduler, 10)


async def test_a_failing_liveness_probe_reports_unhealthy_then_killing_and_restarts(client, node_a):
    p = web("dies", "node-a", **{"pyctl.io/hollow-probe-fail": "liveness"})
    p["spec"]["containers"][0]["livenessProbe"] = {
        "exec": {"command": ["cat", "/tmp/healthy"]}, "periodSeconds": 1, "failureThreshold": 1}
    assert (await client.request("POST", PODS, p))[0] == 201
    unhealthy = await wait_until(lambda: event(client, "dies", "Unhealthy"), timeout=20)
    assert unhealthy["type"] == "Warning"
    assert unhealthy["message"] == "Liveness probe failed: simulated failure (pyctl.io/hollow-probe-fail)"
    assert unhealthy["involvedObject"]["fieldPath"] == "spec.containers{web}"
    killing = await wait_until(lambda: event(client, "dies", "Killing"), timeout=20)
    assert killing["message"] == "Container web failed liveness probe, will be restarted"
    # Each restart is a new run, started again: one Event whose count grows, not a new object.
    again = await wait_until(lambda: event(client, "dies", "Started", count=2), timeout=30)
    assert [e["reason"] for e in await events_of(client, "dies")].count("Started") == 1
    assert again["lastTimestamp"] >= again["firstTimestamp"]


async def test_a_crash_loop_reports_back_off(client, node_a):
    crashing = web("crashy", "node-a", **{"pyctl.io/hollow-run-seconds": "0.1", "pyctl.io/hollow-exit-code": "1"})
    assert (await client.request("POST", PODS, crashing))[0] == 201
    backoff = await wait_until(lambda: event(client, "crashy", "BackOff"), timeout=30)
    _, live = await client.request("GET", f"{PODS}/crashy")
    assert backoff["type"] == "Warning"
    assert backoff["message"] == ("Back-off restarting failed container web in pod "
                                  f"crashy_default({live['metadata']['uid']})")


async def test_a_node_cannot_post_events_about_another_nodes_pod(client, gateway, n1):  # noqa: F811
    uids = {n: (await client.request("GET", f"{PODS}/{n}"))[1]["metadata"]["uid"] for n in ("theirs", "mine")}
    await n1.call.write(pb.AgentMessage(events=pb.EventBatch(events=[
        pb.NodeEvent(namespace="default", name=n, uid=uids[n], field_path="spec.containers{web}",
                     type="Warning", reason="Failed", message="Error: made up", count=3)
        for n in ("theirs", "mine")])))
    err = await n1.next_of("error")
    assert err.name == "theirs" and "not bound to node n1" in err.message
    mine = await wait_until(lambda: event(client, "mine", "Failed"), timeout=15)
    assert mine["count"] == 3 and mine["source"]["host"] == "n1"
    await gateway.gateway.events.flush()
    assert await events_of(client, "theirs") == []
    # The stream lives on after the refusal.
    await n1.call.write(pb.AgentMessage(heartbeat=pb.Heartbeat(seq=5)))
    assert (await n1.next_of("heartbeat_ack")).seq == 5


async def test_a_malformed_event_ends_only_that_stream_with_the_reason(client, gateway, n1):  # noqa: F811
    await n1.call.write(pb.AgentMessage(events=pb.EventBatch(events=[
        pb.NodeEvent(namespace="default", name="mine", type="Bogus", reason="Started", message="x")])))
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        while await n1.read() is not grpc.aio.EOF:
            pass
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert exc.value.details() == "events.events[0].type 'Bogus' is neither Normal nor Warning"
    await gateway.gateway.events.flush()
    assert await events_of(client, "mine") == []
