"""The StatefulSet controller against the real API server, with the real scheduler and hollow
agents over the real gateway (see test_replicaset_controller). Ordering is checked on every
state a pod watch shows, not at a few sampled moments."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from controlplane.client import ApiClient
from controlplane.client.kinds import PODS
from controlplane.controllers import podutil
from controlplane.controllers.statefulset import POD_INDEX_LABEL, POD_NAME_LABEL, StatefulSetController
from controlplane.machinery import history

from ..cluster import wait_until
from .test_daemonset_controller import hollow  # noqa: F401 - fixtures
from .test_replicaset_controller import apiclient, nodes, pods_of  # noqa: F401 - fixtures

STS = "/apis/apps/v1/namespaces/default/statefulsets"
CR = "/apis/apps/v1/namespaces/default/controllerrevisions"
MERGE = {"Content-Type": "application/merge-patch+json"}
STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}


@pytest.fixture
async def sts_controller(api):
    client = ApiClient(api.url, user_agent="statefulset-controller")
    controller = StatefulSetController(client)
    await controller.start()
    yield controller
    await controller.stop()
    await client.close()


def statefulset(name: str, replicas: int, image: str = "db:1", **spec) -> dict:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}, **spec}}


async def get(client, name: str) -> dict:
    return (await client.request("GET", f"{STS}/{name}"))[1]


async def names(apiclient, app: str) -> list[str]:
    return sorted(p["metadata"]["name"] for p in await pods_of(apiclient, app))


async def ready(client, name: str, n: int) -> bool:
    st = (await get(client, name)).get("status") or {}
    return st.get("readyReplicas", 0) == n and st.get("replicas", 0) == n


class Timeline:
    """Every state of an app's pods a watch shows: (name, event, ready) in order, and when."""

    def __init__(self, api: ApiClient, app: str) -> None:
        self.api, self.app = api, app
        self.events: list[tuple[str, str, bool]] = []
        self.times: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        listed = await self.api.list(PODS, "default", label_selector=f"app={self.app}")
        self._task = asyncio.create_task(self._run(listed.resource_version))

    async def _run(self, rv: str) -> None:
        async for ev in self.api.watch(PODS, "default", resource_version=rv, label_selector=f"app={self.app}"):
            pod = ev.object
            kind = "DELETED" if ev.type == "DELETED" else (
                "TERMINATING" if pod["metadata"].get("deletionTimestamp") else ev.type)
            self.events.append((pod["metadata"]["name"], kind, podutil.pod_ready(pod)))
            self.times.append(time.monotonic())

    def first(self, name: str, kind: str) -> int:
        return next(i for i, e in enumerate(self.events) if e[0] == name and e[1] == kind)

    def first_ready(self, name: str) -> int:
        return next(i for i, e in enumerate(self.events) if e[0] == name and e[2])

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def test_ordered_creation_identity_status_and_ordered_scale_down(client, apiclient, nodes, sts_controller):  # noqa: F811
    timeline = Timeline(apiclient, "web")
    await timeline.start()
    try:
        assert (await client.request("POST", STS, statefulset("web", 3)))[0] == 201
        await wait_until(lambda: ready(client, "web", 3), timeout=30)
        assert await names(apiclient, "web") == ["web-0", "web-1", "web-2"]
        # Each pod is made only once the one before it is Ready.
        assert timeline.first_ready("web-0") < timeline.first("web-1", "ADDED")
        assert timeline.first_ready("web-1") < timeline.first("web-2", "ADDED")
        sts = await get(client, "web")
        for p in await pods_of(apiclient, "web"):
            n = p["metadata"]["name"]
            assert p["metadata"]["labels"][POD_NAME_LABEL] == n and p["metadata"]["labels"][POD_INDEX_LABEL] == n[-1]
            assert (p["spec"]["hostname"], p["spec"]["subdomain"]) == (n, "web")
            assert p["metadata"]["labels"][history.REVISION_HASH] == sts["status"]["updateRevision"]
            ref, = p["metadata"]["ownerReferences"]
            assert (ref["kind"], ref["uid"], ref["controller"]) == ("StatefulSet", sts["metadata"]["uid"], True)
        st = sts["status"]
        assert (st["replicas"], st["readyReplicas"], st["currentReplicas"], st["updatedReplicas"],
                st["availableReplicas"], st["observedGeneration"], st["collisionCount"]) == (3, 3, 3, 3, 3, 1, 0)
        assert st["currentRevision"] == st["updateRevision"]
        rev, = (await client.request("GET", CR))[1]["items"]
        assert rev["metadata"]["name"] == st["updateRevision"] and rev["revision"] == 1

        # Scale down to 1: web-2 goes first, and web-1 only once web-2 is gone.
        await client.request("PATCH", f"{STS}/web/scale", {"spec": {"replicas": 1}}, headers=MERGE)
        await wait_until(lambda: ready(client, "web", 1), timeout=30)
        await wait_until(lambda: _only(apiclient, "web", ["web-0"]), timeout=30)
        assert timeline.first("web-2", "DELETED") < timeline.first("web-1", "TERMINATING")
    finally:
        await timeline.stop()


