"""Secrets, ConfigMaps and the downward API inside real containers, as root: API server, gateway
and a runc agent; what the container prints and reads is the assertion."""

from __future__ import annotations

import base64
import json
import os

import pytest

from agent.images import ImageStore, RegistryClient
from agent.images.build import busybox_image
from controlplane.gateway import start_gateway

from ..cluster import wait_until
from ..integration.test_images import auth_registry, push  # noqa: F401 (fixture)
from .helpers import fast_agent, store_rootfs
from .test_exec import FAST
from .test_runtime import Node, node, pytestmark  # noqa: F401  (the fixture and the root/runc skip)

NS = "/api/v1/namespaces/default"


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


@pytest.fixture
async def cluster(api, client, node: Node):  # noqa: F811
    gateway = await start_gateway(api.url, "127.0.0.1:0", FAST)
    agent = fast_agent(gateway.address, node.rt)
    yield client
    await agent.stop()
    await gateway.stop()


async def container_status(client, name: str) -> dict:
    _, got = await client.request("GET", f"{NS}/pods/{name}")
    return ((got.get("status") or {}).get("containerStatuses") or [{}])[0]


async def running(client, name: str) -> bool:
    return "running" in ((await container_status(client, name)).get("state") or {})


async def run_in(node: Node, uid: str, script: str) -> str:  # noqa: F811
    code, out = await node.rt.exec_in_container(uid, "c", ["sh", "-c", script], timeout=20)
    assert code == 0, out
    return out.strip()


def on_disk(root, needle: bytes) -> list[str]:
    """Regular files under `root` holding `needle`, not looking inside mounts (tmpfs, rootfs, ns)."""
    hits = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not os.path.ismount(os.path.join(dirpath, d))]
        for f in filenames:
            path = os.path.join(dirpath, f)
            if os.path.isfile(path) and not os.path.islink(path) and not os.path.ismount(path):
                with open(path, "rb") as fh:
                    if needle in fh.read():
                        hits.append(path)
    return hits


async def test_env_and_volumes_from_a_secret_and_a_configmap_and_updates(cluster, node: Node) -> None:  # noqa: F811
    client = cluster
    assert (await client.request("POST", f"{NS}/secrets", {"metadata": {"name": "db"},
                                                            "data": {"pw": b64("hunter2")}}))[0] == 201
    assert (await client.request("POST", f"{NS}/configmaps", {"metadata": {"name": "app"},
                                                               "data": {"mode": "fast"}}))[0] == 201
    manifest = {"metadata": {"name": "cfg", "labels": {"tier": "web"}}, "spec": {
        "nodeName": "e1",
        "volumes": [{"name": "sec", "secret": {"secretName": "db"}},
                    {"name": "conf", "configMap": {"name": "app"}},
                    {"name": "info", "downwardAPI": {"items": [{"path": "labels",
                                                                "fieldRef": {"fieldPath": "metadata.labels"}}]}}],
        "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"],
                        "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
                                {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "mode"}}},
                                {"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                                {"name": "DSN", "value": "$(ME):$(MODE)"}],
                        "volumeMounts": [{"name": "sec", "mountPath": "/etc/sec"},
                                         {"name": "conf", "mountPath": "/etc/conf"},
                                         {"name": "info", "mountPath": "/etc/info"}]}]}}
    status, created = await client.request("POST", f"{NS}/pods", manifest)
    assert status == 201, created
    uid = created["metadata"]["uid"]
    await wait_until(lambda: running(client, "cfg"), timeout=60)

    assert await run_in(node, uid, 'echo "$PW $MODE $DSN"') == "hunter2 fast cfg:fast"
    assert await run_in(node, uid, "cat /etc/sec/pw; echo; cat /etc/info/labels") == 'hunter2\ntier="web"'
    # Read-only, on a tmpfs of the pod's: never on the node's disk.
    assert "Read-only file system" in (await node.rt.exec_in_container(
        uid, "c", ["sh", "-c", "echo x > /etc/sec/pw"], timeout=20))[1]
    assert os.path.ismount(node.state / "pods" / uid / "config-volumes")
    assert on_disk(node.state, b"hunter2") == [], "a secret value reached the node's disk"

    cm = {"metadata": {"name": "app"}, "data": {"mode": "slow"}}
    assert (await client.request("PUT", f"{NS}/configmaps/app", cm))[0] == 200

    async def updated() -> bool:
        return await run_in(node, uid, "cat /etc/conf/mode") == "slow"
    await wait_until(updated, timeout=60)


