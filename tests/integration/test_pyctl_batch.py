"""pyctl over Jobs, CronJobs, PodDisruptionBudgets and ReplicationControllers: kubectl's tables,
describe, `get all`, `create job --from=cronjob/...`, `logs job/...` and `scale rc`, against the
real API server, controllers, scheduler and hollow agents (their logs are synthetic)."""

from __future__ import annotations

import pytest

from controlplane.client import ApiClient
from controlplane.controllers.disruption import DisruptionController
from controlplane.controllers.job import JobConfig, JobController
from controlplane.controllers.replicationcontroller import replication_controller

from ..cluster import wait_until
from .test_disruption import pdb, settled
from .test_job_controller import has_condition, job
from .test_pyctl import pyctl
from .test_replicaset_controller import apiclient, nodes  # noqa: F401 - fixtures

JOBS = "/apis/batch/v1/namespaces/default/jobs"
CRONJOBS = "/apis/batch/v1/namespaces/default/cronjobs"
PDBS = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"
RCS = "/api/v1/namespaces/default/replicationcontrollers"


@pytest.fixture
async def controllers(api):
    clients = [ApiClient(api.url, user_agent=n) for n in ("job", "rc", "disruption")]
    running = [JobController(clients[0], JobConfig(backoff_base=0.2)), replication_controller(clients[1]),
               DisruptionController(clients[2])]
    for c in running:
        await c.start()
    yield running
    for c in running:
        await c.stop()
    for client in clients:
        await client.close()


def cronjob(name: str) -> dict:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": "0 3 * * *", "timeZone": "Europe/Berlin",
                     "jobTemplate": {"metadata": {"labels": {"team": "data"}},
                                     "spec": {"template": job(name)["spec"]["template"]}}}}


def rc(name: str, replicas: int) -> dict:
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
            "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": name}},
                                                        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


async def test_tables_describe_and_get_all(api, client, nodes, controllers):  # noqa: F811
    await client.request("POST", JOBS, job("batch1", completions=2, parallelism=2))
    await client.request("POST", CRONJOBS, cronjob("nightly"))
    await client.request("POST", RCS, rc("legacy", 2))
    await client.request("POST", PDBS, {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                                        "metadata": {"name": "legacy"},
                                        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "legacy"}}}})
    await wait_until(lambda: has_condition(client, "batch1", "Complete"), timeout=60)

    async def rc_ready() -> bool:
        return ((await client.request("GET", f"{RCS}/legacy"))[1].get("status") or {}).get("readyReplicas") == 2
    await wait_until(rc_ready, timeout=30)

    r = await pyctl(api.url, "get", "jobs,cronjobs,pdb,rc")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert lines[1].split()[:3] == ["job.batch/batch1", "Complete", "2/2"]
    cron_header = lines.index(next(x for x in lines if x.startswith("NAME") and "SCHEDULE" in x))
    assert lines[cron_header].split() == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"]
    assert lines[cron_header + 1].split()[:7] == ["cronjob.batch/nightly", "0", "3", "*", "*", "*", "Europe/Berlin"]
    pdb_line = next(x for x in lines if x.startswith("poddisruptionbudget.policy/legacy"))
    assert pdb_line.split()[:4] == ["poddisruptionbudget.policy/legacy", "1", "N/A", "1"]
    rc_line = next(x for x in lines if x.startswith("replicationcontroller/legacy"))
    assert rc_line.split()[:4] == ["replicationcontroller/legacy", "2", "2", "2"]

    r = await pyctl(api.url, "get", "all")
    assert r.code == 0
    assert "job.batch/batch1" in r.out and "cronjob.batch/nightly" in r.out and "replicationcontroller/legacy" in r.out
    assert "poddisruptionbudget" not in r.out  # not in the "all" category, as in Kubernetes
    # In kube's discovery order: pods, replicationcontrollers, ..., cronjobs, jobs.
    at = {ref: r.out.index(ref) for ref in ("pod/", "replicationcontroller/", "cronjob.batch/", "job.batch/")}
    assert at["pod/"] < at["replicationcontroller/"] < at["cronjob.batch/"] < at["job.batch/"]

    r = await pyctl(api.url, "describe", "job", "batch1")
    assert r.code == 0, r.err
    text = r.out
    for expected in ("Parallelism:", "Completions:      2", "Completion Mode:  NonIndexed", "Backoff Limit:    6",
                     "Pods Statuses:    0 Active (0 Ready) / 2 Succeeded / 0 Failed", "Pod Template:",
                     "SuccessfulCreate", "Completed"):
        assert expected in text, (expected, text)
    r = await pyctl(api.url, "describe", "cronjob", "nightly")
    fields = {k.strip(): v.strip() for k, _, v in (x.partition(":") for x in r.out.splitlines() if ":" in x)}
    assert (fields["Schedule"], fields["Time Zone"], fields["Concurrency Policy"], fields["Suspend"]) == \
        ("0 3 * * *", "Europe/Berlin", "Allow", "False")
    assert (fields["Last Schedule Time"], fields["Active Jobs"]) == ("<unset>", "<none>")
    r = await pyctl(api.url, "describe", "pdb", "legacy")
    assert "Min available:  1\nSelector:       app=legacy\nStatus:\n    Allowed disruptions:  1\n" in r.out
    r = await pyctl(api.url, "describe", "rc", "legacy")
    assert "Selector:     app=legacy" in r.out and "Replicas:     2 current / 2 desired" in r.out


