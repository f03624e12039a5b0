"""PodDisruptionBudgets: the disruption controller's status and the Eviction API obeying it,
against the real API server, scheduler, ReplicaSet/Deployment controllers and hollow agents
(see test_replicaset_controller)."""

from __future__ import annotations

import asyncio

import pytest

from controlplane.client import ApiClient
from controlplane.controllers.disruption import DisruptionController

from ..cluster import wait_until
from .test_deployment_controller import controllers, deployment  # noqa: F401 - fixtures
from .test_replicaset_controller import apiclient, nodes, pods_of, replicaset, rs_controller  # noqa: F401

PDBS = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"
RS = "/apis/apps/v1/namespaces/default/replicasets"
PODS = "/api/v1/namespaces/default/pods"
REFUSED = "Cannot evict pod as it would violate the pod's disruption budget."


@pytest.fixture
async def disruption(api):
    client = ApiClient(api.url, user_agent="disruption-controller")
    controller = DisruptionController(client)
    await controller.start()
    yield controller
    await controller.stop()
    await client.close()


def pdb(name: str, app: str, **spec) -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": app}}, **spec}}


def eviction(pod: str, **options) -> dict:
    return {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": "default"},
            **({"deleteOptions": options} if options else {})}


async def evict(client, pod: str, **options) -> tuple[int, dict]:
    return await client.request("POST", f"{PODS}/{pod}/eviction", eviction(pod, **options))


async def budget(client, name: str) -> dict:
    return (await client.request("GET", f"{PDBS}/{name}"))[1]


async def settled(client, name: str, **want) -> dict | None:
    b = await budget(client, name)
    st = b.get("status") or {}
    ok = st.get("observedGeneration") == b["metadata"]["generation"] and all(st.get(k) == v for k, v in want.items())
    return b if ok else None


async def ready_pods(apiclient, app: str, n: int) -> list[dict] | None:  # noqa: F811
    pods = await pods_of(apiclient, app)
    ready = [p for p in pods if any(c["type"] == "Ready" and c["status"] == "True"
                                    for c in (p.get("status") or {}).get("conditions") or [])]
    return ready if len(ready) == n and len(pods) == n else None