async def test_the_pod_ip_reaches_env_and_hosts_with_or_without_a_field_ref_to_it(cluster, node: Node) -> None:  # noqa: F811
    """A container whose env names status.podIP is configured once CNI has given the pod its
    address; one that names nothing of it is created while CNI runs, and its /etc/hosts (bind
    mounted at create) still shows the address."""
    client = cluster
    for name, env in (("by-ref", [{"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                                  {"name": "ALL", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}}]),
                      ("no-ref", [{"name": "ME", "value": "unset"}])):
        manifest = {"metadata": {"name": name}, "spec": {"nodeName": "e1", "containers": [{
            "name": "c", "image": "busybox", "command": ["sleep", "3600"], "env": env}]}}
        status, created = await client.request("POST", f"{NS}/pods", manifest)
        assert status == 201, created
        await wait_until(lambda: running(client, name), timeout=60)
        _, got = await client.request("GET", f"{NS}/pods/{name}")
        ip = got["status"]["podIP"]
        assert ip
        seen = await run_in(node, created["metadata"]["uid"], 'echo "$ME $ALL"; grep -F "$(hostname)" /etc/hosts')
        expected_env = f"{ip} {ip}" if name == "by-ref" else "unset"
        assert [line.strip() for line in seen.splitlines()] == [expected_env, f"{ip}\t{name}"], seen


async def test_a_missing_secret_waits_with_create_container_config_error_until_created(
        cluster, node: Node) -> None:  # noqa: F811
    client = cluster
    manifest = {"metadata": {"name": "late"}, "spec": {"nodeName": "e1", "containers": [{
        "name": "c", "image": "busybox", "command": ["sleep", "3600"],
        "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "later", "key": "token"}}}]}]}}
    status, created = await client.request("POST", f"{NS}/pods", manifest)
    assert status == 201, created

    async def config_error() -> bool:
        waiting = ((await container_status(client, "late")).get("state") or {}).get("waiting") or {}
        return waiting.get("reason") == "CreateContainerConfigError"
    await wait_until(config_error, timeout=60)
    waiting = (await container_status(client, "late"))["state"]["waiting"]
    assert waiting["message"] == 'secret "later" not found'
    _, got = await client.request("GET", f"{NS}/pods/late")
    assert got["status"]["phase"] == "Pending"

    secret = {"metadata": {"name": "later"}, "data": {"token": b64("abc")}}
    assert (await client.request("POST", f"{NS}/secrets", secret))[0] == 201
    await wait_until(lambda: running(client, "late"), timeout=60)
    assert await run_in(node, created["metadata"]["uid"], 'echo "$TOKEN"') == "abc"
    assert (await container_status(client, "late"))["restartCount"] == 0


async def test_a_pod_pulls_with_its_image_pull_secret_and_fails_with_a_wrong_one(
        cluster, node: Node, auth_registry, tmp_path) -> None:  # noqa: F811
    client = cluster
    host = auth_registry.host
    push_auth = tmp_path / "push-auth.json"
    push_auth.write_text(json.dumps({"auths": {host: {"username": "pyctl", "password": "s3cret"}}}))
    image = f"{host}/private/box:1"
    await push(image, busybox_image(), str(push_auth))
    images = ImageStore(str(tmp_path / "images"), RegistryClient(auth_file=str(tmp_path / "no-node-auth.json")))
    node.rt.rootfs_for = store_rootfs(images)

    for name, password in (("wrong", "nope"), ("right", "s3cret")):
        config = json.dumps({"auths": {host: {"auth": b64(f"pyctl:{password}")}}})
        secret = {"metadata": {"name": f"pull-{name}"}, "type": "kubernetes.io/dockerconfigjson",
                  "data": {".dockerconfigjson": b64(config)}}
        assert (await client.request("POST", f"{NS}/secrets", secret))[0] == 201
    try:
        def manifest(name: str, secret: str) -> dict:
            return {"metadata": {"name": name}, "spec": {
                "nodeName": "e1", "imagePullSecrets": [{"name": secret}],
                "containers": [{"name": "c", "image": image, "command": ["sleep", "3600"]}]}}
        # The wrong one first: once pulled, the image is on the node (IfNotPresent).
        assert (await client.request("POST", f"{NS}/pods", manifest("denied", "pull-wrong")))[0] == 201

        async def pull_refused() -> bool:
            waiting = ((await container_status(client, "denied")).get("state") or {}).get("waiting") or {}
            return waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff") and \
                "unauthorized" in waiting.get("message", "")
        await wait_until(pull_refused, timeout=60)

        assert (await client.request("POST", f"{NS}/pods", manifest("allowed", "pull-right")))[0] == 201
        await wait_until(lambda: running(client, "allowed"), timeout=90)
    finally:
        await images.close()
