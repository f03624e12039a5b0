"""The DaemonSet controller against the real API server, with the real scheduler binding its
pods and hollow agents over the real gateway making them Running and Ready (hollow: no
containers run, nothing else is faked). Invariants of a rolling update are checked at every
state a pod watch shows."""

from __future__ import annotations

import asyncio

import pytest

from agent.hollow import run_hollow_agents, stop_agents
from agent.pods import PodTimings
from agent.session import SessionConfig
from controlplane.client import ApiClient
from controlplane.controllers import podutil
from controlplane.controllers.daemonset import DaemonSetController, target_node
from controlplane.machinery import history

from controlplane.controllers.node_lifecycle import UNREACHABLE, NodeLifecycleConfig, run_node_lifecycle
from controlplane.gateway import start_gateway
from controlplane.scheduler.scheduler import Scheduler, SchedulerConfig

from ..cluster import wait_until
from .test_deployment_controller import PodWatch
from .test_gateway import FAST, node_ready
from .test_pyctl import pyctl
from .test_replicaset_controller import apiclient, pods_of  # noqa: F401 - fixtures

DS = "/apis/apps/v1/namespaces/default/daemonsets"
CR = "/apis/apps/v1/namespaces/default/controllerrevisions"
MERGE = {"Content-Type": "application/merge-patch+json"}
STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}
AGENT_OPTS = dict(pod_timings=PodTimings(resync_period=0.5, backoff_base=0.2),
                  session_config=SessionConfig(backoff_base=0.05, backoff_max=0.5))


class Hollow:
    """Hollow nodes behind one gateway, with the scheduler; more can join later."""

    def __init__(self, client, gateway) -> None:
        self.client, self.gateway = client, gateway
        self.agents: list = []

    async def add(self, *names: str) -> None:
        self.agents += await run_hollow_agents(self.gateway.address, list(names), **AGENT_OPTS)
        for n in names:
            await wait_until(lambda n=n: node_ready(self.client, n), timeout=15)


@pytest.fixture
async def hollow(api, client):
    gateway = await start_gateway(api.url, "127.0.0.1:0", FAST)
    scheduler = Scheduler(api.url, SchedulerConfig(initial_backoff=0.05, max_backoff=0.2, unschedulable_timeout=2.0))
    await scheduler.start()
    cluster = Hollow(client, gateway)
    try:
        yield cluster
    finally:
        await scheduler.stop()
        await stop_agents(cluster.agents)
        await gateway.stop()


@pytest.fixture
async def ds_controller(api):
    client = ApiClient(api.url, user_agent="daemonset-controller")
    controller = DaemonSetController(client)
    await controller.start()
    yield controller
    await controller.stop()
    await client.close()


def daemonset(name: str, image: str = "agent:1", strategy: dict | None = None, **spec) -> dict:
    tspec = {"containers": [{"name": "c", "image": image}], **spec.pop("pod", {})}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": tspec},
                     **({"updateStrategy": strategy} if strategy else {}), **spec}}


async def get(client, name: str) -> dict:
    return (await client.request("GET", f"{DS}/{name}"))[1]


async def placement(apiclient, app: str) -> dict[str, list[str]]:
    """node -> names of the app's active pods bound there ('' for unbound)."""
    out: dict[str, list[str]] = {}
    for p in await pods_of(apiclient, app):
        out.setdefault(p["spec"].get("nodeName", ""), []).append(p["metadata"]["name"])
    return out


async def rolled_out(client, name: str) -> bool:
    """What `kubectl rollout status ds/NAME` checks."""
    ds = await get(client, name)
    st = ds.get("status") or {}
    return (ds["metadata"]["generation"] <= st.get("observedGeneration", 0)
            and st.get("updatedNumberScheduled", 0) >= st.get("desiredNumberScheduled", 0)
            and st.get("numberAvailable", 0) >= st.get("desiredNumberScheduled", 0))


async def patch_node(client, name: str, patch: dict) -> None:
    status, body = await client.request("PATCH", f"/api/v1/nodes/{name}", patch, headers=MERGE)
    assert status == 200, body


