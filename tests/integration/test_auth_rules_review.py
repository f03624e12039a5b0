"""SelfSubjectRulesReview: `kubectl auth can-i --list` shows the rules the caller holds."""

from __future__ import annotations

from .kubectl import Kubectl
from .secure_api import SecureApiServer, binding, call, secure_api  # noqa: F401 (the fixture)

PATH = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"


def review(namespace: str) -> dict:
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
            "spec": {"namespace": namespace}}


async def test_kubectl_auth_can_i_list(secure_api, tmp_path):
    async with secure_api.session("admin") as admin:
        assert (await call(admin, "POST", *binding("viewers", "view", user="viewer")))[0] == 201
    kubectl = Kubectl(secure_api.url, tmp_path)
    kubectl.config = secure_api.kubeconfig("viewer", tmp_path / "viewer.kubeconfig")
    lines = (await kubectl.ok("auth", "can-i", "--list")).splitlines()
    assert lines[0].split() == ["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"]
    rows = {tuple(line.split()) for line in lines[1:]}
    assert ("pods", "[]", "[]", "[get", "list", "watch]") in rows
    assert ("deployments.apps", "[]", "[]", "[get", "list", "watch]") in rows
    assert ("selfsubjectrulesreviews.authorization.k8s.io", "[]", "[]", "[create]") in rows
    assert ("[/apis]", "[]", "[get]") in rows
    assert not any(row[0] == "secrets" for row in rows)
    # In another namespace only what every authenticated user holds remains.
    rows = {tuple(line.split()) for line in
            (await kubectl.ok("auth", "can-i", "--list", "-n", "kube-system")).splitlines()[1:]}
    assert not any(row[0] == "pods" for row in rows)
    assert ("selfsubjectaccessreviews.authorization.k8s.io", "[]", "[]", "[create]") in rows


async def test_rules_review_lists_resource_names_and_is_never_stored(secure_api):
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "one-cm", "namespace": "default"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["app"],
                       "verbs": ["get"]}]}
    async with secure_api.session("admin") as admin, secure_api.session("bob") as bob:
        assert (await call(admin, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles",
                           role))[0] == 201
        path, rb = binding("bob-one-cm", "one-cm", user="bob")
        rb["roleRef"]["kind"] = "Role"
        assert (await call(admin, "POST", path, rb))[0] == 201
        code, answer = await call(bob, "POST", PATH, review("default"))
        assert code == 201
        assert answer["status"]["incomplete"] is False
        assert {"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"],
                "resourceNames": ["app"]} in answer["status"]["resourceRules"]
        assert any("/version" in r["nonResourceURLs"] for r in answer["status"]["nonResourceRules"])
        code, other = await call(bob, "POST", PATH, review("kube-system"))
        assert all(r["resources"] != ["configmaps"] for r in other["status"]["resourceRules"])
        assert (await call(admin, "GET", PATH))[0] == 405
        code, body = await call(bob, "POST", PATH, {"apiVersion": "v1", "kind": "Pod"})
        assert code == 400


async def test_always_allow_answers_everything(etcd, tmp_path):
    server = await SecureApiServer(etcd, tmp_path, authorization_mode="AlwaysAllow").start()
    try:
        async with server.session("bob") as bob:
            code, answer = await call(bob, "POST", PATH, review("default"))
        assert answer["status"] == {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                                    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                                    "incomplete": False}
    finally:
        await server.stop()
