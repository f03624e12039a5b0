"""The real kubectl 1.37 with Jobs, CronJobs, PodDisruptionBudgets and ReplicationControllers:
`wait --for=condition=complete`, `create job --from=cronjob/...`, `logs job/...`, tables, and
`drain` held back by a budget until the evicted pods' replacements are ready elsewhere. Against
the real API server, controllers, scheduler and hollow agents (see test_replicaset_controller)."""

from __future__ import annotations

import pytest

from controlplane.client import ApiClient
from controlplane.controllers.disruption import DisruptionController
from controlplane.controllers.job import JobConfig, JobController

from ..cluster import wait_until
from .kubectl import Kubectl
from .test_disruption import pdb, settled
from .test_job_controller import job
from .test_replicaset_controller import apiclient, nodes, pods_of, replicaset, rs_controller  # noqa: F401

JOBS = "/apis/batch/v1/namespaces/default/jobs"
CRONJOBS = "/apis/batch/v1/namespaces/default/cronjobs"
RS = "/apis/apps/v1/namespaces/default/replicasets"
PDBS = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"


@pytest.fixture
def kubectl(api, tmp_path):
    return Kubectl(api.url, tmp_path)


@pytest.fixture
async def batch(api):
    clients = [ApiClient(api.url, user_agent=n) for n in ("job", "disruption")]
    running = [JobController(clients[0], JobConfig(backoff_base=0.2)), DisruptionController(clients[1])]
    for c in running:
        await c.start()
    yield running
    for c in running:
        await c.stop()
    for client in clients:
        await client.close()


async def test_wait_for_complete_logs_and_tables(kubectl, client, nodes, batch, tmp_path):  # noqa: F811
    manifest = tmp_path / "job.yaml"
    manifest.write_text("""apiVersion: batch/v1
kind: Job
metadata:
  name: pi
spec:
  completions: 2
  template:
    metadata:
      annotations:
        pyctl.io/hollow-run-seconds: "0.5"
    spec:
      restartPolicy: Never
      containers:
      - name: pi
        image: perl:5.34
        command: ["perl", "-Mbignum=bpi", "-wle", "print bpi(200)"]
""")
    assert (await kubectl.ok("apply", "-f", str(manifest))).strip() == "job.batch/pi created"
    out = await kubectl.ok("wait", "--for=condition=complete", "job/pi", "--timeout=60s", timeout=90)
    assert out.strip() == "job.batch/pi condition met"
    table = (await kubectl.ok("get", "jobs")).splitlines()
    assert table[0].split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert table[1].split()[:3] == ["pi", "Complete", "2/2"]
    rc, out, err = await kubectl.run("logs", "job/pi")
    assert rc == 0 and "[hollow]" in out, err
    assert "Found 2 pods, using pod/pi-" in err
    described = await kubectl.ok("describe", "job", "pi")
    assert "Pods Statuses:    0 Active (0 Ready) / 2 Succeeded / 0 Failed" in described


async def test_wait_for_failed(kubectl, client, nodes, batch):  # noqa: F811
    await client.request("POST", JOBS, job("doomed", code=1, backoffLimit=0))
    out = await kubectl.ok("wait", "--for=condition=failed", "job/doomed", "--timeout=60s", timeout=90)
    assert out.strip() == "job.batch/doomed condition met"


async def test_create_job_from_a_cronjob(kubectl, client):
    cj = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
          "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": job("x")["spec"]["template"]}}}}
    assert (await client.request("POST", CRONJOBS, cj))[0] == 201
    out = await kubectl.ok("create", "job", "nightly-now", "--from=cronjob/nightly")
    assert out.strip() == "job.batch/nightly-now created"
    _, made = await client.request("GET", f"{JOBS}/nightly-now")
    assert made["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert made["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert made["spec"]["selector"]["matchLabels"] == {"batch.kubernetes.io/controller-uid": made["metadata"]["uid"]}
    table = (await kubectl.ok("get", "cronjobs")).splitlines()
    assert table[0].split() == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"]
    assert table[1].split()[:6] == ["nightly", "@daily", "<none>", "False", "0", "<none>"]


async def test_rc_scale_and_all(kubectl, client):
    rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "old"},
          "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": "old"}},
                                               "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    assert (await client.request("POST", "/api/v1/namespaces/default/replicationcontrollers", rc))[0] == 201
    assert (await kubectl.ok("scale", "rc", "old", "--replicas=4")).strip() == "replicationcontroller/old scaled"
    _, live = await client.request("GET", "/api/v1/namespaces/default/replicationcontrollers/old")
    assert live["spec"]["replicas"] == 4
    assert "replicationcontroller/old" in await kubectl.ok("get", "all")


async def test_drain_waits_for_the_budget(kubectl, client, apiclient, nodes, rs_controller, batch):  # noqa: F811
    """Two replicas on one node, a budget of minAvailable 1: kubectl evicts one, is refused the
    other (429, retried every 5 s) until the first one's replacement is ready on another node."""
    await kubectl.ok("cordon", "node-b")
    await kubectl.ok("cordon", "node-c")
    await client.request("POST", RS, replicaset("db", 2))
    await wait_until(lambda: _ready(apiclient, "db", 2), timeout=30)
    await client.request("POST", PDBS, pdb("db", "db", minAvailable=1))
    await wait_until(lambda: settled(client, "db", disruptionsAllowed=1), timeout=15)
    await kubectl.ok("uncordon", "node-b")
    rc, out, err = await kubectl.run("drain", "node-a", "--grace-period=1", "--timeout=60s", timeout=90)
    assert rc == 0, err + out
    assert "Cannot evict pod as it would violate the pod's disruption budget." in err
    assert "(will retry after 5s)" in err and 'error when evicting pods/"db-' in err
    assert out.strip().endswith("node/node-a drained")
    pods = await pods_of(apiclient, "db")
    assert len(pods) == 2 and all(p["spec"]["nodeName"] == "node-b" for p in pods)


async def _ready(apiclient, app: str, n: int) -> bool:  # noqa: F811
    pods = await pods_of(apiclient, app)
    return sum(1 for p in pods if any(c["type"] == "Ready" and c["status"] == "True"
                                      for c in p["status"].get("conditions") or [])) == n


async def test_typed_create_commands_send_protobuf_bodies(kubectl, client):
    """kubectl 1.37's create job/cronjob/pdb send protobuf and do not fall back to JSON."""
    out = await kubectl.ok("create", "job", "hello", "--image=busybox", "--", "echo", "hi")
    assert out.strip() == "job.batch/hello created"
    _, made = await client.request("GET", f"{JOBS}/hello")
    assert made["spec"]["template"]["spec"]["containers"][0]["command"] == ["echo", "hi"]
    assert made["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    out = await kubectl.ok("create", "cronjob", "tick", "--image=busybox", "--schedule=*/5 * * * *", "--", "date")
    assert out.strip() == "cronjob.batch/tick created"
    _, cj = await client.request("GET", f"{CRONJOBS}/tick")
    assert cj["spec"]["schedule"] == "*/5 * * * *" and cj["spec"]["jobTemplate"]["metadata"]["name"] == "tick"
    out = await kubectl.ok("create", "pdb", "db", "--selector=app=db", "--min-available=50%")
    assert out.strip() == "poddisruptionbudget.policy/db created"
    _, budget = await client.request("GET", f"{PDBS}/db")
    assert budget["spec"] == {"minAvailable": "50%", "selector": {"matchLabels": {"app": "db"}}}
    rc, out, err = await kubectl.run("create", "cronjob", "bad", "--image=busybox", "--schedule=61 * * * *")
    assert rc == 1 and 'spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61' in err