async def test_one_pod_per_eligible_node_then_new_and_changed_nodes(client, apiclient, hollow, ds_controller):  # noqa: F811
    await hollow.add("node-a", "node-b", "node-c")
    # node-b is tainted (NoSchedule, not tolerated); node-c lacks the label the selector wants.
    await patch_node(client, "node-a", {"metadata": {"labels": {"role": "edge"}}})
    await patch_node(client, "node-b", {"metadata": {"labels": {"role": "edge"}},
                                        "spec": {"taints": [{"key": "dedicated", "value": "db",
                                                             "effect": "NoSchedule"}]}})
    ds = daemonset("agent", pod={"nodeSelector": {"role": "edge"}})
    assert (await client.request("POST", DS, ds))[0] == 201
    await wait_until(lambda: rolled_out(client, "agent"), timeout=30)
    assert {n: len(p) for n, p in (await placement(apiclient, "agent")).items()} == {"node-a": 1}
    got = await get(client, "agent")
    st = got["status"]
    assert (st["desiredNumberScheduled"], st["currentNumberScheduled"], st["numberReady"],
            st["updatedNumberScheduled"], st["numberAvailable"], st["numberMisscheduled"]) == (1, 1, 1, 1, 1, 0)
    assert got["metadata"]["annotations"]["deprecated.daemonset.template.generation"] == "1"

    pod, = await pods_of(apiclient, "agent")
    # Pinned to its node by a required node affinity on the node's name; the scheduler bound it.
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms == {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                                             "values": ["node-a"]}]}]}
    keys = {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"] if t.get("operator") == "Exists"}
    assert {("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
            ("node.kubernetes.io/disk-pressure", "NoSchedule"), ("node.kubernetes.io/memory-pressure", "NoSchedule"),
            ("node.kubernetes.io/pid-pressure", "NoSchedule"), ("node.kubernetes.io/unschedulable", "NoSchedule")} <= keys
    assert not any(t.get("tolerationSeconds") for t in pod["spec"]["tolerations"])  # never evicted by node problems
    rev, = (await client.request("GET", CR))[1]["items"]
    hash_ = pod["metadata"]["labels"][history.REVISION_HASH]
    assert rev["metadata"]["name"] == f"agent-{hash_}" and rev["revision"] == 1
    assert rev["metadata"]["labels"] == {"app": "agent", history.REVISION_HASH: hash_}
    assert pod["metadata"]["labels"]["pod-template-generation"] == "1"

    # node-c gains the label: it gets its pod; node-b tolerated: it gets one too.
    await patch_node(client, "node-c", {"metadata": {"labels": {"role": "edge"}}})
    await client.request("PATCH", f"{DS}/agent", {"spec": {"template": {"spec": {"tolerations": [
        {"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]}}}}, headers=STRATEGIC)
    await wait_until(lambda: _placed(apiclient, "agent", {"node-a", "node-b", "node-c"}), timeout=30)
    await wait_until(lambda: rolled_out(client, "agent"), timeout=30)

    # A node that joins later gets its pod (its agent registers it with the label set after).
    await hollow.add("node-d")
    await patch_node(client, "node-d", {"metadata": {"labels": {"role": "edge"}}})
    await wait_until(lambda: _placed(apiclient, "agent", {"node-a", "node-b", "node-c", "node-d"}), timeout=30)

    # A cordoned node keeps its pod (daemon pods tolerate it); node-a loses the label: its pod
    # goes; node-c gets a NoExecute taint the pods do not tolerate: its pod goes too.
    await patch_node(client, "node-b", {"spec": {"unschedulable": True}})
    await patch_node(client, "node-a", {"metadata": {"labels": {"role": None}}})
    await patch_node(client, "node-c", {"spec": {"taints": [{"key": "evict", "effect": "NoExecute"}]}})
    await wait_until(lambda: _placed(apiclient, "agent", {"node-b", "node-d"}), timeout=30)
    await wait_until(lambda: rolled_out(client, "agent"), timeout=30)
    # Misscheduled counts a node while its pod is still terminating there: until it is gone.
    await wait_until(lambda: _status_is(client, "agent", desiredNumberScheduled=2, numberMisscheduled=0), timeout=30)


async def _placed(apiclient, app: str, wanted: set[str]) -> bool:
    where = await placement(apiclient, app)
    return set(where) == wanted and all(len(v) == 1 for v in where.values())


def rollout_check(nodes: set[str], max_unavailable: int, max_surge: int):
    """A PodWatch check: at every state, no more than `max_unavailable` nodes without a ready
    pod, no more than `max_surge` nodes with two active pods, never three on one node."""
    def check(_all, active):
        per_node: dict[str, list[dict]] = {}
        for p in active:
            per_node.setdefault(target_node(p) or "?", []).append(p)
        down = [n for n in nodes if not any(podutil.pod_ready(p) for p in per_node.get(n, []))]
        doubled = [n for n, ps in per_node.items() if len(ps) > 1]
        if len(down) > max_unavailable:
            return f"nodes without a ready pod: {sorted(down)}"
        if len(doubled) > max_surge or any(len(ps) > 2 for ps in per_node.values()):
            return f"nodes with several pods: {doubled}"
        return None
    return check


@pytest.mark.parametrize("rolling", [{"maxUnavailable": 1, "maxSurge": 0}, {"maxUnavailable": 0, "maxSurge": 1},
                                     {"maxUnavailable": "50%", "maxSurge": 0}])
async def test_rolling_update_stays_within_its_limits_at_every_instant(client, apiclient, hollow, ds_controller,
                                                                       rolling):  # noqa: F811
    names = {f"node-{i}" for i in range(4)}
    await hollow.add(*sorted(names))
    strategy = {"type": "RollingUpdate", "rollingUpdate": rolling}
    assert (await client.request("POST", DS, daemonset("roll", "agent:1", strategy)))[0] == 201
    await wait_until(lambda: rolled_out(client, "roll"), timeout=30)
    unavailable = 2 if rolling["maxUnavailable"] == "50%" else rolling["maxUnavailable"]
    watch = PodWatch(apiclient, "roll")
    await watch.start(rollout_check(names, unavailable, rolling["maxSurge"]))
    try:
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "agent:2"}]}}}}
        assert (await client.request("PATCH", f"{DS}/roll", patch, headers=STRATEGIC))[0] == 200
        await wait_until(lambda: rolled_out(client, "roll"), timeout=60)
        await wait_until(lambda: _images(apiclient, "roll", {"agent:2"}, len(names)), timeout=30)
    finally:
        await watch.stop()
    assert watch.violations == [] and watch.states > 8
    revisions = sorted(r["revision"] for r in (await client.request("GET", CR))[1]["items"])
    assert revisions == [1, 2]


async def test_on_delete_replaces_only_the_pods_someone_deletes(client, apiclient, hollow, ds_controller):  # noqa: F811
    await hollow.add("node-a", "node-b")
    ds = daemonset("od", "agent:1", {"type": "OnDelete"})
    assert (await client.request("POST", DS, ds))[0] == 201
    await wait_until(lambda: _images(apiclient, "od", {"agent:1"}, 2), timeout=30)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "agent:2"}]}}}}
    await client.request("PATCH", f"{DS}/od", patch, headers=STRATEGIC)
    await wait_until(lambda: _observed(client, "od"), timeout=30)
    assert await _images(apiclient, "od", {"agent:1"}, 2)  # nothing replaced on its own
    victim = (await pods_of(apiclient, "od"))[0]["metadata"]["name"]
    await client.request("DELETE", f"/api/v1/namespaces/default/pods/{victim}")
    await wait_until(lambda: _images(apiclient, "od", {"agent:1", "agent:2"}, 2), timeout=30)
    await wait_until(lambda: _status_is(client, "od", updatedNumberScheduled=1, numberAvailable=2), timeout=30)
    r = await pyctl(ds_controller.client.config.base_url, "rollout", "status", "ds/od", "--watch=false")
    assert (r.code, r.err) == (1, "error: rollout status is only available for RollingUpdate strategy type\n")


