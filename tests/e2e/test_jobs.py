"""Jobs whose containers really run, as root: the API server, the scheduler, the Job controller,
the gateway and a runc agent. A Job succeeds because its processes exit 0, fails because they
exit 1, and an Indexed Job's pods print $JOB_COMPLETION_INDEX, read back through `pyctl logs`
and the real `kubectl logs`."""

from __future__ import annotations

import pytest

from controlplane.client import ApiClient
from controlplane.controllers.job import JobConfig, JobController
from controlplane.gateway import start_gateway
from controlplane.scheduler.scheduler import Scheduler, SchedulerConfig

from ..cluster import wait_until
from ..integration.kubectl import Kubectl
from ..integration.test_job_controller import conditions, has_condition
from ..integration.test_pyctl import pyctl
from .helpers import fast_agent
from .test_exec import FAST
from .test_runtime import Node, node, pytestmark  # noqa: F401  (the fixture and the root/runc skip)

JOBS = "/apis/batch/v1/namespaces/default/jobs"
PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture
async def cluster(api, client, node: Node):  # noqa: F811
    gateway = await start_gateway(api.url, "127.0.0.1:0", FAST)
    agent = fast_agent(gateway.address, node.rt, listen="127.0.0.1:0")
    scheduler = Scheduler(api.url, SchedulerConfig(initial_backoff=0.05, max_backoff=0.2))
    await scheduler.start()
    jobs = JobController(ApiClient(api.url, user_agent="job-controller"), JobConfig(backoff_base=0.5))
    await jobs.start()
    try:
        yield client
    finally:
        await jobs.stop()
        await jobs.client.close()
        await scheduler.stop()
        await agent.stop()
        await gateway.stop()


def job(name: str, script: str, **spec) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                                           "containers": [{"name": "c", "image": "busybox",
                                                           "command": ["sh", "-c", script]}]}}, **spec}}


async def pods_of(client, name: str) -> list[dict]:
    _, body = await client.request("GET", PODS, params={"labelSelector": f"job-name={name}"})
    return body["items"]


def exit_codes(pods: list[dict]) -> list[int]:
    return sorted(p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] for p in pods)


async def test_a_job_whose_containers_exit_zero_completes(cluster) -> None:
    client = cluster
    assert (await client.request("POST", JOBS, job("ok", "echo working; sleep 0.2", completions=2)))[0] == 201
    await wait_until(lambda: has_condition(client, "ok", "Complete"), timeout=120)
    _, j = await client.request("GET", f"{JOBS}/ok")
    assert j["status"]["succeeded"] == 2 and "failed" not in j["status"]
    pods = await pods_of(client, "ok")
    assert [p["status"]["phase"] for p in pods] == ["Succeeded", "Succeeded"] and exit_codes(pods) == [0, 0]
    assert all(not p["metadata"].get("finalizers") for p in pods)


async def test_a_job_whose_containers_exit_one_hits_its_backoff_limit(cluster) -> None:
    client = cluster
    await client.request("POST", JOBS, job("bad", "echo failing; exit 1", backoffLimit=1))
    failed = await wait_until(lambda: has_condition(client, "bad", "Failed"), timeout=120)
    assert (failed["reason"], failed["message"]) == ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
    _, j = await client.request("GET", f"{JOBS}/bad")
    assert j["status"]["failed"] == 2 and conditions(j)["FailureTarget"]["status"] == "True"
    pods = await pods_of(client, "bad")
    assert [p["status"]["phase"] for p in pods] == ["Failed", "Failed"] and exit_codes(pods) == [1, 1]


async def test_indexed_pods_print_their_index_read_back_through_logs(cluster, api, tmp_path) -> None:
    client = cluster
    await client.request("POST", JOBS, job("idx", 'echo "index=$JOB_COMPLETION_INDEX host=$(hostname)"',
                                           completions=3, parallelism=3, completionMode="Indexed"))
    await wait_until(lambda: has_condition(client, "idx", "Complete"), timeout=120)
    _, j = await client.request("GET", f"{JOBS}/idx")
    assert j["status"]["completedIndexes"] == "0-2"
    printed = []
    for p in await pods_of(client, "idx"):
        r = await pyctl(api.url, "logs", p["metadata"]["name"])
        assert r.code == 0, r.err
        printed.append(r.out)
    assert sorted(printed) == [f"index={i} host=idx-{i}\n" for i in range(3)]
    kubectl = Kubectl(api.url, tmp_path)
    out = await kubectl.ok("logs", "job/idx")
    assert out in printed
    r = await pyctl(api.url, "logs", "job/idx")
    assert r.code == 0 and r.out in printed
