"""The DaemonSet controller against the real API server, with the real scheduler binding its
pods and hollow agents over the real gateway making them Running and Ready (hollow: no
containers run, nothing else is faked). Invariants of a rolling update are checked at every
state a pod watch shows."""

from __future__ import annotations

import pytest

from agent.hollow import run_hollow_agents, stop_agents
from agent.pods import PodConfig
from agent.session import SessionConfig
from controlplane.client import ApiClient
from controlplane.controllers import podutil
from controlplane.controllers.daemonset import DaemonSetController
from controlplane.machinery import history

from ..cluster import wait_until
from .test_deployment_controller import PodWatch
from .test_gateway import node_ready
from .test_replicaset_controller import apiclient, nodes, pods_of  # noqa: F401 - fixtures

DS = "/apis/apps/v1/namespaces/default/daemonsets"
CR = "/apis/apps/v1/namespaces/default/controllerrevisions"
MERGE = {"Content-Type": "application/merge-patch+json"}
STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}
AGENT_OPTS = dict(pod_config=PodConfig(resync_period=0.5, backoff_base=0.2),
                  session_config=SessionConfig(backoff_base=0.05, backoff_max=0.5))


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


async def test_one_pod_per_eligible_node_then_new_and_changed_nodes(client, apiclient, api, nodes, ds_controller):  # noqa: F811
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

    # node-a loses the label: its pod goes, and stays gone.
    await patch_node(client, "node-a", {"metadata": {"labels": {"role": None}}})
    await wait_until(lambda: _placed(apiclient, "agent", {"node-b", "node-c"}), timeout=30)
    st = (await get(client, "agent"))["status"]
    assert st["desiredNumberScheduled"] == 2


async def _placed(apiclient, app: str, wanted: set[str]) -> bool:
    where = await placement(apiclient, app)
    return set(where) == wanted and all(len(v) == 1 for v in where.values())