async def test_drain_ignore_daemonsets_leaves_daemon_pods_alone(client, apiclient, hollow, ds_controller, api):  # noqa: F811
    await hollow.add("node-a", "node-b")
    assert (await client.request("POST", DS, daemonset("agent")))[0] == 201
    await wait_until(lambda: rolled_out(client, "agent"), timeout=30)
    on_a = next(p["metadata"]["name"] for p in await pods_of(apiclient, "agent") if p["spec"]["nodeName"] == "node-a")
    r = await pyctl(api.url, "drain", "node-a")
    assert r.code == 1 and f"cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): " \
                           f"default/{on_a}" in r.err
    r = await pyctl(api.url, "drain", "node-a", "--ignore-daemonsets", "--timeout=30s")
    assert r.code == 0, r.err
    assert r.err == f"Warning: ignoring DaemonSet-managed Pods: default/{on_a}\n"
    assert r.out == "node/node-a already cordoned\nnode/node-a drained\n"
    # The daemon pod stays on the cordoned node, and the DaemonSet counts it as it should.
    await wait_until(lambda: _status_is(client, "agent", desiredNumberScheduled=2, numberAvailable=2), timeout=30)
    assert on_a in {p["metadata"]["name"] for p in await pods_of(apiclient, "agent")}


async def _images(apiclient, app: str, wanted: set[str], n: int) -> bool:
    pods = await pods_of(apiclient, app)
    return len(pods) == n and {p["spec"]["containers"][0]["image"] for p in pods} == wanted \
        and all(podutil.pod_ready(p) for p in pods)