async def test_create_job_from_a_cronjob_and_read_its_logs(api, client, nodes, controllers):  # noqa: F811
    await client.request("POST", CRONJOBS, cronjob("report"))
    r = await pyctl(api.url, "create", "job", "report-now", "--from=cronjob/report")
    assert (r.code, r.out) == (0, "job.batch/report-now created\n"), r.err
    _, made = await client.request("GET", f"{JOBS}/report-now")
    _, cj = await client.request("GET", f"{CRONJOBS}/report")
    assert made["metadata"]["annotations"] == {"cronjob.kubernetes.io/instantiate": "manual"}
    assert made["metadata"]["labels"]["team"] == "data"
    ref, = made["metadata"]["ownerReferences"]
    assert (ref["kind"], ref["uid"], ref["controller"]) == ("CronJob", cj["metadata"]["uid"], True)
    assert "blockOwnerDeletion" not in ref
    await wait_until(lambda: has_condition(client, "report-now", "Complete"), timeout=60)
    r = await pyctl(api.url, "logs", "job/report-now")
    assert r.code == 0 and "[hollow]" in r.out, r.err

    r = await pyctl(api.url, "create", "job", "oops", "--from=cronjob/missing")
    assert r.code == 1 and 'cronjobs.batch "missing" not found' in r.err
    r = await pyctl(api.url, "create", "job", "both", "--from=cronjob/report", "--image=busybox")
    assert r.code == 1 and "either --image or --from must be specified" in r.err
    r = await pyctl(api.url, "create", "job", "hi", "--image=busybox", "--", "echo", "hi")
    assert r.code == 0, r.err
    _, hi = await client.request("GET", f"{JOBS}/hi")
    assert hi["spec"]["template"]["spec"]["containers"][0]["command"] == ["echo", "hi"]


async def test_scale_rc(api, client, apiclient, nodes, controllers):  # noqa: F811
    await client.request("POST", RCS, rc("sized", 1))
    r = await pyctl(api.url, "scale", "rc", "sized", "--replicas=3")
    assert (r.code, r.out) == (0, "replicationcontroller/sized scaled\n"), r.err

    async def three() -> bool:
        return ((await client.request("GET", f"{RCS}/sized"))[1].get("status") or {}).get("readyReplicas") == 3
    await wait_until(three, timeout=30)


async def test_drain_waits_for_a_budget_and_says_so(api, client, apiclient, nodes, controllers):  # noqa: F811
    """Both replicas of an RC on node-a, a budget of 1: the second eviction is refused (429) and
    retried until the first one's replacement is ready on node-b, as kubectl drain does."""
    for node in ("node-b", "node-c"):
        assert (await pyctl(api.url, "cordon", node)).code == 0
    await client.request("POST", RCS, rc("db", 2))

    async def both_ready() -> bool:
        return ((await client.request("GET", f"{RCS}/db"))[1].get("status") or {}).get("readyReplicas") == 2
    await wait_until(both_ready, timeout=30)
    await client.request("POST", PDBS, pdb("db", "db", minAvailable=1))
    await wait_until(lambda: settled(client, "db", disruptionsAllowed=1), timeout=15)
    assert (await pyctl(api.url, "uncordon", "node-b")).code == 0
    r = await pyctl(api.url, "drain", "node-a", "--grace-period=1", "--timeout=60s", timeout=90)
    assert r.code == 0, r.err
    assert "(will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget." in r.err
    assert r.err.startswith('error when evicting pods/"db-') and ' -n "default" (will retry after 5s)' in r.err
    assert r.out.endswith("evicted\nnode/node-a drained\n")
