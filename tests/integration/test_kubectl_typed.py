"""kubectl's typed commands send protobuf bodies; the object each one creates, read back as JSON,
is what `kubectl create ... --dry-run=client -o json` says the command means."""

from __future__ import annotations

import base64
import json

import pytest

from .kubectl import Kubectl


@pytest.fixture
def kubectl(api, tmp_path):
    return Kubectl(api.url, tmp_path)


def _contains(expected, actual, where="") -> None:
    """Every value the client meant is stored; null and {} (Go zero structs) mean nothing was meant."""
    if expected is None or expected == {}:
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r} is not an object"
        for key, value in expected.items():
            if value is not None and value != {}:
                assert key in actual, f"{where}.{key} missing from {actual!r}"
                _contains(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: {actual!r} != {expected!r}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            _contains(e, a, f"{where}[{i}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


async def _create_and_compare(kubectl, client, path: str, *args: str) -> dict:
    # Flags go before any `-- command args`.
    expected = json.loads(await kubectl.ok(*args[:2], "--dry-run=client", "-o", "json", *args[2:]))
    await kubectl.ok(*args)
    status, stored = await client.request("GET", path)
    assert status == 200, stored
    _contains(expected, stored)
    return stored


async def test_create_namespace_configmap_secrets_serviceaccount(kubectl, client, tmp_path):
    await _create_and_compare(kubectl, client, "/api/v1/namespaces/team", "create", "namespace", "team")
    (tmp_path / "conf.txt").write_text("line one\nline two\n")
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)))
    cm = await _create_and_compare(
        kubectl, client, "/api/v1/namespaces/team/configmaps/c", "create", "configmap", "c", "-n", "team",
        "--from-literal=a=b", "--from-literal=empty=", f"--from-file={tmp_path / 'conf.txt'}",
        f"--from-file={tmp_path / 'blob.bin'}")
    assert cm["data"] == {"a": "b", "empty": "", "conf.txt": "line one\nline two\n"}
    assert base64.b64decode(cm["binaryData"]["blob.bin"]) == bytes(range(256))
    secret = await _create_and_compare(
        kubectl, client, "/api/v1/namespaces/default/secrets/s", "create", "secret", "generic", "s",
        "--from-literal=user=admin", "--from-literal=password=s3cr:t")
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {
        "user": "admin", "password": "s3cr:t"}
    assert secret["type"] == "Opaque"
    reg = await _create_and_compare(
        kubectl, client, "/api/v1/namespaces/default/secrets/reg", "create", "secret", "docker-registry", "reg",
        "--docker-server=localhost:5000", "--docker-username=u", "--docker-password=p")
    assert reg["type"] == "kubernetes.io/dockerconfigjson"
    auths = json.loads(base64.b64decode(reg["data"][".dockerconfigjson"]))["auths"]
    assert auths["localhost:5000"]["username"] == "u"
    await _create_and_compare(kubectl, client, "/api/v1/namespaces/default/serviceaccounts/robot",
                              "create", "serviceaccount", "robot")


async def test_create_deployment_expose_and_service(kubectl, client):
    dep = await _create_and_compare(
        kubectl, client, "/apis/apps/v1/namespaces/default/deployments/d", "create", "deployment", "d",
        "--image=busybox", "--replicas=2", "--port=8080", "--", "sleep", "3600")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert dep["spec"]["replicas"] == 2 and dep["spec"]["selector"] == {"matchLabels": {"app": "d"}}
    assert container["command"] == ["sleep", "3600"] and container["ports"][0]["containerPort"] == 8080
    svc = await _create_and_compare(kubectl, client, "/api/v1/namespaces/default/services/d",
                                    "expose", "deployment", "d", "--port=80", "--target-port=8080")
    assert svc["spec"]["ports"][0]["port"] == 80 and svc["spec"]["ports"][0]["targetPort"] == 8080
    assert svc["spec"]["selector"] == {"app": "d"}
    web = await _create_and_compare(kubectl, client, "/api/v1/namespaces/default/services/web",
                                    "create", "service", "clusterip", "web", "--tcp=5678:http")
    assert web["spec"]["ports"][0]["targetPort"] == "http" and web["spec"]["type"] == "ClusterIP"
    status, _ = await client.request("GET", "/api/v1/namespaces/default/services/headless")
    assert status == 404
    await _create_and_compare(kubectl, client, "/api/v1/namespaces/default/services/headless",
                              "create", "service", "clusterip", "headless", "--clusterip=None")


