"""`pyctl rollout` and the real kubectl 1.37's `rollout` on DaemonSets and StatefulSets,
against the real API server with their controllers, the scheduler and hollow agents making
pods Ready (see test_replicaset_controller). History and undo go through ControllerRevisions,
which both clients read and patch back the same way."""

from __future__ import annotations

import json

from controlplane.machinery import history

from ..cluster import wait_until
from .kubectl import Kubectl
from .test_daemonset_controller import DS, ds_controller  # noqa: F401 - fixtures
from .test_pyctl import pyctl
from .test_replicaset_controller import apiclient, nodes, pods_of  # noqa: F401 - fixtures
from .test_statefulset_controller import STS, sts_controller  # noqa: F401 - fixtures

STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}
CR = "/apis/apps/v1/namespaces/default/controllerrevisions"


def manifest(kind: str, name: str, image: str) -> str:
    spec = {"selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "c", "image": image,
                                                  "args": ["--listen", "ab"]}]}}}
    if kind == "StatefulSet":
        spec.update(replicas=3, serviceName=name)
    return json.dumps({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec})


def image_patch(image: str) -> dict:
    return {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}


async def images(apiclient, app: str) -> set[str]:
    return {p["spec"]["containers"][0]["image"] for p in await pods_of(apiclient, app)}


async def revisions(client) -> dict[str, int]:
    return {r["metadata"]["name"]: r["revision"] for r in (await client.request("GET", CR))[1]["items"]}


async def test_daemonset_status_history_undo_restart(api, client, apiclient, nodes, ds_controller, tmp_path):  # noqa: F811
    assert (await pyctl(api.url, "apply", "-f", "-", stdin=manifest("DaemonSet", "agent", "agent:1"))).code == 0
    r = await pyctl(api.url, "rollout", "status", "ds/agent", "--timeout=60s")
    assert (r.code, r.out.splitlines()[-1]) == (0, 'daemon set "agent" successfully rolled out'), r.err
    for line in r.out.splitlines()[:-1]:
        assert line.startswith(('Waiting for daemon set "agent" rollout to finish: ',
                                "Waiting for daemon set spec update to be observed..."))

    await client.request("PATCH", f"{DS}/agent", image_patch("agent:2"), headers=STRATEGIC)
    r = await pyctl(api.url, "rollout", "status", "daemonset", "agent", "--timeout=60s")
    assert (r.code, r.out.splitlines()[-1]) == (0, 'daemon set "agent" successfully rolled out')
    assert await images(apiclient, "agent") == {"agent:2"} and len(await pods_of(apiclient, "agent")) == 3
    pod = (await pods_of(apiclient, "agent"))[0]
    assert pod["spec"]["containers"][0]["args"] == ["--listen", "ab"]  # merged by name, not replaced

    r = await pyctl(api.url, "rollout", "history", "ds/agent")
    assert (r.code, r.out) == (0, "daemonset.apps/agent \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n\n")
    r = await pyctl(api.url, "rollout", "history", "ds/agent", "--revision=1")
    assert r.code == 0 and r.out.startswith("daemonset.apps/agent with revision #1\nPod Template:\n")
    assert "Image:\tagent:1" in r.out

    kubectl = Kubectl(api.url, tmp_path)
    assert await kubectl.ok("rollout", "history", "ds/agent") == \
        (await pyctl(api.url, "rollout", "history", "ds/agent")).out
    # kubectl recognises the revision the DaemonSet runs (it compares its own encoding of the
    # template with the revision's data, byte for byte).
    out = await kubectl.ok("rollout", "undo", "ds/agent", "--to-revision=2")
    assert out == "daemonset.apps/agent skipped rollback (current template already matches revision 2)\n"

    # Undo: back to revision 1's template, which becomes revision 3.
    r = await pyctl(api.url, "rollout", "undo", "ds/agent")
    assert (r.code, r.out) == (0, "daemonset.apps/agent rolled back\n"), r.err
    assert "previously managed with 'pyctl apply'" in r.err
    assert (await pyctl(api.url, "rollout", "status", "ds/agent", "--timeout=60s")).code == 0
    assert await images(apiclient, "agent") == {"agent:1"}
    numbers = await revisions(client)
    assert sorted(numbers.values()) == [2, 3]
    r = await pyctl(api.url, "rollout", "undo", "ds/agent", "--to-revision=3")
    assert (r.code, r.out) == (0, "daemonset.apps/agent skipped rollback (current template already matches "
                                  "revision 3)\n")
    r = await pyctl(api.url, "rollout", "undo", "ds/agent", "--to-revision=9")
    assert (r.code, r.err.splitlines()[-1]) == (1, "error: unable to find specified revision 9 in history")

    # kubectl's undo goes the same way: to revision 2, which becomes 4.
    out = await kubectl.ok("rollout", "undo", "ds/agent")
    assert out.endswith("daemonset.apps/agent rolled back\n")
    out = await kubectl.ok("rollout", "status", "ds/agent", "--timeout=60s")
    assert out.splitlines()[-1] == 'daemon set "agent" successfully rolled out'
    assert await images(apiclient, "agent") == {"agent:2"}
    assert sorted((await revisions(client)).values()) == [3, 4]

    # Restart: every pod replaced, a new revision.
    before = {p["metadata"]["name"] for p in await pods_of(apiclient, "agent")}
    assert (await pyctl(api.url, "rollout", "restart", "ds/agent")).out == "daemonset.apps/agent restarted\n"
    assert (await pyctl(api.url, "rollout", "status", "ds/agent", "--timeout=60s")).code == 0
    after = {p["metadata"]["name"] for p in await pods_of(apiclient, "agent")}
    assert len(after) == 3 and not before & after
    r = await pyctl(api.url, "rollout", "pause", "ds/agent")
    assert (r.code, r.err) == (1, "error: pausing is not supported\n")


