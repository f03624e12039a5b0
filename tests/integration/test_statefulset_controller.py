"""The StatefulSet controller against the real API server, with the real scheduler and hollow
agents over the real gateway (see test_replicaset_controller). Ordering is checked on every
state a pod watch shows, not at a few sampled moments."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from controlplane.client import ApiClient
from controlplane.client.kinds import PODS
from controlplane.controllers import podutil
from controlplane.controllers.statefulset import POD_INDEX_LABEL, POD_NAME_LABEL, StatefulSetController
from controlplane.machinery import history

from ..cluster import wait_until
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
    """Every state of an app's pods a watch shows: (name, event, ready) in order."""

    def __init__(self, api: ApiClient, app: str) -> None:
        self.api, self.app = api, app
        self.events: list[tuple[str, str, bool]] = []
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
