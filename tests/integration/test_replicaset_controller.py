"""The ReplicaSet controller against the real API server, with the real scheduler placing
pods and hollow agents over the real gateway making them Running and Ready (hollow: no
containers run, nothing else is faked). The other controller tests import these fixtures.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator

import pytest

from agent.hollow import run_hollow_agents, stop_agents
from agent.pods import PodTimings
from agent.session import SessionConfig
from controlplane.client import ApiClient
from controlplane.client.kinds import PODS
from controlplane.controllers import podutil
from controlplane.controllers.replicaset import REPLICASETS, ReplicaSetController
from controlplane.gateway import start_gateway
from controlplane.scheduler.scheduler import Scheduler, SchedulerConfig

from ..cluster import wait_until
from .test_gateway import FAST, node_ready

NODES = ("node-a", "node-b", "node-c")
RS_PATH = "/apis/apps/v1/namespaces/default/replicasets"


@pytest.fixture
async def apiclient(api):
    c = ApiClient(api.url, user_agent="test")
    yield c
    await c.close()


@contextlib.asynccontextmanager
async def hollow_nodes(api, client) -> AsyncIterator[Scheduler]:
    """Three Ready hollow nodes, and the scheduler (yielded: its counters tell what it did)."""
    gateway = await start_gateway(api.url, "127.0.0.1:0", FAST)
    agents = await run_hollow_agents(gateway.address, list(NODES),
                                     pod_timings=PodTimings(resync_period=0.5, backoff_base=0.2),
                                     session_config=SessionConfig(backoff_base=0.05, backoff_max=0.5))
    scheduler = Scheduler(api.url, SchedulerConfig(initial_backoff=0.05, max_backoff=0.2, unschedulable_timeout=2.0))
    await scheduler.start()
    try:
        for n in NODES:
            await wait_until(lambda n=n: node_ready(client, n), timeout=15)
        yield scheduler
    finally:
        await scheduler.stop()
        await stop_agents(agents)
        await gateway.stop()


@pytest.fixture
async def nodes(api, client):
    """Three Ready hollow nodes and the scheduler."""
    async with hollow_nodes(api, client):
        yield NODES


@pytest.fixture
async def rs_controller(api):
    client = ApiClient(api.url, user_agent="replicaset-controller")
    controller = ReplicaSetController(client)
    await controller.start()
    yield controller
    await controller.stop()
    await client.close()


def replicaset(name: str, replicas: int, app: str | None = None) -> dict:
    app = app or name
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": {"app": app}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


async def pods_of(apiclient: ApiClient, app: str, active_only: bool = True) -> list[dict]:
    listed = await apiclient.list(PODS, "default", label_selector=f"app={app}")
    return [p for p in listed.items if podutil.pod_active(p) or not active_only]


async def rs_status(client, name: str) -> dict:
    _, body = await client.request("GET", f"{RS_PATH}/{name}")
    return body.get("status") or {}


async def converged(client, apiclient, name: str, n: int) -> bool:
    pods = await pods_of(apiclient, name)
    st = await rs_status(client, name)
    return len(pods) == n and st.get("replicas", 0) == n and st.get("readyReplicas", 0) == n \
        and st.get("availableReplicas", 0) == n


async def test_replicaset_creates_scales_and_writes_status(client, apiclient, nodes, rs_controller):
    assert (await client.request("POST", RS_PATH, replicaset("web", 10)))[0] == 201
    await wait_until(lambda: converged(client, apiclient, "web", 10), timeout=30)
    pods = await pods_of(apiclient, "web")
    _, rs = await client.request("GET", f"{RS_PATH}/web")
    for p in pods:
        assert p["metadata"]["name"].startswith("web-") and len(p["metadata"]["name"]) == len("web-") + 5
        ref, = p["metadata"]["ownerReferences"]
        assert ref == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": rs["metadata"]["uid"],
                       "controller": True, "blockOwnerDeletion": True}
    st = await rs_status(client, "web")
    assert st["fullyLabeledReplicas"] == 10 and st["observedGeneration"] == rs["metadata"]["generation"]

    for n in (25, 3):
        status, _ = await client.request("PATCH", f"{RS_PATH}/web/scale", {"spec": {"replicas": n}},
                                         headers={"Content-Type": "application/merge-patch+json"})
        assert status == 200
        await wait_until(lambda n=n: converged(client, apiclient, "web", n), timeout=30)


async def test_scale_down_removes_unscheduled_pods_first(client, apiclient, rs_controller):
    """No nodes and no scheduler here: pods stay unscheduled until one is bound by hand."""
    await client.request("POST", RS_PATH, replicaset("few", 3))
    await wait_until(lambda: _count(apiclient, "few", 3), timeout=15)
    bound = (await pods_of(apiclient, "few"))[0]["metadata"]["name"]
    body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": bound},
            "target": {"kind": "Node", "name": "somewhere"}}
    assert (await client.request("POST", f"/api/v1/namespaces/default/pods/{bound}/binding", body))[0] == 201
    await client.request("PATCH", f"{RS_PATH}/few", {"spec": {"replicas": 1}},
                         headers={"Content-Type": "application/merge-patch+json"})
    await wait_until(lambda: _count(apiclient, "few", 1), timeout=15)
    assert [p["metadata"]["name"] for p in await pods_of(apiclient, "few")] == [bound]


async def test_orphans_matching_the_selector_are_adopted(client, apiclient, rs_controller):
    orphan = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stray", "labels": {"app": "adopt"}},
              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    assert (await client.request("POST", "/api/v1/namespaces/default/pods", orphan))[0] == 201
    await client.request("POST", RS_PATH, replicaset("adopt", 2))
    await wait_until(lambda: _count(apiclient, "adopt", 2), timeout=15)
    _, stray = await client.request("GET", "/api/v1/namespaces/default/pods/stray")
    assert stray["metadata"]["ownerReferences"][0]["name"] == "adopt"


async def test_a_pod_relabelled_out_of_the_selector_is_released_and_replaced(client, apiclient, rs_controller):
    await client.request("POST", RS_PATH, replicaset("rel", 2))
    await wait_until(lambda: _count(apiclient, "rel", 2), timeout=15)
    name = (await pods_of(apiclient, "rel"))[0]["metadata"]["name"]
    await client.request("PATCH", f"/api/v1/namespaces/default/pods/{name}", {"metadata": {"labels": {"app": "out"}}},
                         headers={"Content-Type": "application/merge-patch+json"})
    await wait_until(lambda: _count(apiclient, "rel", 2), timeout=15)

    async def released():
        _, pod = await client.request("GET", f"/api/v1/namespaces/default/pods/{name}")
        return not pod["metadata"].get("ownerReferences")
    await wait_until(released, timeout=15)
    assert name not in {p["metadata"]["name"] for p in await pods_of(apiclient, "rel")}


async def test_a_fresh_controller_after_a_kill_mid_scale_up_makes_no_duplicates(api, apiclient):
    """Cancel the controller while its slow-start batches are in flight, start a new one
    (empty expectations, new caches): it ends with exactly the desired count."""
    first = ReplicaSetController(ApiClient(api.url, user_agent="rs-1"))
    await first.start()
    await apiclient.create(REPLICASETS, replicaset("killed", 40), "default")
    await wait_until(lambda: _at_least(apiclient, "killed", 3), timeout=15)
    await first.stop()
    await first.client.close()
    midway = len(await pods_of(apiclient, "killed"))
    second = ReplicaSetController(ApiClient(api.url, user_agent="rs-2"))
    await second.start()
    try:
        await wait_until(lambda: _count(apiclient, "killed", 40), timeout=30)
        # And it stays there: no late duplicates from lagging caches.
        for _ in range(10):
            await asyncio.sleep(0.1)
            assert len(await pods_of(apiclient, "killed")) == 40
    finally:
        await second.stop()
        await second.client.close()
    assert midway <= 40


async def _count(apiclient, app: str, n: int) -> bool:
    return len(await pods_of(apiclient, app)) == n


async def _at_least(apiclient, app: str, n: int) -> bool:
    return len(await pods_of(apiclient, app)) >= n