async def test_a_budget_allows_what_its_minimum_leaves_and_eviction_spends_it(
        client, apiclient, nodes, rs_controller, disruption):  # noqa: F811
    await client.request("POST", RS, replicaset("web", 3))
    pods = await wait_until(lambda: ready_pods(apiclient, "web", 3), timeout=30)
    status, created = await client.request("POST", PDBS, pdb("web", "web", minAvailable=2))
    assert status == 201 and created["status"] == {"disruptionsAllowed": 0, "currentHealthy": 0,
                                                   "desiredHealthy": 0, "expectedPods": 0}
    b = await wait_until(lambda: settled(client, "web", currentHealthy=3, desiredHealthy=2, expectedPods=3,
                                         disruptionsAllowed=1), timeout=15)
    cond, = b["status"]["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == ("DisruptionAllowed", "True", "SufficientPods")

    first, second = (p["metadata"]["name"] for p in pods[:2])
    status, body = await evict(client, first)
    assert (status, body["status"]) == (201, "Success")
    # The budget was spent in the same write: the next eviction is refused at once.
    status, body = await evict(client, second)
    assert status == 429 and body["reason"] == "TooManyRequests" and body["message"] == REFUSED
    # "has N currently" is the budget's currentHealthy as the controller last wrote it, as in
    # Kubernetes: 3 until the controller has seen the eviction, 2 once it has.
    cause, = body["details"]["causes"]
    assert cause["reason"] == "DisruptionBudget"
    assert cause["message"] in (f"The disruption budget web needs 2 healthy pods and has {n} currently" for n in (2, 3))
    b = await budget(client, "web")
    assert b["status"]["disruptionsAllowed"] == 0 and first in b["status"]["disruptedPods"]
    assert b["status"]["conditions"][0]["reason"] == "InsufficientPods"
    # The evicted pod was marked before it went, and its replacement restores the budget.
    await wait_until(lambda: settled(client, "web", currentHealthy=3, disruptionsAllowed=1), timeout=30)
    assert "disruptedPods" not in (await budget(client, "web"))["status"]
    assert (await evict(client, second))[0] == 201


async def test_the_evicted_pod_carries_the_disruption_target_condition(client, apiclient, rs_controller):  # noqa: F811
    """No node here: the pod stays Pending... so it is bound by hand to a node that never runs it."""
    await client.request("POST", RS, replicaset("mark", 1))
    pod = (await wait_until(lambda: pods_of(apiclient, "mark"), timeout=15))[0]
    name = pod["metadata"]["name"]
    await client.request("POST", f"{PODS}/{name}/binding", {"apiVersion": "v1", "kind": "Binding",
                                                             "metadata": {"name": name},
                                                             "target": {"kind": "Node", "name": "far"}})
    await client.request("PATCH", f"{PODS}/{name}/status", {"status": {"phase": "Running"}},
                         headers={"Content-Type": "application/merge-patch+json"})
    assert (await evict(client, name))[0] == 201
    _, marked = await client.request("GET", f"{PODS}/{name}")  # graceful: it waits for its node
    assert marked["metadata"]["deletionTimestamp"]
    cond = next(c for c in marked["status"]["conditions"] if c["type"] == "DisruptionTarget")
    assert (cond["status"], cond["reason"], cond["message"]) == ("True", "EvictionByEvictionAPI",
                                                                 "Eviction API: evicting")


async def test_two_evictions_racing_for_the_last_disruption_do_not_both_pass(
        client, apiclient, nodes, rs_controller, disruption):  # noqa: F811
    await client.request("POST", RS, replicaset("race", 4))
    pods = await wait_until(lambda: ready_pods(apiclient, "race", 4), timeout=30)
    await client.request("POST", PDBS, pdb("race", "race", maxUnavailable=1))
    await wait_until(lambda: settled(client, "race", disruptionsAllowed=1, expectedPods=4), timeout=15)
    results = await asyncio.gather(*(evict(client, p["metadata"]["name"]) for p in pods))
    assert sorted(code for code, _ in results) == [201, 429, 429, 429]


async def test_percentages_count_the_controllers_scale(client, apiclient, nodes, controllers, disruption):  # noqa: F811
    await client.request("POST", "/apis/apps/v1/namespaces/default/deployments", deployment("pct", 3))
    await wait_until(lambda: ready_pods(apiclient, "pct", 3), timeout=30)
    await client.request("POST", PDBS, pdb("pct", "pct", maxUnavailable="34%"))
    # 34% of 3 rounds up to 2 may be unavailable: 1 must stay healthy.
    await wait_until(lambda: settled(client, "pct", expectedPods=3, desiredHealthy=1, disruptionsAllowed=2), timeout=15)
    await client.request("PATCH", f"{PDBS}/pct", {"spec": {"maxUnavailable": None, "minAvailable": "50%"}},
                         headers={"Content-Type": "application/merge-patch+json"})
    await wait_until(lambda: settled(client, "pct", expectedPods=3, desiredHealthy=2, disruptionsAllowed=1), timeout=15)


async def test_unhealthy_pods_may_go_as_the_policy_says(client, apiclient, nodes, rs_controller, disruption):  # noqa: F811
    rs = replicaset("sick", 2)
    rs["spec"]["template"]["metadata"]["annotations"] = {"pyctl.io/hollow-probe-fail": "readiness"}
    rs["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = {"exec": {"command": ["true"]},
                                                                        "periodSeconds": 1}
    await client.request("POST", RS, rs)
    await wait_until(lambda: _running(apiclient, "sick", 2), timeout=30)
    await client.request("POST", PDBS, pdb("sick", "sick", minAvailable=1))
    await wait_until(lambda: settled(client, "sick", currentHealthy=0, disruptionsAllowed=0), timeout=15)
    victim = (await pods_of(apiclient, "sick"))[0]["metadata"]["name"]
    status, body = await evict(client, victim)
    assert status == 429 and body["message"] == REFUSED  # IfHealthyBudget: the budget is not met
    await client.request("PATCH", f"{PDBS}/sick", {"spec": {"unhealthyPodEvictionPolicy": "AlwaysAllow"}},
                         headers={"Content-Type": "application/merge-patch+json"})
    await wait_until(lambda: settled(client, "sick"), timeout=15)
    assert (await evict(client, victim))[0] == 201


async def test_refusals_before_the_controller_has_seen_the_budget_and_with_two_budgets(
        client, apiclient, nodes, rs_controller):  # noqa: F811
    await client.request("POST", RS, replicaset("both", 1))
    pod = (await wait_until(lambda: ready_pods(apiclient, "both", 1), timeout=30))[0]["metadata"]["name"]
    await client.request("POST", PDBS, pdb("one", "both", minAvailable=0))
    status, body = await evict(client, pod)  # no disruption controller runs: status is unobserved
    assert status == 429 and body["details"]["causes"][0]["message"] == \
        "The disruption budget one is still being processed by the server."
    assert body["details"]["retryAfterSeconds"] == 10
    await client.request("POST", PDBS, pdb("two", "both", maxUnavailable=1))
    status, body = await evict(client, pod)
    assert status == 500 and body["message"] == ("This pod has more than one PodDisruptionBudget, which the "
                                                 "eviction subresource does not support.")


async def test_dry_run_eviction_changes_nothing(client, apiclient, nodes, rs_controller, disruption):  # noqa: F811
    await client.request("POST", RS, replicaset("dry", 2))
    pod = (await wait_until(lambda: ready_pods(apiclient, "dry", 2), timeout=30))[0]
    await client.request("POST", PDBS, pdb("dry", "dry", minAvailable=1))
    before = await wait_until(lambda: settled(client, "dry", disruptionsAllowed=1), timeout=15)
    status, _ = await client.request("POST", f"{PODS}/{pod['metadata']['name']}/eviction",
                                     eviction(pod["metadata"]["name"]), params={"dryRun": "All"})
    assert status == 201
    assert (await budget(client, "dry"))["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    _, live = await client.request("GET", f"{PODS}/{pod['metadata']['name']}")
    assert not live["metadata"].get("deletionTimestamp")


async def _running(apiclient, app: str, n: int) -> bool:  # noqa: F811
    return sum(1 for p in await pods_of(apiclient, app) if p["status"].get("phase") == "Running") == n