async def _only(apiclient, app: str, wanted: list[str]) -> bool:
    listed = await apiclient.list(PODS, "default", label_selector=f"app={app}")
    return sorted(p["metadata"]["name"] for p in listed.items) == wanted


async def revision_of_pods(apiclient, app: str) -> dict[str, str]:
    return {p["metadata"]["name"]: p["metadata"]["labels"][history.REVISION_HASH]
            for p in await pods_of(apiclient, app)}


async def test_partitioned_rolling_update_within_max_unavailable(client, apiclient, nodes, sts_controller):  # noqa: F811
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"partition": 2, "maxUnavailable": 2}}
    assert (await client.request("POST", STS, statefulset("db", 5, updateStrategy=strategy)))[0] == 201
    await wait_until(lambda: ready(client, "db", 5), timeout=30)
    first = (await get(client, "db"))["status"]["updateRevision"]
    timeline = Timeline(apiclient, "db")
    await timeline.start()
    low: list[int] = []

    async def watch_ready() -> None:  # the fewest ready pods seen while rolling
        while True:
            pods = await pods_of(apiclient, "db", active_only=False)
            low.append(sum(1 for p in pods if podutil.pod_ready(p) and not p["metadata"].get("deletionTimestamp")))
            await asyncio.sleep(0.02)
    sampler = asyncio.create_task(watch_ready())
    try:
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "db:2"}]}}}}
        await client.request("PATCH", f"{STS}/db", patch, headers=STRATEGIC)

        async def partitioned() -> bool:
            st = (await get(client, "db"))["status"]
            revs = await revision_of_pods(apiclient, "db")
            return st.get("updatedReplicas") == 3 and st.get("readyReplicas") == 5 and len(revs) == 5 and \
                {n: r == first for n, r in revs.items()} == {"db-0": True, "db-1": True, "db-2": False,
                                                             "db-3": False, "db-4": False}
        await wait_until(partitioned, timeout=60)
        st = (await get(client, "db"))["status"]
        assert st["currentRevision"] == first != st["updateRevision"]  # not complete below the partition
        # Highest ordinals first, two at a time at most.
        assert timeline.first("db-4", "TERMINATING") < timeline.first("db-2", "TERMINATING")
        await client.request("PATCH", f"{STS}/db", {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}},
                             headers=MERGE)

        async def complete() -> bool:
            st = (await get(client, "db"))["status"]
            return st.get("currentRevision") == st.get("updateRevision") and st.get("updatedReplicas") == 5 \
                and st.get("readyReplicas") == 5
        await wait_until(complete, timeout=60)
    finally:
        sampler.cancel()
        await timeline.stop()
    assert min(low) >= 3, f"{5 - min(low)} pods were down at once"
    assert set((await revision_of_pods(apiclient, "db")).values()) == {(await get(client, "db"))["status"]["updateRevision"]}


async def test_parallel_creates_everything_at_once_ordered_waits(client, apiclient, sts_controller):  # noqa: F811
    """No nodes here: pods stay Pending, never Ready."""
    await client.request("POST", STS, statefulset("par", 4, podManagementPolicy="Parallel"))
    await client.request("POST", STS, statefulset("ord", 4))
    await wait_until(lambda: _only(apiclient, "par", ["par-0", "par-1", "par-2", "par-3"]), timeout=30)
    await wait_until(lambda: _only(apiclient, "ord", ["ord-0"]), timeout=30)
    await asyncio.sleep(1.0)
    assert await _only(apiclient, "ord", ["ord-0"])  # ord-1 waits for ord-0 to be Ready
    # Parallel scale-down takes the surplus at once, not one by one.
    await client.request("PATCH", f"{STS}/par/scale", {"spec": {"replicas": 1}}, headers=MERGE)
    await wait_until(lambda: _only(apiclient, "par", ["par-0"]), timeout=30)

    async def counted() -> bool:  # the status catches up with the pods
        st = (await get(client, "par"))["status"]
        return (st["replicas"], st.get("readyReplicas", 0), st["availableReplicas"]) == (1, 0, 0)
    await wait_until(counted, timeout=10)


