"""pyctl's read side and its settings: get forms, watch, describe, config, delete's wait."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys

import pytest
import yaml

from tests.cluster import wait_until

from .test_pyctl import DEPLOYMENT, REPO, pyctl

KUBECTL = "/root/.pyenv/versions/3.11.7/bin/kubectl"


async def make(client, path: str, obj: dict) -> dict:
    status, body = await client.request("POST", path, obj)
    assert status == 201, body
    return body


def configmap(name: str, namespace: str = "default", **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels}, "data": {"k": "v"}}


async def test_get_forms(api, client):
    await make(client, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": "other"}})
    await make(client, "/api/v1/namespaces/default/configmaps", configmap("one", app="web"))
    await make(client, "/api/v1/namespaces/other/configmaps", configmap("two", "other", app="db"))
    r = await pyctl(api.url, "apply", "-f", str(REPO / "manifests"))
    assert r.code == 0

    r = await pyctl(api.url, "get", "deploy,svc")
    blocks = r.out.split("\n\n")
    assert [[line.split()[0] for line in b.splitlines()[1:]] for b in blocks] == \
        [["deployment.apps/myapp"], ["service/kubernetes", "service/myapp"]]  # the API server's own too

    r = await pyctl(api.url, "get", "deployment/myapp", "svc/myapp", "-o", "name")
    assert r.out == "deployment.apps/myapp\nservice/myapp\n"

    r = await pyctl(api.url, "get", "cm", "-A", "-l", "app")
    assert [line.split()[:2] for line in r.out.splitlines()] == [
        ["NAMESPACE", "NAME"], ["default", "one"], ["other", "two"]]

    r = await pyctl(api.url, "get", "cm", "-n", "other", "--show-labels")
    assert r.out.splitlines()[1].split()[-1] == "app=db"

    r = await pyctl(api.url, "get", "cm", "one", "-o", "jsonpath={.metadata.labels.app}")
    assert r.out == "web"

    r = await pyctl(api.url, "get", "cm", "-o", "json")
    listed = json.loads(r.out)
    assert listed["kind"] == "List" and [i["metadata"]["name"] for i in listed["items"]] == ["one"]
    assert listed["items"][0]["kind"] == "ConfigMap"

    r = await pyctl(api.url, "get", "all")
    assert "deployment.apps/myapp" in r.out and "service/myapp" in r.out

    r = await pyctl(api.url, "get", "pods")
    assert (r.code, r.out, r.err) == (0, "", "No resources found in default namespace.\n")


async def test_watch_prints_each_change_under_the_first_header(api, client):
    await make(client, "/api/v1/namespaces/default/configmaps", configmap("first"))
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYCTL_CONFIG": "/nonexistent/pyctl-config"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pyctl", "--server", api.url, "get", "cm", "-w", "--output-watch-events",
        cwd=str(REPO), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        header = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        first = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert header.split() == ["EVENT", "NAME", "DATA", "AGE"]
        assert first.split()[:3] == ["ADDED", "first", "1"]
        await make(client, "/api/v1/namespaces/default/configmaps", configmap("second"))
        added = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        await client.request("DELETE", "/api/v1/namespaces/default/configmaps/first")
        deleted = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert added.split()[:2] == ["ADDED", "second"]
        assert deleted.split()[:2] == ["DELETED", "first"]
        assert added.index("second") == header.index("NAME")  # rows stay under the header
    finally:
        proc.terminate()
        await proc.wait()
        # One more event makes the server notice the watcher left (and free it at once).
        await make(client, "/api/v1/namespaces/default/configmaps", configmap("nudge"))


async def test_describe_deployment_with_events(api, client):
    r = await pyctl(api.url, "apply", "-f", str(DEPLOYMENT))
    assert r.code == 0
    _, live = await client.request("GET", "/apis/apps/v1/namespaces/default/deployments/myapp")
    await make(client, "/api/v1/namespaces/default/events", {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "myapp.1"},
        "involvedObject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "myapp",
                           "namespace": "default", "uid": live["metadata"]["uid"]},
        "reason": "ScalingReplicaSet", "message": "Scaled up replica set myapp-1 to 3", "type": "Normal",
        "source": {"component": "deployment-controller"}, "count": 1,
        "firstTimestamp": live["metadata"]["creationTimestamp"],
        "lastTimestamp": live["metadata"]["creationTimestamp"]})
    r = await pyctl(api.url, "describe", "deployment", "myapp")
    lines = r.out.splitlines()
    assert r.code == 0
    assert lines[0] == "Name:                   myapp"
    assert "Replicas:               3 desired | 0 updated | 0 total | 0 available | 0 unavailable" in lines
    assert "RollingUpdateStrategy:  25% max unavailable, 25% max surge" in lines
    assert "    Image:      localhost:5000/pyctl/demo:1.0" in lines
    assert any(line.split()[:4] == ["Readiness:", "http-get", "http://:8080/", "delay=0s"]
               for line in lines)
    events = lines[lines.index("Events:") + 1:]
    assert events[0].split() == ["Type", "Reason", "Age", "From", "Message"]
    assert events[2].split()[:2] == ["Normal", "ScalingReplicaSet"]
    assert events[2].endswith("deployment-controller  Scaled up replica set myapp-1 to 3")


async def test_describe_by_name_prefix_and_generic_kinds(api, client):
    for name in ("web-1", "web-2", "db"):
        await make(client, "/api/v1/namespaces/default/pods", {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 80}]}]}})
    r = await pyctl(api.url, "describe", "pods", "web")
    names = [line.split()[1] for line in r.out.splitlines() if line.startswith("Name:")]
    assert names == ["web-1", "web-2"]
    assert "    Port:         80/TCP" in r.out.splitlines()
    await make(client, "/apis/coordination.k8s.io/v1/namespaces/default/leases", {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "lock"},
        "spec": {"holderIdentity": "me"}})
    r = await pyctl(api.url, "describe", "lease", "lock")
    assert "API Version:  coordination.k8s.io/v1" in r.out.splitlines()
    assert "  Holder Identity:  me" in r.out.splitlines()


async def test_delete_waits_until_the_object_is_gone(api, client):
    obj = configmap("held")
    obj["metadata"]["finalizers"] = ["example.com/hold"]
    await make(client, "/api/v1/namespaces/default/configmaps", obj)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYCTL_CONFIG": "/nonexistent/pyctl-config"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pyctl", "--server", api.url, "delete", "cm", "held",
        cwd=str(REPO), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    said = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    assert said == 'configmap "held" deleted from default namespace\n'

    async def terminating() -> bool:
        _, body = await client.request("GET", "/api/v1/namespaces/default/configmaps/held")
        return bool(body.get("metadata", {}).get("deletionTimestamp"))

    await wait_until(terminating)
    assert proc.returncode is None  # still waiting: the finalizer holds the object
    status, _ = await client.request(
        "PATCH", "/api/v1/namespaces/default/configmaps/held", data=json.dumps(
            {"metadata": {"finalizers": None}}),
        headers={"Content-Type": "application/merge-patch+json"})
    assert status == 200
    assert await asyncio.wait_for(proc.wait(), 30) == 0
    # An event on the watched name makes the server notice the watcher left (and free it at once).
    await make(client, "/api/v1/namespaces/default/configmaps", configmap("held"))


async def test_config_commands_make_a_file_kubectl_can_use(api, tmp_path):
    cfg = tmp_path / "config"
    steps = [
        (["config", "set-cluster", "local", f"--server={api.url}"], 'Cluster "local" set.\n'),
        (["config", "set-credentials", "admin", "--token=t0ken"], 'User "admin" set.\n'),
        (["config", "set-context", "local", "--cluster=local", "--user=admin"], 'Context "local" created.\n'),
        (["config", "use-context", "local"], 'Switched to context "local".\n'),
        (["config", "set-context", "--current", "--namespace=kube-system"], 'Context "local" modified.\n'),
        (["config", "current-context"], "local\n"),
    ]
    for args, said in steps:
        r = await pyctl(None, *args, config=cfg)
        assert (r.code, r.out) == (0, said), r.err
    r = await pyctl(None, "config", "view", config=cfg)
    view = yaml.safe_load(r.out)
    assert view["users"][0]["user"]["token"] == "REDACTED"
    assert view["contexts"][0]["context"]["namespace"] == "kube-system"
    # no --server: the context says where, and in which namespace
    r = await pyctl(None, "get", "cm", config=cfg)
    assert r.err == "No resources found in kube-system namespace.\n"
    r = await pyctl(None, "get", "ns", "default", config=cfg)
    assert r.out.split()[:5] == ["NAME", "STATUS", "AGE", "default", "Active"]
    if not (os.path.exists(KUBECTL) or shutil.which("kubectl")):
        pytest.skip("kubectl is not installed")
    proc = await asyncio.create_subprocess_exec(
        KUBECTL if os.path.exists(KUBECTL) else "kubectl", "--kubeconfig", str(cfg),
        "--cache-dir", str(tmp_path / "cache"), "config", "view", "--minify", "-o",
        "jsonpath={.clusters[0].cluster.server}", stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert out.decode() == api.url


async def test_version(api):
    r = await pyctl(api.url, "version")
    client_line, server_line = r.out.splitlines()
    assert client_line.startswith("Client Version: v")
    assert server_line.startswith("Server Version: v1.")
    r = await pyctl(None, "version", "--client", "-o", "json", config=REPO / "nonexistent")
    assert "serverVersion" not in json.loads(r.out)