async def test_create_rbac_objects(kubectl, client):
    role = await _create_and_compare(
        kubectl, client, "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles/r",
        "create", "role", "r", "--verb=get", "--verb=list", "--resource=pods", "--resource=deployments.apps")
    assert role["rules"][0]["verbs"] == ["get", "list"]
    await _create_and_compare(
        kubectl, client, "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/rb",
        "create", "rolebinding", "rb", "--role=r", "--user=u", "--serviceaccount=default:robot")
    await _create_and_compare(
        kubectl, client, "/apis/rbac.authorization.k8s.io/v1/clusterroles/cr",
        "create", "clusterrole", "cr", "--verb=get", "--resource=nodes", "--non-resource-url=/healthz")
    crb = await _create_and_compare(
        kubectl, client, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/crb",
        "create", "clusterrolebinding", "crb", "--clusterrole=cr", "--group=g")
    assert crb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cr"}


async def test_server_dry_run_writes_nothing(kubectl, client):
    out = await kubectl.ok("create", "configmap", "dry", "--from-literal=a=b", "--dry-run=server", "-o", "json")
    assert json.loads(out)["data"] == {"a": "b"}
    status, _ = await client.request("GET", "/api/v1/namespaces/default/configmaps/dry")
    assert status == 404


async def test_kubectl_really_sends_protobuf(kubectl, client):
    """Without this the tests above could pass on a JSON fallback."""
    rc, out, err = await kubectl.run("create", "namespace", "traced", "-v=8")
    assert rc == 0 and out.strip() == "namespace/traced created", err
    post = err[err.index('verb="POST"'):]
    assert "Content-Type: application/vnd.kubernetes.protobuf" in post.split("Response")[0]
    assert 'status="201 Created"' in post


def _ld(number: int, payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes([number << 3 | 2, len(payload)]) + payload


def _body(api_version: bytes, kind: bytes, raw: bytes) -> bytes:
    return b"k8s\x00" + _ld(1, _ld(1, api_version) + _ld(2, kind)) + _ld(2, raw)


PB = {"Content-Type": "application/vnd.kubernetes.protobuf"}


async def test_bad_protobuf_bodies_are_refused_whole(client):
    cms = "/api/v1/namespaces/default/configmaps"
    unknown_field = _body(b"v1", b"ConfigMap", _ld(1, _ld(1, b"c")) + _ld(15, b"x"))
    status, body = await client.request("POST", cms, data=unknown_field, headers=PB)
    assert status == 400 and body["kind"] == "Status" and body["reason"] == "BadRequest"
    assert "ConfigMap" in body["message"] and "field number 15" in body["message"]
    status, body = await client.request("POST", cms, data=_body(b"v1", b"Widget", b""), headers=PB)
    assert status == 415 and body["reason"] == "UnsupportedMediaType" and "Widget" in body["message"]
    status, body = await client.request("POST", cms, data=b"k8s\x00\x12\x7f", headers=PB)
    assert status == 400 and "truncated" in body["message"]
    status, _ = await client.request("GET", f"{cms}/c")
    assert status == 404
    good = _body(b"v1", b"ConfigMap", _ld(1, _ld(1, b"c")) + _ld(2, _ld(1, b"k") + _ld(2, b"v")))
    status, body = await client.request("POST", cms, data=good, headers=PB)
    assert status == 201 and body["data"] == {"k": "v"}
    status, body = await client.request("POST", cms, data=b"x", headers={"Content-Type": "application/cbor"})
    assert status == 415


async def test_drain_deletes_with_protobuf_delete_options(kubectl, client):
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    assert (await client.request("POST", "/api/v1/nodes", node))[0] == 201
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]}}
    assert (await client.request("POST", "/api/v1/namespaces/default/pods", pod))[0] == 201
    rc, out, err = await kubectl.run("drain", "n1", "--force", "--grace-period=0", "--timeout=60s", "-v=8",
                                     "--disable-eviction", timeout=90)
    assert rc == 0, err[-3000:]
    assert "pod/p deleted" in out and "node/n1 drained" in out
    delete = err[err.index('verb="DELETE"'):]
    assert "Content-Type: application/vnd.kubernetes.protobuf" in delete.split("Response")[0]
    status, _ = await client.request("GET", "/api/v1/namespaces/default/pods/p")
    assert status == 404


async def test_drain_evicts_through_policy_v1_eviction(kubectl, client):
    """Discovery names pods/eviction as policy/v1 Eviction, so kubectl evicts instead of deleting."""
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n2"}}
    assert (await client.request("POST", "/api/v1/nodes", node))[0] == 201
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "q"},
           "spec": {"nodeName": "n2", "containers": [{"name": "c", "image": "busybox"}]}}
    assert (await client.request("POST", "/api/v1/namespaces/default/pods", pod))[0] == 201
    rc, out, err = await kubectl.run("drain", "n2", "--force", "--grace-period=0", "--timeout=60s", "-v=8",
                                     timeout=90)
    assert rc == 0, err[-3000:]
    assert "evicting pod default/q" in err + out and "pod/q evicted" in out and "node/n2 drained" in out
    assert "/api/v1/namespaces/default/pods/q/eviction" in err
    status, _ = await client.request("GET", "/api/v1/namespaces/default/pods/q")
    assert status == 404
