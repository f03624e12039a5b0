"""`pyctl rollout` (and the real kubectl 1.37's `rollout`) against the real API server with
both controllers and the scheduler running, and hollow agents making pods Ready (see
test_replicaset_controller)."""

from __future__ import annotations

from controlplane.controllers.deployment import util

from ..cluster import wait_until
from .kubectl import Kubectl
from .test_deployment_controller import DEPLOY, controllers, deployment, get, rolled_out  # noqa: F401
from .test_pyctl import DEPLOYMENT, pyctl
from .test_replicaset_controller import apiclient, nodes, pods_of, rs_controller  # noqa: F401

STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}


def image_patch(image: str) -> dict:
    return {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}}


async def image_of(client, name: str) -> str:
    return (await get(client, name))["spec"]["template"]["spec"]["containers"][0]["image"]


async def test_status_history_undo_restart_pause_resume(api, client, apiclient, nodes, controllers, tmp_path):  # noqa: F811
    assert (await pyctl(api.url, "apply", "-f", str(DEPLOYMENT))).code == 0
    r = await pyctl(api.url, "rollout", "status", "deployment/myapp", "--timeout=60s")
    assert r.code == 0, r.err
    assert r.out.splitlines()[-1] == 'deployment "myapp" successfully rolled out'
    for line in r.out.splitlines()[:-1]:
        assert line.startswith(("Waiting for deployment \"myapp\" rollout to finish: ",
                                "Waiting for deployment spec update to be observed..."))

    # A new image: status follows it to the end.
    await client.request("PATCH", f"{DEPLOY}/myapp", image_patch("localhost:5000/pyctl/demo:2.0"), headers=STRATEGIC)
    r = await pyctl(api.url, "rollout", "status", "deploy", "myapp", "--timeout=60s")
    assert (r.code, r.out.splitlines()[-1]) == (0, 'deployment "myapp" successfully rolled out')
    assert len(await pods_of(apiclient, "myapp")) == 3

    r = await pyctl(api.url, "rollout", "history", "deployment/myapp")
    assert (r.code, r.out) == (0, "deployment.apps/myapp \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n\n")
    r = await pyctl(api.url, "rollout", "history", "deployment/myapp", "--revision=1")
    assert r.code == 0 and "Image:\tlocalhost:5000/pyctl/demo:1.0" in r.out
    assert r.out.startswith("deployment.apps/myapp with revision #1\nPod Template:\n")

    # Undo goes back to the previous template; the controller reuses its ReplicaSet as revision 3.
    r = await pyctl(api.url, "rollout", "undo", "deployment/myapp")
    assert (r.code, r.out) == (0, "deployment.apps/myapp rolled back\n")
    assert "previously managed with 'pyctl apply'" in r.err
    assert await image_of(client, "myapp") == "localhost:5000/pyctl/demo:1.0"
    assert (await pyctl(api.url, "rollout", "status", "deployment/myapp", "--timeout=60s")).code == 0
    assert {p["spec"]["containers"][0]["image"] for p in await pods_of(apiclient, "myapp")} == \
        {"localhost:5000/pyctl/demo:1.0"}
    assert util.revision(await get(client, "myapp")) == 3
    r = await pyctl(api.url, "rollout", "undo", "deployment/myapp", "--to-revision=3")
    assert (r.code, r.out) == (0, "deployment.apps/myapp skipped rollback (current template already "
                                  "matches revision 3)\n")
    r = await pyctl(api.url, "rollout", "undo", "deployment/myapp", "--to-revision=9")
    assert (r.code, r.err.splitlines()[-1]) == (1, "error: unable to find specified revision 9 in history")

    # Pause: a template change is not rolled out; resume rolls it out.
    assert (await pyctl(api.url, "rollout", "pause", "deployment/myapp")).out == "deployment.apps/myapp paused\n"
    r = await pyctl(api.url, "rollout", "pause", "deployment/myapp")
    assert (r.code, r.err) == (1, 'error: deployments.apps "myapp" is already paused\n')
    r = await pyctl(api.url, "rollout", "restart", "deployment/myapp")
    assert (r.code, r.err) == (1, 'error: deployments.apps "myapp" can\'t restart paused deployment '
                                  '(run rollout resume first)\n')
    assert (await pyctl(api.url, "rollout", "resume", "deployment/myapp")).out == "deployment.apps/myapp resumed\n"

    # Restart: a new revision with every pod replaced.
    before = {p["metadata"]["name"] for p in await pods_of(apiclient, "myapp")}
    assert (await pyctl(api.url, "rollout", "restart", "deployment/myapp")).out == "deployment.apps/myapp restarted\n"
    assert (await pyctl(api.url, "rollout", "status", "--watch", "deployment/myapp", "--timeout=60s")).code == 0
    after = {p["metadata"]["name"] for p in await pods_of(apiclient, "myapp")}
    assert len(after) == 3 and not before & after
    d = await get(client, "myapp")
    assert "kubectl.kubernetes.io/restartedAt" in d["spec"]["template"]["metadata"]["annotations"]

    # The real kubectl reads the same status and history.
    kubectl = Kubectl(api.url, tmp_path)
    out = await kubectl.ok("rollout", "status", "deployment/myapp", "--timeout=60s")
    assert out.splitlines()[-1] == 'deployment "myapp" successfully rolled out'
    r = await pyctl(api.url, "rollout", "history", "deployment/myapp")
    assert await kubectl.ok("rollout", "history", "deployment/myapp") == r.out


