"""Pod Security admission through the real API server: 403s, namespace labels, warnings."""

from __future__ import annotations

from typing import Any

from ..cluster import wait_until
from .kubectl import Kubectl
from .test_replicaset_controller import rs_controller  # noqa: F401 (the fixture)

ENFORCE = "pod-security.kubernetes.io/enforce"
PRIVILEGED_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
                  "spec": {"containers": [{"name": "c", "image": "busybox",
                                           "securityContext": {"privileged": True}}],
                           "volumes": [{"name": "h", "hostPath": {"path": "/var/log"}}]}}


async def make_namespace(client, name: str, labels: dict[str, str] | None = None) -> tuple[int, Any]:
    return await client.request("POST", "/api/v1/namespaces",
                                {"apiVersion": "v1", "kind": "Namespace",
                                 "metadata": {"name": name, "labels": labels or {}}})


async def label_namespace(client, name: str, level: str) -> list[str]:
    """Set the namespace's enforce level; the response's Warning headers."""
    async with client.session.patch(client.base + f"/api/v1/namespaces/{name}",
                                    json={"metadata": {"labels": {ENFORCE: level}}},
                                    headers={"Content-Type": "application/merge-patch+json"}) as resp:
        assert resp.status == 200, await resp.text()
        return resp.headers.getall("Warning", [])


async def test_a_privileged_pod_is_forbidden_in_the_default_namespace_and_nothing_is_stored(client) -> None:
    status, body = await client.request("POST", "/api/v1/namespaces/default/pods", PRIVILEGED_POD)
    assert status == 403, body
    assert body["reason"] == "Forbidden" and body["code"] == 403
    assert body["message"] == ('pods "x" is forbidden: violates PodSecurity "baseline:latest": '
                               'hostPath volumes (volume "h"), '
                               'privileged (container "c" must not set securityContext.privileged=true)')
    status, _ = await client.request("GET", "/api/v1/namespaces/default/pods/x")
    assert status == 404


async def test_namespace_labels_choose_the_level(client) -> None:
    assert (await make_namespace(client, "ops", {ENFORCE: "privileged"}))[0] == 201
    status, body = await client.request("POST", "/api/v1/namespaces/ops/pods", PRIVILEGED_POD)
    assert status == 201, body

    assert (await make_namespace(client, "locked", {ENFORCE: "restricted"}))[0] == 201
    plain = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "plain"},
             "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    status, body = await client.request("POST", "/api/v1/namespaces/locked/pods", plain)
    assert status == 403
    assert body["message"].startswith('pods "plain" is forbidden: violates PodSecurity "restricted:latest": '
                                      'allowPrivilegeEscalation != false')
    plain["spec"]["containers"][0]["securityContext"] = {
        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"}}
    status, body = await client.request("POST", "/api/v1/namespaces/locked/pods", plain)
    assert status == 201, body

    # Relabelling a namespace applies to the next pod.
    await label_namespace(client, "ops", "baseline")
    second = {**PRIVILEGED_POD, "metadata": {"name": "y"}}
    assert (await client.request("POST", "/api/v1/namespaces/ops/pods", second))[0] == 403


async def test_an_unknown_level_label_is_invalid(client) -> None:
    status, body = await make_namespace(client, "typo", {ENFORCE: "strict"})
    assert status == 422, body
    assert body["details"]["causes"][0]["field"] == f"metadata.labels[{ENFORCE}]"
    assert (await client.request("GET", "/api/v1/namespaces/typo"))[0] == 404


async def test_a_deployment_with_a_privileged_template_is_admitted_with_a_warning(client) -> None:
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                       "template": {"metadata": {"labels": {"app": "d"}},
                                    "spec": {"hostNetwork": True,
                                             "containers": [{"name": "c", "image": "busybox"}]}}}}
    async with client.session.post(client.base + "/apis/apps/v1/namespaces/default/deployments",
                                   json=deploy) as resp:
        assert resp.status == 201, await resp.text()
        warnings = resp.headers.getall("Warning", [])
    assert warnings == ['299 - "would violate PodSecurity \\"baseline:latest\\": '
                        'host namespaces (hostNetwork=true)"']


async def test_pod_status_and_binding_writes_are_not_reviewed_again(client) -> None:
    assert (await make_namespace(client, "later", {ENFORCE: "privileged"}))[0] == 201
    status, body = await client.request("POST", "/api/v1/namespaces/later/pods", PRIVILEGED_POD)
    assert status == 201, body
    warnings = await label_namespace(client, "later", "restricted")
    assert warnings == [
        '299 - "existing pods in namespace \\"later\\" violate the new PodSecurity enforce level '
        '\\"restricted:latest\\""',
        '299 - "x: allowPrivilegeEscalation != false, unrestricted capabilities, privileged, '
        'restricted volume types, runAsNonRoot != true, seccompProfile"']
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "x"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}}
    status, body = await client.request("POST", "/api/v1/namespaces/later/pods/x/binding", binding)
    assert status == 201, body
    status, body = await client.request("GET", "/api/v1/namespaces/later/pods/x")
    assert body["spec"]["nodeName"] == "node-1"


async def test_kubectl_shows_the_refusal_and_the_workload_warning(api, tmp_path) -> None:
    kubectl = Kubectl(api.url, tmp_path)
    rc, out, err = await kubectl.run("run", "p", "--image=busybox", "--privileged")
    assert rc == 1
    assert err.strip() == ('Error from server (Forbidden): pods "p" is forbidden: violates PodSecurity '
                           '"baseline:latest": privileged (container "p" must not set '
                           'securityContext.privileged=true)')
    manifest = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      hostPID: true
      containers: [{name: web, image: busybox}]
"""
    rc, out, err = await kubectl.run("apply", "-f", "-", stdin=manifest)
    assert rc == 0, err
    assert out.strip() == "deployment.apps/web created"
    assert err.strip() == ('Warning: would violate PodSecurity "baseline:latest": '
                           'host namespaces (hostPID=true)')


async def test_the_replicaset_records_why_its_pods_are_refused(client, rs_controller) -> None:
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs"},
          "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "rs"}},
                   "template": {"metadata": {"labels": {"app": "rs"}},
                                "spec": {"hostPID": True, "containers": [{"name": "c", "image": "busybox"}]}}}}
    status, body = await client.request("POST", "/apis/apps/v1/namespaces/default/replicasets", rs)
    assert status == 201, body

    async def failed_create() -> list[str]:
        _, events = await client.request("GET", "/api/v1/namespaces/default/events")
        return [e["message"] for e in events["items"] if e["reason"] == "FailedCreate"]
    messages = await wait_until(failed_create, timeout=30)
    assert 'is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostPID=true)' in messages[0]
    _, pods = await client.request("GET", "/api/v1/namespaces/default/pods")
    assert pods["items"] == []
