"""The Job and TTL-after-finished controllers against the real API server, with the real
scheduler placing pods and hollow agents over the real gateway running them (hollow containers
"run" for the seconds and exit with the code their annotations ask; nothing else is faked)."""

from __future__ import annotations

import asyncio

import pytest

from controlplane.client import ApiClient
from controlplane.client.kinds import PODS
from controlplane.controllers import job_tracking as jt
from controlplane.controllers.garbage_collector import GarbageCollector
from controlplane.controllers.job import JobConfig, JobController
from controlplane.controllers.ttl_after_finished import TTLAfterFinishedController

from ..cluster import wait_until
from .test_api_watch import WatchStream
from .test_replicaset_controller import apiclient, nodes  # noqa: F401 - fixtures

JOBS = "/apis/batch/v1/namespaces/default/jobs"
RUN = "pyctl.io/hollow-run-seconds"
EXIT = "pyctl.io/hollow-exit-code"


@pytest.fixture
async def job_controller(api):
    client = ApiClient(api.url, user_agent="job-controller")
    controller = JobController(client, JobConfig(backoff_base=0.2, backoff_max=1.0))
    await controller.start()
    yield controller
    await controller.stop()
    await client.close()


@pytest.fixture
async def gc(api):
    collector = GarbageCollector(ApiClient(api.url, user_agent="gc"))
    await collector.start()
    yield collector
    await collector.stop()
    await collector.client.close()


def job(name: str, *, run: float = 0.3, code: int = 0, restart: str = "Never", **spec) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"metadata": {"annotations": {RUN: str(run), EXIT: str(code)}},
                                  "spec": {"restartPolicy": restart,
                                           "containers": [{"name": "c", "image": "busybox"}]}}, **spec}}


async def get_job(client, name: str) -> dict:
    return (await client.request("GET", f"{JOBS}/{name}"))[1]


async def job_pods(apiclient: ApiClient, name: str) -> list[dict]:  # noqa: F811
    return (await apiclient.list(PODS, "default", label_selector=f"job-name={name}")).items


def conditions(j: dict) -> dict[str, dict]:
    return {c["type"]: c for c in (j.get("status") or {}).get("conditions") or []}


def true_condition(j: dict, kind: str) -> dict | None:
    c = conditions(j).get(kind)
    return c if c and c["status"] == "True" else None


async def has_condition(client, name: str, kind: str) -> dict | None:
    return true_condition(await get_job(client, name), kind)


async def test_job_runs_its_completions_and_counts_each_pod_once(client, apiclient, nodes, job_controller):
    assert (await client.request("POST", JOBS, job("count", completions=5, parallelism=2)))[0] == 201
    await wait_until(lambda: has_condition(client, "count", "Complete"), timeout=60)
    j = await get_job(client, "count")
    st = j["status"]
    assert st["succeeded"] == 5 and "failed" not in st and st["active"] == 0 and st["ready"] == 0
    assert st["uncountedTerminatedPods"] == {} and st["terminating"] == 0
    assert st["startTime"] <= st["completionTime"]
    c = conditions(j)
    assert c["SuccessCriteriaMet"]["reason"] == c["Complete"]["reason"] == "CompletionsReached"
    assert c["Complete"]["message"] == "Reached expected number of succeeded pods"
    pods = await job_pods(apiclient, "count")
    assert len(pods) == 5 and all(p["status"]["phase"] == "Succeeded" for p in pods)
    # Every pod was counted, so no pod keeps the tracking finalizer.
    assert not any(jt.TRACKING_FINALIZER in (p["metadata"].get("finalizers") or []) for p in pods)
    for p in pods:
        ref, = p["metadata"]["ownerReferences"]
        assert ref["kind"] == "Job" and ref["uid"] == j["metadata"]["uid"] and ref["controller"]
        assert p["metadata"]["labels"]["batch.kubernetes.io/controller-uid"] == j["metadata"]["uid"]


async def test_failing_pods_hit_the_backoff_limit(client, apiclient, nodes, job_controller):
    await client.request("POST", JOBS, job("fails", code=3, backoffLimit=2))
    failed = await wait_until(lambda: has_condition(client, "fails", "Failed"), timeout=60)
    assert failed["reason"] == "BackoffLimitExceeded"
    assert failed["message"] == "Job has reached the specified backoff limit"
    j = await get_job(client, "fails")
    assert j["status"]["failed"] == 3 and "succeeded" not in j["status"]
    assert conditions(j)["FailureTarget"]["status"] == "True"
    assert "completionTime" not in j["status"]
    assert len(await job_pods(apiclient, "fails")) == 3