async def test_a_restarted_controller_resumes_without_duplicating_or_recreating(client, apiclient, api, nodes):  # noqa: F811
    """Killed mid-scale (its tasks cancelled wherever they are), twice; a new one converges,
    every ordinal made exactly once."""
    timeline = Timeline(apiclient, "big")
    await timeline.start()
    try:
        await client.request("POST", STS, statefulset("big", 8))
        for stop_at in (2, 5):
            c = ApiClient(api.url, user_agent="statefulset-controller")
            controller = StatefulSetController(c)
            await controller.start()
            await wait_until(lambda n=stop_at: _at_least(apiclient, "big", n), timeout=30)
            await controller.stop()
            await c.close()
        c = ApiClient(api.url, user_agent="statefulset-controller")
        controller = StatefulSetController(c)
        await controller.start()
        try:
            await wait_until(lambda: ready(client, "big", 8), timeout=60)
        finally:
            await controller.stop()
            await c.close()
    finally:
        await timeline.stop()
    assert await names(apiclient, "big") == [f"big-{i}" for i in range(8)]
    added = [name for name, kind, _ in timeline.events if kind == "ADDED"]
    assert sorted(added) == [f"big-{i}" for i in range(8)], added  # each made once, none deleted
    assert not [e for e in timeline.events if e[1] in ("TERMINATING", "DELETED")]
    for i in range(1, 8):
        assert timeline.first_ready(f"big-{i - 1}") < timeline.first(f"big-{i}", "ADDED")


async def test_a_terminating_pod_is_not_replaced_until_its_object_is_gone(client, apiclient, api, sts_controller):  # noqa: F811
    """A pod on a node that cannot confirm its stop stays Terminating: the ordinal is not
    reused while the object exists (its containers may still run there)."""
    await client.request("POST", STS, statefulset("solo", 2, podManagementPolicy="Parallel"))
    await wait_until(lambda: _only(apiclient, "solo", ["solo-0", "solo-1"]), timeout=30)
    # Bound to a node no agent serves: the graceful delete is never confirmed.
    body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "solo-1"},
            "target": {"kind": "Node", "name": "lost"}}
    assert (await client.request("POST", "/api/v1/namespaces/default/pods/solo-1/binding", body))[0] == 201
    _, old = await client.request("GET", "/api/v1/namespaces/default/pods/solo-1")
    assert (await client.request("DELETE", "/api/v1/namespaces/default/pods/solo-1"))[0] == 200
    await asyncio.sleep(1.5)
    _, still = await client.request("GET", "/api/v1/namespaces/default/pods/solo-1")
    assert still["metadata"]["uid"] == old["metadata"]["uid"] and still["metadata"]["deletionTimestamp"]
    # Once the object goes (the node confirmed, or an operator force-deleted it), a new one comes.
    await client.request("DELETE", "/api/v1/namespaces/default/pods/solo-1", {"gracePeriodSeconds": 0})

    async def replaced() -> bool:
        code, pod = await client.request("GET", "/api/v1/namespaces/default/pods/solo-1")
        return code == 200 and pod["metadata"]["uid"] != old["metadata"]["uid"]
    await wait_until(replaced, timeout=30)


async def _at_least(apiclient, app: str, n: int) -> bool:
    return len(await pods_of(apiclient, app)) >= n


async def test_min_ready_seconds_and_ordinals_start(client, apiclient, nodes, sts_controller):  # noqa: F811
    """web-6 (ordinals from 5) is made only once web-5 has been Ready for minReadySeconds."""
    timeline = Timeline(apiclient, "late")
    await timeline.start()
    try:
        await client.request("POST", STS, statefulset("late", 2, minReadySeconds=3, ordinals={"start": 5}))
        await wait_until(lambda: ready(client, "late", 2), timeout=30)
        await wait_until(lambda: _available(client, "late", 2), timeout=30)
        assert await names(apiclient, "late") == ["late-5", "late-6"]
        waited = timeline.times[timeline.first("late-6", "ADDED")] - timeline.times[timeline.first_ready("late-5")]
        assert waited >= 1.9, waited  # 3 s from a Ready time kept to the second: at least 2
        # Scaling down takes the highest ordinal of the range.
        await client.request("PATCH", f"{STS}/late/scale", {"spec": {"replicas": 1}}, headers=MERGE)
        await wait_until(lambda: _only(apiclient, "late", ["late-5"]), timeout=30)
    finally:
        await timeline.stop()


async def _available(client, name: str, n: int) -> bool:
    return ((await get(client, name)).get("status") or {}).get("availableReplicas") == n


