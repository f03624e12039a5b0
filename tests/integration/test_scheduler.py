"""The scheduler against the real API server and etcd: nodes are plain Node objects (no agents),
pods are created through the API, and we watch where the scheduler binds them."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from controlplane.scheduler import Scheduler, SchedulerConfig, run_scheduler

from ..cluster import wait_until

Obj = dict[str, Any]
PODS = "/api/v1/namespaces/default/pods"
FAST = SchedulerConfig(initial_backoff=0.05, max_backoff=0.2, unschedulable_timeout=2.0)


def node(name: str, *, cpu: str = "4", memory: str = "8Gi", pods: str = "110", labels: dict | None = None,
         taints: list | None = None, unschedulable: bool = False) -> Obj:
    spec: Obj = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": spec,
            "status": {"capacity": {"cpu": cpu, "memory": memory, "pods": pods},
                       "allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}


def pod(name: str, *, memory: str = "64Mi", cpu: str = "100m", labels: dict | None = None, **spec: Any) -> Obj:
    container: Obj = {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": cpu, "memory": memory}}}
    if "host_port" in spec:
        container["ports"] = [{"containerPort": 80, "hostPort": spec.pop("host_port")}]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": {"containers": [container], **spec}}


async def create_node(client, obj: Obj) -> None:
    status, body = await client.request("POST", "/api/v1/nodes", obj)
    assert status == 201, body
    # Status is the agent's to write; set it explicitly in case create dropped it.
    body["status"] = obj["status"]
    status, body = await client.request("PUT", f"/api/v1/nodes/{obj['metadata']['name']}/status", body)
    assert status == 200, body


async def create_pod(client, obj: Obj) -> None:
    status, body = await client.request("POST", PODS, obj)
    assert status == 201, body


async def node_of(client, name: str) -> str:
    _, body = await client.request("GET", f"{PODS}/{name}")
    return body.get("spec", {}).get("nodeName", "") if isinstance(body, dict) else ""


async def scheduled_condition(client, name: str) -> Obj:
    _, body = await client.request("GET", f"{PODS}/{name}")
    return next((c for c in body.get("status", {}).get("conditions") or [] if c["type"] == "PodScheduled"), {})


async def _condition_is(client, name: str, status: str) -> bool:
    return (await scheduled_condition(client, name)).get("status") == status


async def events_for(client, name: str) -> list[Obj]:
    _, body = await client.request("GET", "/api/v1/namespaces/default/events")
    return [e for e in body["items"] if e["involvedObject"]["name"] == name]


async def wait_bound(client, *names: str, timeout: float = 20) -> dict[str, str]:
    async def all_bound():
        placed = {n: await node_of(client, n) for n in names}
        return placed if all(placed.values()) else None
    return await wait_until(all_bound, timeout=timeout)


async def wait_unschedulable(client, name: str, message: str, timeout: float = 20) -> None:
    async def reported():
        cond = await scheduled_condition(client, name)
        return cond.get("status") == "False" and cond.get("reason") == "Unschedulable" and cond.get("message") == message
    try:
        await wait_until(reported, timeout=timeout)
    except AssertionError:
        raise AssertionError(f"PodScheduled of {name}: {await scheduled_condition(client, name)}") from None


@pytest.fixture
async def scheduler(api):
    s = Scheduler(api.url, FAST)
    await s.start()
    yield s
    await s.stop()


async def test_replicas_spread_across_all_nodes(client, scheduler):
    for n in ("node-1", "node-2", "node-3"):
        await create_node(client, node(n))
    names = [f"web-{i}" for i in range(10)]
    for name in names:
        await create_pod(client, pod(name, labels={"app": "web"}))
    placed = await wait_bound(client, *names)
    assert sorted(Counter(placed.values()).values()) == [3, 3, 4]

    await wait_until(lambda: _condition_is(client, "web-0", "True"))

    async def scheduled_event():
        return [e for e in await events_for(client, "web-0") if e["reason"] == "Scheduled"]
    (event,) = await wait_until(scheduled_event)
    assert event["type"] == "Normal" and event["source"]["component"] == "default-scheduler"
    assert event["message"] == f"Successfully assigned default/web-0 to {placed['web-0']}"


async def test_too_big_pod_stays_pending_with_the_reason_until_a_big_node_arrives(client, scheduler):
    for n in ("node-1", "node-2", "node-3"):
        await create_node(client, node(n, memory="1Gi"))
    await create_pod(client, pod("big", memory="4Gi"))
    message = "0/3 nodes are available: 3 Insufficient memory."
    await wait_unschedulable(client, "big", message)

    async def failed_events():
        return [e for e in await events_for(client, "big") if e["reason"] == "FailedScheduling"]
    (event,) = await wait_until(failed_events)
    assert event["type"] == "Warning" and event["message"] == message
    assert await node_of(client, "big") == ""

    await create_node(client, node("node-big", memory="16Gi"))
    assert await wait_bound(client, "big") == {"big": "node-big"}
    # The API server writes spec.nodeName, then the condition: poll rather than race it.
    await wait_until(lambda: _condition_is(client, "big", "True"))
    # Retries with the same message did not write a new event each time.
    assert len(await failed_events()) == 1


async def test_node_selector_taints_tolerations_and_cordoned_nodes(client, scheduler):
    await create_node(client, node("plain"))
    await create_node(client, node("ssd", labels={"disk": "ssd"}))
    await create_node(client, node("gpu", labels={"role": "gpu"},
                                   taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]))
    await create_node(client, node("cordoned", labels={"disk": "ssd", "role": "gpu"}, unschedulable=True))

    await create_pod(client, pod("wants-ssd", nodeSelector={"disk": "ssd"}))
    await create_pod(client, pod("gpu-job", nodeSelector={"role": "gpu"},
                                 tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu",
                                               "effect": "NoSchedule"}]))
    await create_pod(client, pod("intolerant", nodeSelector={"role": "gpu"}))
    plain = [f"plain-{i}" for i in range(6)]
    for name in plain:
        await create_pod(client, pod(name, labels={"app": "plain"}))

    placed = await wait_bound(client, "wants-ssd", "gpu-job", *plain)
    assert placed["wants-ssd"] == "ssd"
    assert placed["gpu-job"] == "gpu"
    assert {placed[n] for n in plain} == {"plain", "ssd"}  # never the tainted or the cordoned node
    await wait_unschedulable(client, "intolerant",
                             "0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, "
                             "1 node(s) were unschedulable, 2 node(s) didn't match Pod's node affinity/selector.")

    # Uncordoning the node lets the pod in.
    status, _ = await client.request("PATCH", "/api/v1/nodes/cordoned", {"spec": {"unschedulable": False}},
                                     headers={"Content-Type": "application/merge-patch+json"})
    assert status == 200
    assert await wait_bound(client, "intolerant") == {"intolerant": "cordoned"}


async def test_host_port_conflicts_and_freed_ports(client, scheduler):
    # hostPorts are past the baseline Pod Security level every namespace enforces by default.
    status, body = await client.request(
        "PATCH", "/api/v1/namespaces/default",
        {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}},
        headers={"Content-Type": "application/merge-patch+json"})
    assert status == 200, body
    for n in ("node-1", "node-2"):
        await create_node(client, node(n))
    for name in ("hp-1", "hp-2"):
        await create_pod(client, pod(name, host_port=8080))
    placed = await wait_bound(client, "hp-1", "hp-2")
    assert set(placed.values()) == {"node-1", "node-2"}

    await create_pod(client, pod("hp-3", host_port=8080))
    await wait_unschedulable(client, "hp-3", "0/2 nodes are available: "
                                             "2 node(s) didn't have free ports for the requested pod ports.")
    status, _ = await client.request("DELETE", f"{PODS}/hp-1", {"gracePeriodSeconds": 0})
    assert status == 200
    assert await wait_bound(client, "hp-3") == {"hp-3": placed["hp-1"]}


async def test_required_anti_affinity_keeps_replicas_apart_within_one_batch(client, scheduler):
    for n in ("node-1", "node-2"):
        await create_node(client, node(n))
    apart = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    for name in ("db-0", "db-1", "db-2"):
        await create_pod(client, pod(name, labels={"app": "db"}, affinity=apart))
    await wait_unschedulable(client, "db-2", "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules.")
    placed = await wait_bound(client, "db-0", "db-1")
    assert set(placed.values()) == {"node-1", "node-2"}


async def test_a_restarted_scheduler_never_double_binds(api, client):
    for n in ("node-1", "node-2"):
        await create_node(client, node(n))
    first = Scheduler(api.url, FAST)
    await first.start()
    try:
        await create_pod(client, pod("a-0", labels={"app": "a"}))
        await create_pod(client, pod("a-1", labels={"app": "a"}))
        before = await wait_bound(client, "a-0", "a-1")
    finally:
        await first.stop()

    names = [f"b-{i}" for i in range(20)]
    for name in names:
        await create_pod(client, pod(name, labels={"app": "b"}))
    # Two schedulers at once (an old leader that has not noticed yet, and the new one): every
    # pod is bound exactly once, whoever wins; the loser gets 409 and moves on.
    racers = [Scheduler(api.url, FAST), Scheduler(api.url, FAST)]
    for s in racers:
        await s.start()
    try:
        await wait_bound(client, *names)
        assert await wait_bound(client, "a-0", "a-1") == before  # nothing already bound moved
        await wait_until(lambda: not any(s.in_flight for s in racers))
        assert sum(s.stats["scheduled"] for s in racers) == len(names)
        assert not any(s.stats["bind_errors"] for s in racers)
    finally:
        for s in racers:
            await s.stop()


async def test_a_restarted_scheduler_sees_full_nodes_and_does_not_repeat_itself(api, client):
    for n in ("node-1", "node-2"):
        await create_node(client, node(n, pods="1"))
    scheduler = Scheduler(api.url, FAST)
    await scheduler.start()
    try:
        for name in ("x-0", "x-1"):
            await create_pod(client, pod(name))
        await wait_bound(client, "x-0", "x-1")
        await scheduler.stop()  # as on losing the lease; the same object starts again on regaining it
        await scheduler.start()
        bound = scheduler.stats["scheduled"]
        await create_pod(client, pod("x-2"))
        await wait_unschedulable(client, "x-2", "0/2 nodes are available: 2 Too many pods.")
        assert scheduler.stats["scheduled"] == bound

        await scheduler.stop()
        reported, attempts = scheduler.stats["reported"], scheduler.stats["unschedulable"]
        await scheduler.start()
        await wait_until(lambda: scheduler.stats["unschedulable"] > attempts)
        # The pod already carries this exact message: no second status write, no second event.
        assert scheduler.stats["reported"] == reported
    finally:
        await scheduler.stop()


async def test_run_scheduler_until_stopped(api, client):
    await create_node(client, node("node-1"))
    stop = asyncio.Event()
    task = asyncio.create_task(run_scheduler(api.url, stop=stop, config=FAST))
    try:
        await create_pod(client, pod("solo"))
        assert await wait_bound(client, "solo") == {"solo": "node-1"}
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_a_pod_with_a_bad_selector_is_reported_not_fatal(client, scheduler):
    await create_node(client, node("node-1"))
    bad = pod("bad", affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchExpressions": [{"key": "app", "operator": "Near"}]},
         "topologyKey": "kubernetes.io/hostname"}]}})
    status, body = await client.request("POST", PODS, bad)
    if status != 201:
        pytest.skip(f"the API server rejects the selector itself ({status})")
    await create_pod(client, pod("good"))
    assert await wait_bound(client, "good") == {"good": "node-1"}
    cond = await wait_until(lambda: _unschedulable_condition(client, "bad"))
    assert cond["message"].startswith("invalid pod spec: ")


async def _unschedulable_condition(client, name: str) -> Obj | None:
    cond = await scheduled_condition(client, name)
    return cond if cond.get("reason") == "Unschedulable" else None


async def test_only_ungated_pods_of_this_scheduler_are_placed(client, scheduler):
    await create_node(client, node("node-1"))
    await create_pod(client, pod("elsewhere", schedulerName="other-scheduler"))
    await create_pod(client, pod("gated", schedulingGates=[{"name": "example.com/wait"}]))
    await create_pod(client, pod("ours"))
    await wait_bound(client, "ours")
    await wait_until(lambda: scheduler.stats["scheduled"] >= 1)
    assert await node_of(client, "elsewhere") == "" and await node_of(client, "gated") == ""

    status, _ = await client.request("PATCH", f"{PODS}/gated", {"spec": {"schedulingGates": None}},
                                     headers={"Content-Type": "application/merge-patch+json"})
    assert status == 200
    assert await wait_bound(client, "gated") == {"gated": "node-1"}
    assert await node_of(client, "elsewhere") == ""
