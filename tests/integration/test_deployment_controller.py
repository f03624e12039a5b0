"""The Deployment and ReplicaSet controllers together against the real API server, with
the real scheduler and hollow agents over the real gateway (see test_replicaset_controller). Invariants of a rollout are checked at every state a pod
watch shows, not at a few sampled moments."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from controlplane.client import ApiClient
from controlplane.client.kinds import PODS
from controlplane.controllers import podutil
from controlplane.controllers.deployment import DeploymentController, util

from ..cluster import wait_until
from .test_replicaset_controller import apiclient, nodes, pods_of, rs_controller  # noqa: F401 - fixtures

DEPLOY = "/apis/apps/v1/namespaces/default/deployments"
RS_PATH = "/apis/apps/v1/namespaces/default/replicasets"
MERGE = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture
async def controllers(api, rs_controller):  # noqa: F811
    client = ApiClient(api.url, user_agent="deployment-controller")
    controller = DeploymentController(client)
    await controller.start()
    yield controller
    await controller.stop()
    await client.close()


def deployment(name: str, replicas: int, image: str = "web:1", strategy: dict | None = None, **spec) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "strategy": strategy or {"type": "RollingUpdate"},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}, **spec}}


async def get(client, name: str) -> dict:
    return (await client.request("GET", f"{DEPLOY}/{name}"))[1]


async def rolled_out(client, name: str) -> bool:
    """What `kubectl rollout status` checks, to the letter."""
    d = await get(client, name)
    st = d.get("status") or {}
    want = d["spec"]["replicas"]
    return (d["metadata"]["generation"] <= st.get("observedGeneration", 0)
            and st.get("updatedReplicas", 0) == want and st.get("replicas", 0) == want
            and st.get("availableReplicas", 0) == want)


async def replicasets(client, app: str) -> list[dict]:
    return (await client.request("GET", RS_PATH, params={"labelSelector": f"app={app}"}))[1]["items"]


async def test_deployment_gets_its_pods_scales_and_reports_status(client, apiclient, nodes, controllers):  # noqa: F811
    assert (await client.request("POST", DEPLOY, deployment("myapp", 10)))[0] == 201
    await wait_until(lambda: rolled_out(client, "myapp"), timeout=30)
    assert len(await pods_of(apiclient, "myapp")) == 10
    d = await get(client, "myapp")
    rs, = await replicasets(client, "myapp")
    h = rs["metadata"]["labels"][util.HASH_LABEL]
    assert rs["metadata"]["name"] == f"myapp-{h}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "myapp", util.HASH_LABEL: h}
    assert rs["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "myapp",
                                                  "uid": d["metadata"]["uid"], "controller": True,
                                                  "blockOwnerDeletion": True}]
    assert d["metadata"]["annotations"][util.REVISION] == "1" == rs["metadata"]["annotations"][util.REVISION]
    conds = {c["type"]: c for c in d["status"]["conditions"]}
    assert (conds["Available"]["status"], conds["Available"]["reason"]) == ("True", "MinimumReplicasAvailable")
    assert (conds["Progressing"]["status"], conds["Progressing"]["reason"]) == ("True", "NewReplicaSetAvailable")
    for c in conds.values():
        assert c["lastUpdateTime"] and c["lastTransitionTime"] and c["message"]

    for n in (25, 3):
        status, _ = await client.request("PATCH", f"{DEPLOY}/myapp/scale", {"spec": {"replicas": n}}, headers=MERGE)
        assert status == 200
        await wait_until(lambda n=n: rolled_out(client, "myapp"), timeout=40)
        assert len(await pods_of(apiclient, "myapp")) == n
    _, events = await client.request("GET", "/api/v1/namespaces/default/events")
    messages = {e["message"] for e in events["items"] if e["reason"] == "ScalingReplicaSet"}
    assert f"Scaled up replica set myapp-{h} from 0 to 10" in messages
    assert f"Scaled down replica set myapp-{h} from 25 to 3" in messages


class PodWatch:
    """Follows every pod of an app from a consistent list; checks a predicate at each state."""

    def __init__(self, api: ApiClient, app: str) -> None:
        self.api, self.app = api, app
        self.pods: dict[str, dict] = {}
        self.violations: list[str] = []
        self.states = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self, check) -> None:
        listed = await self.api.list(PODS, "default", label_selector=f"app={self.app}")
        self.pods = {p["metadata"]["name"]: p for p in listed.items}
        self._check = check
        self._observe()
        self._task = asyncio.create_task(self._run(listed.resource_version))

    async def _run(self, rv: str) -> None:
        async for ev in self.api.watch(PODS, "default", resource_version=rv, label_selector=f"app={self.app}"):
            if ev.type == "DELETED":
                self.pods.pop(ev.object["metadata"]["name"], None)
            else:
                self.pods[ev.object["metadata"]["name"]] = ev.object
            self._observe()

    def _observe(self) -> None:
        self.states += 1
        active = [p for p in self.pods.values() if podutil.pod_active(p)]
        problem = self._check(self.pods, active)
        if problem:
            self.violations.append(problem)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def test_rolling_update_stays_within_surge_and_unavailability_at_every_instant(
        client, apiclient, nodes, controllers):  # noqa: F811
    replicas, surge, unavailable = 10, 2, 1
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
    await client.request("POST", DEPLOY, deployment("roll", replicas, "web:1", strategy))
    await wait_until(lambda: rolled_out(client, "roll"), timeout=30)

    def check(_all, active):
        # Terminating pods are no longer counted, as in Kubernetes (they are not "active").
        ready = [p for p in active if podutil.pod_ready(p)]
        if len(active) > replicas + surge:
            return f"{len(active)} pods > {replicas}+{surge}"
        if len(ready) < replicas - unavailable:
            return f"{len(ready)} available < {replicas}-{unavailable}"
        return None
    watch = PodWatch(apiclient, "roll")
    await watch.start(check)
    try:
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "web:2"}]}}}}
        assert (await client.request("PATCH", f"{DEPLOY}/roll", patch,
                                     headers={"Content-Type": "application/strategic-merge-patch+json"}))[0] == 200
        await wait_until(lambda: rolled_out(client, "roll"), timeout=60)
    finally:
        await watch.stop()
    assert watch.violations == []
    assert watch.states > 20  # the watch really saw the rollout happen
    images = {p["spec"]["containers"][0]["image"] for p in await pods_of(apiclient, "roll")}
    assert images == {"web:2"}
    d = await get(client, "roll")
    assert d["metadata"]["annotations"][util.REVISION] == "2"
    revs = sorted((util.revision(rs), rs["spec"]["replicas"]) for rs in await replicasets(client, "roll"))
    assert revs == [(1, 0), (2, replicas)]


async def test_recreate_never_runs_old_and_new_pods_together(client, apiclient, nodes, controllers):  # noqa: F811
    await client.request("POST", DEPLOY, deployment("rec", 4, "web:1", {"type": "Recreate"}))
    await wait_until(lambda: rolled_out(client, "rec"), timeout=30)

    def check(all_pods, _active):
        images = {p["spec"]["containers"][0]["image"] for p in all_pods.values()}  # terminating ones too
        return f"old and new together: {sorted(images)}" if len(images) > 1 else None
    watch = PodWatch(apiclient, "rec")
    await watch.start(check)
    try:
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "web:2"}]}}}}
        await client.request("PATCH", f"{DEPLOY}/rec", patch,
                             headers={"Content-Type": "application/strategic-merge-patch+json"})
        await wait_until(lambda: rolled_out(client, "rec"), timeout=60)
    finally:
        await watch.stop()
    assert watch.violations == []
    assert {p["spec"]["containers"][0]["image"] for p in await pods_of(apiclient, "rec")} == {"web:2"}


async def test_paused_deployment_rolls_nothing_out_until_resumed(client, apiclient, nodes, controllers):  # noqa: F811
    await client.request("POST", DEPLOY, deployment("hold", 2))
    await wait_until(lambda: rolled_out(client, "hold"), timeout=30)
    await client.request("PATCH", f"{DEPLOY}/hold", {"spec": {"paused": True}}, headers=MERGE)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "web:2"}]}}}}
    await client.request("PATCH", f"{DEPLOY}/hold", patch,
                         headers={"Content-Type": "application/strategic-merge-patch+json"})

    async def paused_seen():
        d = await get(client, "hold")
        cond = util.get_condition(d.get("status") or {}, "Progressing") or {}
        return d["status"].get("observedGeneration") == d["metadata"]["generation"] and \
            cond.get("reason") == "DeploymentPaused"
    await wait_until(paused_seen, timeout=15)
    assert len(await replicasets(client, "hold")) == 1
    await client.request("PATCH", f"{DEPLOY}/hold", {"spec": {"paused": False}}, headers=MERGE)
    await wait_until(lambda: rolled_out(client, "hold"), timeout=30)
    assert {p["spec"]["containers"][0]["image"] for p in await pods_of(apiclient, "hold")} == {"web:2"}


async def test_progress_deadline_exceeded_when_pods_never_become_ready(client, apiclient, controllers):  # noqa: F811
    """No nodes here: pods stay Pending, so the rollout cannot progress."""
    await client.request("POST", DEPLOY, deployment("stuck", 2, progressDeadlineSeconds=2))

    async def timed_out():
        cond = util.get_condition((await get(client, "stuck")).get("status") or {}, "Progressing") or {}
        return cond.get("status") == "False" and cond.get("reason") == "ProgressDeadlineExceeded"
    await wait_until(timed_out, timeout=20)
    d = await get(client, "stuck")
    assert util.get_condition(d["status"], "Available")["reason"] == "MinimumReplicasUnavailable"


async def test_revision_history_limit_removes_old_replicasets(client, apiclient, nodes, controllers):  # noqa: F811
    await client.request("POST", DEPLOY, deployment("hist", 1, revisionHistoryLimit=1))
    for image in ("web:2", "web:3", "web:4"):
        await wait_until(lambda: rolled_out(client, "hist"), timeout=30)
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}
        await client.request("PATCH", f"{DEPLOY}/hist", patch,
                             headers={"Content-Type": "application/strategic-merge-patch+json"})

    async def pruned():
        return await rolled_out(client, "hist") and len(await replicasets(client, "hist")) == 2
    await wait_until(pruned, timeout=30)
    assert sorted(util.revision(rs) for rs in await replicasets(client, "hist")) == [3, 4]


async def test_fresh_controllers_after_a_kill_mid_scale_up_converge_without_duplicates(
        api, client, apiclient, nodes):  # noqa: F811
    """Both controllers are cancelled while the first pods are being created; new ones
    (empty caches, empty expectations) finish the job: one ReplicaSet, exactly 30 pods."""
    from controlplane.controllers.replicaset import ReplicaSetController

    def start_pair(tag: str):
        clients = [ApiClient(api.url, user_agent=f"{tag}-{i}") for i in range(2)]
        return clients, [ReplicaSetController(clients[0]), DeploymentController(clients[1])]

    async def stop_pair(clients, ctrls):
        for c in ctrls:
            await c.stop()
        for cl in clients:
            await cl.close()

    clients, ctrls = start_pair("first")
    for c in ctrls:
        await c.start()
    try:
        await client.request("POST", DEPLOY, deployment("big", 30))
        await wait_until(lambda: _at_least(apiclient, "big", 3), timeout=20)
    finally:
        await stop_pair(clients, ctrls)
    clients, ctrls = start_pair("second")
    for c in ctrls:
        await c.start()
    try:
        await wait_until(lambda: rolled_out(client, "big"), timeout=60)
        for _ in range(10):  # and it stays exact: no late duplicates from lagging caches
            assert len(await pods_of(apiclient, "big")) == 30
            await asyncio.sleep(0.1)
        assert len(await replicasets(client, "big")) == 1
    finally:
        await stop_pair(clients, ctrls)


async def _at_least(apiclient, app: str, n: int) -> bool:
    return len(await pods_of(apiclient, app)) >= n


async def test_min_ready_seconds_delays_availability(client, apiclient, nodes, controllers):  # noqa: F811
    await client.request("POST", DEPLOY, deployment("slow", 3, minReadySeconds=2))

    async def ready_not_available():
        st = (await get(client, "slow")).get("status") or {}
        return st.get("readyReplicas", 0) == 3 and st.get("availableReplicas", 0) < 3
    await wait_until(ready_not_available, timeout=20, interval=0.02)
    await wait_until(lambda: rolled_out(client, "slow"), timeout=30)
    rs, = await replicasets(client, "slow")
    assert rs["spec"]["minReadySeconds"] == 2 and rs["status"]["availableReplicas"] == 3


async def test_resizing_a_stuck_rollout_scales_its_replicasets_proportionally(client, controllers):  # noqa: F811
    """No nodes: no pod ever becomes available, so a rollout stays half-way and both
    ReplicaSets stay active while the Deployment is resized."""
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}
    await client.request("POST", DEPLOY, deployment("prop", 4, "web:1", strategy))

    async def sizes():
        return sorted((util.revision(rs), rs["spec"]["replicas"]) for rs in await replicasets(client, "prop"))

    async def sizes_are(want):
        return await sizes() == want
    await wait_until(lambda: sizes_are([(1, 4)]), timeout=15)
    await client.request("PATCH", f"{DEPLOY}/prop", {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "web:2"}]}}}}, headers={"Content-Type": "application/strategic-merge-patch+json"})
    await wait_until(lambda: sizes_are([(1, 4), (2, 1)]), timeout=15)  # 4 + surge 1; nothing may go
    await client.request("PATCH", f"{DEPLOY}/prop/scale", {"spec": {"replicas": 8}}, headers=MERGE)
    # 8 + surge 2 = 10 pods, shared as the two had 4:1 of 5.
    await wait_until(lambda: sizes_are([(1, 8), (2, 2)]), timeout=15)

    async def moves():  # events are written in the background: wait for all four
        _, events = await client.request("GET", "/api/v1/namespaces/default/events")
        return sorted(e["message"].split(" from ")[1] for e in events["items"]
                      if e["reason"] == "ScalingReplicaSet" and e["involvedObject"]["name"] == "prop")
    await wait_until(lambda: _len_at_least(moves, 4), timeout=10)
    assert await moves() == ["0 to 1", "0 to 4", "1 to 2", "4 to 8"]  # one step each, no detour


async def _len_at_least(fn, n: int) -> bool:
    return len(await fn()) >= n