async def test_indexed_job_gives_each_pod_its_index(client, apiclient, nodes, job_controller):
    await client.request("POST", JOBS, job("idx", completions=4, parallelism=4, completionMode="Indexed"))
    await wait_until(lambda: has_condition(client, "idx", "Complete"), timeout=60)
    j = await get_job(client, "idx")
    assert j["status"]["completedIndexes"] == "0-3" and j["status"]["succeeded"] == 4
    pods = await job_pods(apiclient, "idx")
    indexes = sorted(int(p["metadata"]["annotations"][jt.INDEX_KEY]) for p in pods)
    assert indexes == [0, 1, 2, 3]
    for p in pods:
        i = p["metadata"]["annotations"][jt.INDEX_KEY]
        assert p["metadata"]["labels"][jt.INDEX_KEY] == i
        assert p["metadata"]["name"].startswith(f"idx-{i}-") and p["spec"]["hostname"] == f"idx-{i}"
        env = {e["name"]: e for e in p["spec"]["containers"][0]["env"]}
        assert env["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == \
            "metadata.annotations['batch.kubernetes.io/job-completion-index']"


async def test_deadline_fails_a_running_job_and_stops_its_pods(client, apiclient, nodes, job_controller):
    # Both pods Running first, then the deadline shortened (the field is mutable, as in
    # Kubernetes): a deadline of 1 s from the start could pass before both pods ran.
    await client.request("POST", JOBS, job("slow", run=3600, activeDeadlineSeconds=3600, parallelism=2, completions=2))
    await wait_until(lambda: _running(apiclient, "slow", 2), timeout=30)
    assert not await has_condition(client, "slow", "Failed")
    status, _ = await client.request("PATCH", f"{JOBS}/slow", {"spec": {"activeDeadlineSeconds": 1}},
                                     headers={"Content-Type": "application/merge-patch+json"})
    assert status == 200
    failed = await wait_until(lambda: has_condition(client, "slow", "Failed"), timeout=60)
    assert failed["reason"] == "DeadlineExceeded"
    assert failed["message"] == "Job was active longer than specified deadline"
    assert (await get_job(client, "slow"))["status"]["failed"] == 2
    await wait_until(lambda: _count(apiclient, "slow", 0), timeout=30)


async def test_pod_failure_policy_ignores_and_fails(client, apiclient, nodes, job_controller):
    policy = {"rules": [{"action": "Ignore", "onExitCodes": {"operator": "In", "values": [7]}},
                        {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}]}
    await client.request("POST", JOBS, job("fatal", code=42, podFailurePolicy=policy, backoffLimit=6))
    failed = await wait_until(lambda: has_condition(client, "fatal", "Failed"), timeout=60)
    assert failed["reason"] == "PodFailurePolicy"
    pod, = await job_pods(apiclient, "fatal")
    assert failed["message"] == (f"Container c for pod default/{pod['metadata']['name']} failed with exit code 42 "
                                 "matching FailJob rule at index 1")


async def test_suspended_job_runs_nothing_until_resumed(client, apiclient, nodes, job_controller):
    await client.request("POST", JOBS, job("later", suspend=True))
    c = await wait_until(lambda: has_condition(client, "later", "Suspended"), timeout=30)
    assert (c["reason"], c["message"]) == ("JobSuspended", "Job suspended")
    await asyncio.sleep(0.5)
    assert await job_pods(apiclient, "later") == []
    assert "startTime" not in (await get_job(client, "later"))["status"]
    await client.request("PATCH", f"{JOBS}/later", {"spec": {"suspend": False}},
                         headers={"Content-Type": "application/merge-patch+json"})
    await wait_until(lambda: has_condition(client, "later", "Complete"), timeout=60)
    resumed = conditions(await get_job(client, "later"))["Suspended"]
    assert (resumed["status"], resumed["reason"]) == ("False", "JobResumed")


async def test_ttl_after_finished_deletes_the_job_and_its_pods(client, api, apiclient, nodes, job_controller, gc):
    ttl = TTLAfterFinishedController(ApiClient(api.url, user_agent="ttl"))
    await ttl.start()
    try:
        # Watched, not polled: with a TTL of 1 s a loaded machine can complete and delete the
        # Job between two polls; the watch sees it Complete, then DELETED.
        url = f"{client.base}{JOBS}?watch=1&fieldSelector=metadata.name%3Dbrief"
        async with WatchStream(client.session, url) as stream:
            await client.request("POST", JOBS, job("brief", ttlSecondsAfterFinished=1))
            seen: list[tuple[str, bool]] = []
            while not seen or seen[-1][0] != "DELETED":
                ev = await stream.next(timeout=60)
                assert ev is not None, seen
                seen.append((ev["type"], true_condition(ev["object"], "Complete") is not None))
            assert any(complete for kind, complete in seen if kind == "MODIFIED"), seen
        assert await _gone(client, "brief")
        await wait_until(lambda: _count(apiclient, "brief", 0), timeout=30)
    finally:
        await ttl.stop()
        await ttl.client.close()


async def test_deleting_a_running_job_releases_its_pods(client, apiclient, nodes, job_controller, gc):
    """The pods' tracking finalizers go with the Job, so its pods do not outlive it."""
    await client.request("POST", JOBS, job("gone", run=3600, parallelism=3, completions=3))
    await wait_until(lambda: _running(apiclient, "gone", 3), timeout=30)
    assert (await client.request("DELETE", f"{JOBS}/gone"))[0] == 200
    await wait_until(lambda: _count(apiclient, "gone", 0), timeout=60)


async def _running(apiclient, name: str, n: int) -> bool:  # noqa: F811
    pods = await job_pods(apiclient, name)
    return sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Running") >= n


async def _count(apiclient, name: str, n: int) -> bool:  # noqa: F811
    return len(await job_pods(apiclient, name)) == n


async def _gone(client, name: str) -> bool:
    return (await client.request("GET", f"{JOBS}/{name}"))[0] == 404


async def test_backoff_limit_per_index_retries_each_index_on_its_own(client, apiclient, nodes,  # noqa: F811
                                                                       job_controller):
    """Every pod exits 1: each index gets one retry (backoffLimitPerIndex 1), carrying its index's
    failure count, then fails for good; the Job fails with FailedIndexes once both have."""
    body = job("perindex", code=1, completions=2, parallelism=2, completionMode="Indexed", backoffLimitPerIndex=1)
    await client.request("POST", JOBS, body)
    failed = await wait_until(lambda: has_condition(client, "perindex", "Failed"), timeout=60)
    assert (failed["reason"], failed["message"]) == ("FailedIndexes", "Job has failed indexes")
    j = await get_job(client, "perindex")
    assert j["status"]["failedIndexes"] == "0-1" and j["status"]["failed"] == 4
    pods = await job_pods(apiclient, "perindex")
    counts = sorted((p["metadata"]["annotations"][jt.INDEX_KEY], p["metadata"]["annotations"][jt.INDEX_FAILURES])
                    for p in pods)
    assert counts == [("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")]


async def test_on_failure_restarts_count_against_the_backoff_limit(client, apiclient, nodes,  # noqa: F811
                                                                   job_controller):
    await client.request("POST", JOBS, job("crashy", code=1, restart="OnFailure", backoffLimit=2))
    failed = await wait_until(lambda: has_condition(client, "crashy", "Failed"), timeout=60)
    assert failed["reason"] == "BackoffLimitExceeded"
    await wait_until(lambda: _count(apiclient, "crashy", 0), timeout=30)  # its restarting pod went


async def test_an_evicted_pod_is_ignored_by_a_disruption_rule_and_replaced(client, apiclient, nodes,  # noqa: F811
                                                                           job_controller):
    """The Eviction API marks the pod DisruptionTarget; the agent ends it Failed; the Job's
    failure policy ignores it (backoffLimit 0 would fail the Job otherwise) and runs another."""
    policy = {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}
    body = job("evictable", run=3600, backoffLimit=0, podFailurePolicy=policy)
    body["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 1
    await client.request("POST", JOBS, body)
    first = (await wait_until(lambda: _running_pods(apiclient, "evictable"), timeout=30))[0]["metadata"]["name"]
    status, _ = await client.request("POST", f"/api/v1/namespaces/default/pods/{first}/eviction",
                                     {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": first}})
    assert status == 201
    replaced = await wait_until(lambda: _running_pods(apiclient, "evictable", besides=first), timeout=30)
    assert replaced[0]["metadata"]["name"] != first
    await wait_until(lambda: _count(apiclient, "evictable", 1), timeout=30)  # the evicted one is gone
    j = await get_job(client, "evictable")
    assert "failed" not in j["status"] and not any(c["status"] == "True" for c in (j["status"].get("conditions") or []))


async def _running_pods(apiclient, name: str, besides: str = "") -> list[dict]:  # noqa: F811
    return [p for p in await job_pods(apiclient, name)
            if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
            and p["metadata"]["name"] != besides]
