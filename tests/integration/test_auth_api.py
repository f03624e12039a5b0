"""The secured API server: HTTPS only, who may call (401), and what they may do (RBAC, 403)."""

from __future__ import annotations

import aiohttp
import pytest

from aiohttp import web

from controlplane.api.app import build_app
from controlplane.api.config import ApiConfig
from controlplane.auth.pki import issue, new_ca
from controlplane.api.serving import secure

from ..cluster import free_port
from .secure_api import admin, binding, call, secure_api  # noqa: F401 (fixtures)

PODS = "/api/v1/namespaces/default/pods"
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1"},
       "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
RBAC = "/apis/rbac.authorization.k8s.io/v1"


async def test_anonymous_and_wrong_token_are_unauthorized_but_health_is_open(secure_api):
    async with secure_api.session() as anon, secure_api.session(token="nope") as wrong:
        for s in (anon, wrong):
            code, body = await call(s, "GET", PODS)
            assert code == 401
            assert (body["kind"], body["reason"], body["message"]) == ("Status", "Unauthorized", "Unauthorized")
        for path in ("/healthz", "/readyz", "/livez", "/version"):
            async with anon.get(path) as resp:
                assert resp.status == 200, path
        assert (await call(anon, "GET", "/api"))[0] == 401  # discovery needs a user


async def test_plain_http_to_the_https_port_fails(secure_api):
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.ClientError):
            async with s.get(f"http://127.0.0.1:{secure_api.port}/healthz") as resp:
                await resp.read()


async def test_view_user_lists_but_cannot_create(secure_api, admin):
    async with secure_api.session("viewer") as viewer:
        code, body = await call(viewer, "GET", PODS)
        assert code == 403
        assert body["message"] == ('pods is forbidden: User "viewer" cannot list resource "pods" in API group "" '
                                   'in the namespace "default"')
        assert (await call(admin, "POST", *binding("viewers", "view", user="viewer")))[0] == 201

        assert (await call(viewer, "GET", PODS))[0] == 200
        assert (await call(viewer, "GET", "/apis/apps/v1/namespaces/default/deployments?watch=0"))[0] == 200
        code, body = await call(viewer, "POST", PODS, POD)
        assert code == 403
        assert (body["reason"], body["details"]) == ("Forbidden", {"kind": "pods"})
        assert body["message"] == ('pods is forbidden: User "viewer" cannot create resource "pods" in API '
                                   'group "" in the namespace "default"')
        # The binding is for `default` only; cluster-scoped reads need a ClusterRoleBinding.
        code, body = await call(viewer, "GET", "/api/v1/namespaces/kube-system/pods")
        assert code == 403 and body["message"].endswith('in the namespace "kube-system"')
        code, body = await call(viewer, "GET", "/api/v1/nodes")
        assert body["message"] == ('nodes is forbidden: User "viewer" cannot list resource "nodes" in API '
                                   'group "" at the cluster scope')
        code, body = await call(viewer, "DELETE", "/apis/apps/v1/namespaces/default/deployments/web")
        assert code == 403
        assert body["message"] == ('deployments.apps "web" is forbidden: User "viewer" cannot delete resource '
                                   '"deployments" in API group "apps" in the namespace "default"')
        assert body["details"] == {"kind": "deployments", "name": "web", "group": "apps"}
        code, body = await call(viewer, "GET", "/api/v1/namespaces/default/secrets")  # view excludes secrets
        assert code == 403
        assert (await call(viewer, "GET", "/apis"))[0] == 200  # discovery for every authenticated user


async def test_edit_user_creates_and_subresources_are_checked_apart(secure_api, admin):
    assert (await call(admin, "POST", *binding("editors", "edit", group="editors")))[0] == 201
    assert (await call(admin, "POST", *binding("bob-view", "view", user="bob")))[0] == 201
    async with secure_api.session("editor") as editor, secure_api.session("bob") as bob:
        code, created = await call(editor, "POST", PODS, POD)
        assert code == 201, created
        assert (await call(editor, "DELETE", PODS + "/p1"))[0] == 200
        # pods/status is not in `edit`'s writes: a subresource is authorized on its own.
        code, body = await call(editor, "PATCH", PODS + "/p1/status", {})
        assert code == 403 and 'cannot patch resource "pods/status"' in body["message"]
        code, body = await call(bob, "POST", "/apis/apps/v1/namespaces/default/deployments/web/scale", {})
        assert code == 403 and 'cannot create resource "deployments/scale" in API group "apps"' in body["message"]


async def test_role_with_resource_names_and_watch_verb(secure_api, admin):
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "one-cm", "namespace": "default"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["allowed"],
                       "verbs": ["get", "update"]},
                      {"apiGroups": [""], "resources": ["pods"], "verbs": ["watch"]}]}
    assert (await call(admin, "POST", RBAC + "/namespaces/default/roles", role))[0] == 201
    path, rb = binding("bob-one-cm", "one-cm", user="bob")
    rb["roleRef"]["kind"] = "Role"
    assert (await call(admin, "POST", path, rb))[0] == 201
    for name in ("allowed", "other"):
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}}
        assert (await call(admin, "POST", "/api/v1/namespaces/default/configmaps", cm))[0] == 201
    async with secure_api.session("bob") as bob:
        assert (await call(bob, "GET", "/api/v1/namespaces/default/configmaps/allowed"))[0] == 200
        code, body = await call(bob, "GET", "/api/v1/namespaces/default/configmaps/other")
        assert code == 403 and body["message"].startswith('configmaps "other" is forbidden: User "bob" cannot get')
        assert (await call(bob, "GET", "/api/v1/namespaces/default/configmaps"))[0] == 403  # list: no name
        assert (await call(bob, "GET", PODS))[0] == 403  # list is not watch
        async with bob.get(PODS, params={"watch": "1", "timeoutSeconds": "1"}) as resp:
            assert resp.status == 200