async def test_a_pod_on_a_lost_node_keeps_its_ordinal_until_the_node_is_gone(client, apiclient, api, hollow,  # noqa: F811
                                                                             sts_controller):
    """With the node lifecycle controller and pod GC: the pod of a node whose agent stopped is
    marked Terminating, never replaced while it is; deleting the Node releases the ordinal."""
    from controlplane.controllers.node_lifecycle import NodeLifecycleConfig, run_node_lifecycle
    from controlplane.controllers.pod_gc import PodGC, PodGCConfig
    lifecycle = await run_node_lifecycle(api.url, NodeLifecycleConfig(grace_period=1.0, eviction_timeout=1.0,
                                                                      monitor_period=0.2))
    gc_client = ApiClient(api.url, user_agent="pod-gc")
    pod_gc = PodGC(gc_client, PodGCConfig(period=0.2, quarantine=1.0))
    await pod_gc.start()
    try:
        await hollow.add("node-a", "node-b")
        await client.request("POST", STS, statefulset("db", 1))
        await wait_until(lambda: ready(client, "db", 1), timeout=30)
        _, old = await client.request("GET", "/api/v1/namespaces/default/pods/db-0")
        lost = old["spec"]["nodeName"]
        await hollow.agents[["node-a", "node-b"].index(lost)].stop()

        async def terminating() -> bool:
            _, pod = await client.request("GET", "/api/v1/namespaces/default/pods/db-0")
            return bool(pod.get("metadata", {}).get("deletionTimestamp"))
        await wait_until(terminating, timeout=30)
        await asyncio.sleep(3.0)  # past its grace period: still there, still the only db-0
        _, still = await client.request("GET", "/api/v1/namespaces/default/pods/db-0")
        assert still["metadata"]["uid"] == old["metadata"]["uid"]
        assert await names(apiclient, "db") == []  # no active pod: the ordinal waits

        assert (await client.request("DELETE", f"/api/v1/nodes/{lost}"))[0] == 200

        async def replaced() -> str:
            code, pod = await client.request("GET", "/api/v1/namespaces/default/pods/db-0")
            fresh = code == 200 and pod["metadata"]["uid"] != old["metadata"]["uid"]
            return pod["spec"].get("nodeName", "") if fresh else ""
        assert await wait_until(replaced, timeout=30) != lost
        await wait_until(lambda: ready(client, "db", 1), timeout=30)
    finally:
        await pod_gc.stop()
        await gc_client.close()
        await lifecycle.stop()


async def test_on_delete_changes_a_pod_only_when_someone_deletes_it(client, apiclient, nodes, sts_controller):  # noqa: F811
    await client.request("POST", STS, statefulset("od", 2, updateStrategy={"type": "OnDelete"}))
    await wait_until(lambda: ready(client, "od", 2), timeout=30)
    first = (await get(client, "od"))["status"]["updateRevision"]
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "db:2"}]}}}}
    await client.request("PATCH", f"{STS}/od", patch, headers=STRATEGIC)

    async def new_revision() -> str:
        st = (await get(client, "od")).get("status") or {}
        return st.get("updateRevision", "") if st.get("updateRevision") != first else ""
    second = await wait_until(new_revision, timeout=30)
    await asyncio.sleep(1.0)
    assert set((await revision_of_pods(apiclient, "od")).values()) == {first}  # nothing replaced on its own
    _, pod = await client.request("GET", "/api/v1/namespaces/default/pods/od-1")
    await client.request("DELETE", "/api/v1/namespaces/default/pods/od-1")

    async def replaced() -> bool:
        revs = await revision_of_pods(apiclient, "od")
        return revs == {"od-0": first, "od-1": second}
    await wait_until(replaced, timeout=30)
    await wait_until(lambda: ready(client, "od", 2), timeout=30)
    st = (await get(client, "od"))["status"]
    assert (st["currentRevision"], st["updateRevision"], st["currentReplicas"], st["updatedReplicas"]) == \
        (first, second, 1, 1)


async def test_a_revision_name_taken_by_another_object_bumps_the_collision_count(client, apiclient, nodes):  # noqa: F811
    """A foreign ControllerRevision squats the name the set's first revision would get: the
    controller counts the collision in status and names its revision with the next hash."""
    from controlplane.machinery.rollout import template_hash
    await client.request("POST", STS, statefulset("cc", 1))  # no controller yet: nothing happens
    sts = await get(client, "cc")
    data = history.revision_data(sts["spec"]["template"])
    squatted = history.revision_name("cc", template_hash(data, 0))
    squatter = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                "metadata": {"name": squatted, "labels": {"someone": "else"}}, "data": {"other": 1}, "revision": 1}
    assert (await client.request("POST", CR, squatter))[0] == 201
    c = ApiClient(apiclient.config.base_url, user_agent="statefulset-controller")
    controller = StatefulSetController(c)
    await controller.start()
    try:
        await wait_until(lambda: ready(client, "cc", 1), timeout=30)
        st = (await get(client, "cc"))["status"]
        assert st["collisionCount"] == 1 and st["updateRevision"] == history.revision_name("cc", template_hash(data, 1))
        _, left = await client.request("GET", f"{CR}/{squatted}")
        assert left["data"] == {"other": 1} and not left["metadata"].get("ownerReferences")  # untouched
    finally:
        await controller.stop()
        await c.close()