async def _observed(client, name: str) -> bool:
    ds = await get(client, name)
    return ds["metadata"]["generation"] == (ds.get("status") or {}).get("observedGeneration")


async def _status_is(client, name: str, **want: int) -> bool:
    st = (await get(client, name)).get("status") or {}
    return all(st.get(k, 0) == v for k, v in want.items())


async def test_daemon_pods_stay_on_an_unreachable_node(client, apiclient, hollow, ds_controller, api):  # noqa: F811
    """The node lifecycle controller taints a lost node unreachable:NoExecute and evicts what
    does not tolerate it; daemon pods tolerate it for ever, as in Kubernetes."""
    lifecycle = await run_node_lifecycle(api.url, NodeLifecycleConfig(grace_period=1.0, eviction_timeout=1.0,
                                                                      monitor_period=0.2))
    try:
        await hollow.add("node-a", "node-b")
        assert (await client.request("POST", DS, daemonset("agent")))[0] == 201
        await wait_until(lambda: rolled_out(client, "agent"), timeout=30)
        on_b = next(p["metadata"]["uid"] for p in await pods_of(apiclient, "agent") if p["spec"]["nodeName"] == "node-b")
        await hollow.agents[1].stop()

        async def tainted() -> bool:
            _, node = await client.request("GET", "/api/v1/nodes/node-b")
            return any(t["key"] == UNREACHABLE for t in node["spec"].get("taints") or [])
        await wait_until(tainted, timeout=30)
        await asyncio.sleep(2.5)  # well past the eviction timeout
        pods = await pods_of(apiclient, "agent", active_only=False)
        stayed = [p for p in pods if p["metadata"]["uid"] == on_b]
        assert stayed and not stayed[0]["metadata"].get("deletionTimestamp")
        assert len(pods) == 2  # and no second pod for node-b
    finally:
        await lifecycle.stop()


async def test_a_revision_name_taken_by_another_object_bumps_the_collision_count(client, apiclient, api, hollow):  # noqa: F811
    from controlplane.machinery.rollout import template_hash
    await hollow.add("node-a")
    assert (await client.request("POST", DS, daemonset("cc")))[0] == 201  # no controller yet
    template = (await get(client, "cc"))["spec"]["template"]
    squatted = history.revision_name("cc", template_hash(template, 0))
    squatter = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                "metadata": {"name": squatted, "labels": {"someone": "else"}}, "data": {"other": 1}, "revision": 1}
    assert (await client.request("POST", CR, squatter))[0] == 201
    c = ApiClient(api.url, user_agent="daemonset-controller")
    controller = DaemonSetController(c)
    await controller.start()
    try:
        await wait_until(lambda: rolled_out(client, "cc"), timeout=30)
        assert (await get(client, "cc"))["status"]["collisionCount"] == 1
        pod, = await pods_of(apiclient, "cc")
        assert pod["metadata"]["labels"][history.REVISION_HASH] == template_hash(template, 1)
    finally:
        await controller.stop()
        await c.close()