async def test_client_certificates_authenticate_by_cn_and_groups(secure_api, admin, tmp_path):
    assert (await call(admin, "POST", *binding("devs", "view", group="devs", cluster=True)))[0] == 201
    cert = secure_api.client_cert("alice", groups=("devs",))
    async with secure_api.session(cert=cert) as alice:
        assert (await call(alice, "GET", "/api/v1/pods"))[0] == 200
        code, body = await call(alice, "POST", PODS, POD)
        assert code == 403 and 'User "alice" cannot create' in body["message"]
    master = secure_api.client_cert("root", groups=("system:masters",))
    async with secure_api.session(cert=master) as root:
        assert (await call(root, "POST", PODS, POD))[0] == 201
    # A certificate from another CA is refused during the handshake.
    stranger = issue(new_ca("elsewhere"), "mallory", groups=("system:masters",))
    (tmp_path / "m.crt").write_bytes(stranger.cert)
    (tmp_path / "m.key").write_bytes(stranger.key)
    async with secure_api.session(cert=(tmp_path / "m.crt", tmp_path / "m.key")) as mallory:
        with pytest.raises(aiohttp.ClientError):
            await call(mallory, "GET", PODS)


async def test_bootstrap_policy_and_rbac_kinds(secure_api, admin):
    code, roles = await call(admin, "GET", RBAC + "/clusterroles")
    assert {"cluster-admin", "admin", "edit", "view"} <= {r["metadata"]["name"] for r in roles["items"]}
    code, crb = await call(admin, "GET", RBAC + "/clusterrolebindings/cluster-admin")
    assert crb["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                "name": "system:masters"}]
    code, disc = await call(admin, "GET", RBAC)
    assert {r["name"] for r in disc["resources"]} == {"roles", "rolebindings", "clusterroles",
                                                      "clusterrolebindings"}
    path, bad = binding("bad", "view", user="bob")
    bad["roleRef"]["kind"] = "Pod"
    code, body = await call(admin, "POST", path, bad)
    assert code == 422
    assert body["message"] == ('RoleBinding.rbac.authorization.k8s.io "bad" is invalid: roleRef.kind: '
                               'Unsupported value: "Pod": supported values: "Role", "ClusterRole"')
    path, good = binding("good", "view", user="bob")
    code, created = await call(admin, "POST", path, good)
    created["roleRef"]["name"] = "edit"
    code, body = await call(admin, "PUT", path + "/good", created)
    assert code == 422
    assert body["message"].startswith('RoleBinding.rbac.authorization.k8s.io "good" is invalid: roleRef: Invalid')
    assert body["message"].endswith("cannot change roleRef")
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "urls", "namespace": "default"},
            "rules": [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]}
    code, body = await call(admin, "POST", RBAC + "/namespaces/default/roles", role)
    assert code == 422 and "namespaced rules cannot apply to non-resource URLs" in body["message"]
    async with admin.get(path, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}) as resp:
        table = await resp.json()
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Role", "Age", "Users", "Groups",
                                                              "ServiceAccounts"]
    assert table["rows"][0]["cells"][:2] == ["good", "ClusterRole/view"]


async def test_self_subject_access_review(secure_api, admin):
    assert (await call(admin, "POST", *binding("viewers", "view", user="viewer")))[0] == 201

    def review(verb: str, resource: str) -> dict:
        return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {"namespace": "default", "verb": verb, "resource": resource}}}
    path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    async with secure_api.session("viewer") as viewer:
        assert (await call(viewer, "POST", path, review("list", "pods")))[1]["status"] == {"allowed": True}
        assert (await call(viewer, "POST", path, review("create", "pods")))[1]["status"] == {"allowed": False}
        code, body = await call(viewer, "POST", path, {"apiVersion": "authorization.k8s.io/v1",
                                                       "kind": "SelfSubjectAccessReview", "spec": {}})
        assert code == 422 and "exactly one of nonResourceAttributes or resourceAttributes" in body["message"]
        assert (await call(viewer, "GET", path))[0] == 403  # authorized before the method is looked at
    assert (await call(admin, "GET", path))[0] == 405  # reviews are answered, never stored or listed


async def test_rbac_without_user_authentication_treats_everyone_as_anonymous(etcd):
    secured = secure(ApiConfig(etcd_servers=(etcd.url,), compaction_interval=3600, authorization_mode="RBAC"))
    assert secured.ssl is None
    runner = web.AppRunner(build_app(secured.config), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as anon, aiohttp.ClientSession(
                f"http://127.0.0.1:{port}", headers=secured.loopback.headers()) as loopback:
            code, body = await call(anon, "GET", PODS)
            assert code == 403 and 'User "system:anonymous" cannot list' in body["message"]
            assert (await call(loopback, "POST", PODS, POD))[0] == 201  # the components' identity
    finally:
        await runner.cleanup()