async def test_statefulset_status_history_undo_restart(api, client, apiclient, nodes, sts_controller, tmp_path):  # noqa: F811
    kubectl = Kubectl(api.url, tmp_path)
    assert (await pyctl(api.url, "apply", "-f", "-", stdin=manifest("StatefulSet", "db", "db:1"))).code == 0
    r = await pyctl(api.url, "rollout", "status", "sts/db", "--timeout=60s")
    assert (r.code, r.out.splitlines()[-1]) == (0, "partitioned roll out complete: 3 new pods have been updated..."), \
        r.err
    for line in r.out.splitlines()[:-1]:
        assert line.startswith(("Waiting for ", "Waiting for statefulset spec update to be observed..."))
    await client.request("PATCH", f"{STS}/db", image_patch("db:2"), headers=STRATEGIC)
    out = await kubectl.ok("rollout", "status", "sts/db", "--timeout=60s")
    assert out.splitlines()[-1] == "partitioned roll out complete: 3 new pods have been updated..."
    assert await images(apiclient, "db") == {"db:2"}

    r = await pyctl(api.url, "rollout", "history", "sts/db")
    assert (r.code, r.out) == (0, "statefulset.apps/db \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n\n")
    assert await kubectl.ok("rollout", "history", "sts/db") == r.out
    r = await pyctl(api.url, "rollout", "history", "sts/db", "--revision=1")
    assert "Image:\tdb:1" in r.out
    assert r.out == (await kubectl.ok("rollout", "history", "sts/db", "--revision=1"))
    out = await kubectl.ok("rollout", "undo", "sts/db", "--to-revision=2")
    assert out == "statefulset.apps/db skipped rollback (current template already matches revision 2)\n"

    r = await pyctl(api.url, "rollout", "undo", "sts/db")
    assert (r.code, r.out) == (0, "statefulset.apps/db rolled back\n"), r.err
    assert (await pyctl(api.url, "rollout", "status", "sts/db", "--timeout=60s")).code == 0
    assert await images(apiclient, "db") == {"db:1"}
    sts = (await client.request("GET", f"{STS}/db"))[1]
    st = sts["status"]
    assert st["currentRevision"] == st["updateRevision"] and (await revisions(client))[st["updateRevision"]] == 3
    for pod in await pods_of(apiclient, "db"):
        assert pod["metadata"]["labels"][history.REVISION_HASH] == st["updateRevision"]

    assert (await kubectl.ok("scale", "sts/db", "--replicas=4")) == "statefulset.apps/db scaled\n"
    await wait_until(lambda: _ready_count(client, 4), timeout=60)
    assert (await pyctl(api.url, "scale", "sts/db", "--replicas=3")).out == "statefulset.apps/db scaled\n"
    await wait_until(lambda: _ready_count(client, 3), timeout=60)
    out = await kubectl.ok("rollout", "undo", "sts/db")
    assert out.endswith("statefulset.apps/db rolled back\n")
    await wait_until(lambda: _images_are(apiclient, "db", {"db:2"}), timeout=60)
    before = {p["metadata"]["uid"] for p in await pods_of(apiclient, "db")}
    assert (await kubectl.ok("rollout", "restart", "sts/db")).endswith("statefulset.apps/db restarted\n")
    out = await kubectl.ok("rollout", "status", "sts/db", "--timeout=60s")
    assert out.splitlines()[-1] == "partitioned roll out complete: 3 new pods have been updated..."
    await wait_until(lambda: _replaced(apiclient, "db", before), timeout=60)


async def _images_are(apiclient, app: str, wanted: set[str]) -> bool:
    pods = await pods_of(apiclient, app)
    return len(pods) == 3 and await images(apiclient, app) == wanted


async def _replaced(apiclient, app: str, before: set[str]) -> bool:
    pods = await pods_of(apiclient, app)
    return len(pods) == 3 and not before & {p["metadata"]["uid"] for p in pods}


async def _ready_count(client, n: int) -> bool:
    sts = (await client.request("GET", f"{STS}/db"))[1]
    st = sts.get("status") or {}
    return sts["spec"]["replicas"] == n and st.get("readyReplicas") == n and st.get("replicas") == n