async def test_kubectl_rollout_status_follows_a_rollout(api, client, nodes, controllers, tmp_path):  # noqa: F811
    kubectl = Kubectl(api.url, tmp_path)
    await client.request("POST", DEPLOY, deployment("kube", 6, "web:1"))
    out = await kubectl.ok("rollout", "status", "deployment/kube", "--timeout=60s")
    assert out.splitlines()[-1] == 'deployment "kube" successfully rolled out'
    await client.request("PATCH", f"{DEPLOY}/kube", {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "web:2"}]}}}}, headers=STRATEGIC)
    out = await kubectl.ok("rollout", "status", "deployment/kube", "--timeout=60s")
    assert out.splitlines()[-1] == 'deployment "kube" successfully rolled out'
    assert await rolled_out(client, "kube")


async def test_status_timeout_deadline_and_watch_false(api, client, controllers, tmp_path):  # noqa: F811
    """No nodes: pods stay Pending, so these rollouts never finish."""
    await client.request("POST", DEPLOY, deployment("pending", 2))
    r = await pyctl(api.url, "rollout", "status", "deployment/pending", "--timeout=2s")
    assert r.code == 1 and r.err.endswith("error: timed out waiting for the condition\n")
    assert r.out.startswith('Waiting for deployment "pending" rollout to finish: ')

    async def observed():
        d = await get(client, "pending")
        return d.get("status", {}).get("observedGeneration") == d["metadata"]["generation"]
    await wait_until(observed, timeout=10)
    r = await pyctl(api.url, "rollout", "status", "deployment/pending", "--watch=false")
    assert (r.code, r.out) == (0, 'Waiting for deployment "pending" rollout to finish: '
                                  '0 of 2 updated replicas are available...\n')

    await client.request("POST", DEPLOY, deployment("late", 1, progressDeadlineSeconds=1))
    r = await pyctl(api.url, "rollout", "status", "deployment/late", "--timeout=30s")
    assert (r.code, r.err) == (1, 'error: deployment "late" exceeded its progress deadline\n')
    rc, _, err = await Kubectl(api.url, tmp_path).run("rollout", "status", "deployment/late", "--timeout=30s")
    assert (rc, err) == (1, 'error: deployment "late" exceeded its progress deadline\n')

