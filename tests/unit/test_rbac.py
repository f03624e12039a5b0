"""RBAC as a specification: request attributes, rule matching, Forbidden wording, token files,
validation of the RBAC kinds, and the bootstrap policy."""

from __future__ import annotations

import pytest

from controlplane.auth import bootstrap, rbac
from controlplane.api.access.attributes import from_request
from controlplane.auth.attributes import Attributes
from controlplane.auth.authn import Authenticator, InvalidToken, parse_token_file, user_from_peercert
from controlplane.api.access.authorizer import forbidden
from controlplane.api.access.review_proto import decode_review
from controlplane.auth.user import UserInfo
from controlplane.resources.checks import validate

BOB = UserInfo("bob", "", ("devs", "system:authenticated"))


def attrs(method: str, path: str, **query: str) -> Attributes:
    return from_request(BOB, method, path, query)


@pytest.mark.parametrize("method,path,query,expected", [
    ("GET", "/api/v1/namespaces/default/pods", {}, ("list", "", "pods", "", "default", "")),
    ("GET", "/api/v1/namespaces/default/pods", {"watch": "true"}, ("watch", "", "pods", "", "default", "")),
    ("GET", "/api/v1/watch/namespaces/default/pods", {}, ("watch", "", "pods", "", "default", "")),
    ("GET", "/api/v1/namespaces/default/pods/web", {}, ("get", "", "pods", "", "default", "web")),
    ("GET", "/api/v1/namespaces/default/pods/web/log", {}, ("get", "", "pods", "log", "default", "web")),
    ("POST", "/api/v1/namespaces/default/pods/web/exec", {}, ("create", "", "pods", "exec", "default", "web")),
    # The websocket form of exec runs a command as much as the POST does.
    ("GET", "/api/v1/namespaces/default/pods/web/exec", {}, ("create", "", "pods", "exec", "default", "web")),
    ("POST", "/api/v1/namespaces/default/pods", {}, ("create", "", "pods", "", "default", "")),
    ("PUT", "/apis/apps/v1/namespaces/ns/deployments/d/scale", {},
     ("update", "apps", "deployments", "scale", "ns", "d")),
    ("PATCH", "/apis/apps/v1/namespaces/ns/deployments/d", {}, ("patch", "apps", "deployments", "", "ns", "d")),
    ("DELETE", "/apis/apps/v1/namespaces/ns/deployments", {},
     ("deletecollection", "apps", "deployments", "", "ns", "")),
    ("DELETE", "/api/v1/nodes/n1", {}, ("delete", "", "nodes", "", "", "n1")),
    ("GET", "/api/v1/pods", {}, ("list", "", "pods", "", "", "")),
    # A namespace lives in itself, so a RoleBinding there can grant reading it.
    ("GET", "/api/v1/namespaces/team", {}, ("get", "", "namespaces", "", "team", "team")),
])
def test_request_attributes(method, path, query, expected):
    a = attrs(method, path, **query)
    assert a.resource_request
    assert (a.verb, a.api_group, a.resource, a.subresource, a.namespace, a.name) == expected


def test_non_resource_requests_use_the_lowercased_method():
    a = attrs("GET", "/apis")
    assert (a.resource_request, a.verb, a.path) == (False, "get", "/apis")
    assert attrs("GET", "/api/v1/nosuchthings").resource_request is False  # 404 comes from the handler


def rule(groups=("",), resources=("pods",), verbs=("get",), names=()) -> dict:
    r = {"apiGroups": list(groups), "resources": list(resources), "verbs": list(verbs)}
    if names:
        r["resourceNames"] = list(names)
    return r


def test_rule_matching():
    get_pod = attrs("GET", "/api/v1/namespaces/d/pods/web")
    assert rbac.rule_allows(rule(), get_pod)
    assert rbac.rule_allows(rule(groups=("*",), resources=("*",), verbs=("*",)), get_pod)
    assert not rbac.rule_allows(rule(verbs=("list",)), get_pod)
    assert not rbac.rule_allows(rule(groups=("apps",)), get_pod)
    assert rbac.rule_allows(rule(names=("web",)), get_pod)
    assert not rbac.rule_allows(rule(names=("db",)), get_pod)
    assert not rbac.rule_allows(rule(verbs=("list",), names=("web",)), attrs("GET", "/api/v1/namespaces/d/pods"))
    log = attrs("GET", "/api/v1/namespaces/d/pods/web/log")
    assert not rbac.rule_allows(rule(), log)  # "pods" does not grant "pods/log"
    assert rbac.rule_allows(rule(resources=("pods/log",)), log)
    assert rbac.rule_allows(rule(resources=("*",)), log)
    scale = attrs("PUT", "/apis/apps/v1/namespaces/d/deployments/x/scale")
    assert rbac.rule_allows(rule(groups=("apps",), resources=("*/scale",), verbs=("update",)), scale)
    assert not rbac.rule_allows(rule(groups=("apps",), resources=("deployments",), verbs=("update",)), scale)


def test_non_resource_url_matching():
    urls = {"nonResourceURLs": ["/healthz", "/apis/*"], "verbs": ["get"]}
    assert rbac.rule_allows(urls, attrs("GET", "/healthz"))
    assert rbac.rule_allows(urls, attrs("GET", "/apis/apps"))
    assert not rbac.rule_allows(urls, attrs("GET", "/api"))
    assert not rbac.rule_allows(urls, attrs("POST", "/healthz"))
    assert not rbac.rule_allows(urls, attrs("GET", "/api/v1/namespaces/d/pods"))  # resources need resource rules


def test_subjects():
    binding = {"metadata": {"namespace": "d"}, "subjects": [{"kind": "ServiceAccount", "name": "ci"}]}
    assert rbac.binds(binding, UserInfo("system:serviceaccount:d:ci"))
    assert not rbac.binds(binding, UserInfo("system:serviceaccount:other:ci"))
    assert rbac.subject_matches({"kind": "Group", "name": "devs"}, BOB, "")
    assert rbac.subject_matches({"kind": "User", "name": "bob"}, BOB, "")
    assert not rbac.subject_matches({"kind": "User", "name": "devs"}, BOB, "")


def test_forbidden_wording_is_kubernetes():
    e = forbidden(attrs("POST", "/api/v1/namespaces/default/pods"))
    assert (e.code, e.reason) == (403, "Forbidden")
    assert e.message == ('pods is forbidden: User "bob" cannot create resource "pods" in API group "" '
                         'in the namespace "default"')
    e = forbidden(attrs("GET", "/apis/apps/v1/namespaces/d/deployments/web/scale"))
    assert e.message == ('deployments.apps "web" is forbidden: User "bob" cannot get resource '
                         '"deployments/scale" in API group "apps" in the namespace "d"')
    assert forbidden(attrs("GET", "/api/v1/nodes")).message.endswith("at the cluster scope")
    assert forbidden(attrs("GET", "/metrics")).message == 'forbidden: User "bob" cannot get path "/metrics"'


def test_token_file():
    tokens = parse_token_file('t1,alice,u1,"a,b"\n\n# comment\nt2,bob,u2\n')
    assert tokens["t1"] == UserInfo("alice", "u1", ("a", "b"))
    assert tokens["t2"] == UserInfo("bob", "u2", ())
    with pytest.raises(ValueError, match=r"tokens.csv:2: expected token,user,uid"):
        parse_token_file("t1,alice,u1\nt2,bob\n", "tokens.csv")
    with pytest.raises(ValueError, match=r":2: duplicate token"):
        parse_token_file("t1,alice,u1\nt1,bob,u2\n")


def test_authenticator_order_and_errors():
    auth = Authenticator(parse_token_file("t1,alice,u1\n"), client_certs=True, loopback_token="loop")
    assert auth.authenticate(None, "") is None
    assert auth.authenticate(None, "Bearer t1").name == "alice"
    assert "system:authenticated" in auth.authenticate(None, "Bearer t1").groups
    assert auth.authenticate(None, "Bearer loop").groups == ("system:masters", "system:authenticated")
    with pytest.raises(InvalidToken):
        auth.authenticate(None, "Bearer nope")
    cert = {"subject": ((("organizationName", "devs"),), (("organizationName", "ops"),),
                        (("commonName", "carol"),))}
    assert auth.authenticate(cert, "") == UserInfo("carol", "", ("devs", "ops", "system:authenticated"))
    assert user_from_peercert({}) is None
    # The loopback token alone lets no user log in: others stay anonymous, unknown tokens too.
    loopback_only = Authenticator(loopback_token="loop")
    assert loopback_only.enabled is False
    assert loopback_only.authenticate(None, "Bearer nope") is None
    assert loopback_only.authenticate(None, "Bearer loop").name == "system:apiserver"


def test_bootstrap_policy_is_valid():
    for _, obj in bootstrap.policy():
        assert validate(obj) == [], obj["metadata"]["name"]


def test_view_edit_and_admin_cover_daemonsets_statefulsets_and_their_revisions():
    """As Kubernetes' aggregate-to-view/edit roles: view reads them all, edit writes the
    workloads (not their ControllerRevisions, which only the controllers write)."""
    from controlplane.auth.attributes import Attributes
    from controlplane.auth.user import UserInfo
    roles = {r["metadata"]["name"]: r for kind, r in bootstrap.policy() if kind == "clusterroles"}

    def allowed(role: str, verb: str, resource: str, sub: str = "") -> bool:
        attrs = Attributes(UserInfo("u"), verb, "/apis/apps/v1", True, "apps", resource, sub, "ns")
        return any(rbac.rule_allows(rule, attrs) for rule in roles[role]["rules"])

    for role in ("view", "edit", "admin"):
        for resource, sub in (("daemonsets", ""), ("daemonsets", "status"), ("statefulsets", ""),
                              ("statefulsets", "scale"), ("statefulsets", "status"), ("controllerrevisions", "")):
            assert allowed(role, "list", resource, sub) and allowed(role, "watch", resource, sub), (role, resource)
    for role in ("edit", "admin"):
        assert allowed(role, "create", "daemonsets") and allowed(role, "patch", "statefulsets", "scale")
        assert not allowed(role, "delete", "controllerrevisions")
    assert not allowed("view", "create", "daemonsets") and not allowed("view", "update", "statefulsets", "scale")


def _cause_messages(obj: dict, old: dict | None = None) -> list[str]:
    return [f"{c['field']}: {c['message']}" for c in validate(obj, old)]


def test_rbac_validation():
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "system:thing", "namespace": "d"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": []},
                      {"verbs": ["get"]}]}
    assert _cause_messages(role) == [
        "rules[0].verbs: Required value: verbs must contain at least one value",
        "rules[1].apiGroups: Required value: resource rules must supply at least one api group",
        "rules[1].resources: Required value: resource rules must supply at least one resource"]
    role["rules"] = []
    role["metadata"]["name"] = "a/b"
    assert _cause_messages(role) == ["metadata.name: Invalid value: \"a/b\": may not contain '/'"]
    crb = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "x"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
           "subjects": [{"kind": "User", "name": "bob"}]}
    assert _cause_messages(crb) == [
        'roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"',
        'subjects[0].apiGroup: Unsupported value: "": supported values: "rbac.authorization.k8s.io"']


def _pb(number: int, payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_protobuf_review_decodes():
    attrs_pb = _pb(1, b"default") + _pb(2, b"create") + _pb(5, b"pods")
    review = _pb(1, b"") + _pb(2, _pb(1, attrs_pb))
    body = b"k8s\x00" + _pb(1, _pb(1, b"authorization.k8s.io/v1")) + _pb(2, review)
    assert decode_review(body)["spec"] == {"resourceAttributes": {"namespace": "default", "verb": "create",
                                                                  "resource": "pods"}}
    with pytest.raises(ValueError):
        decode_review(b"k8s\x00" + bytes([2 << 3 | 2, 50]))


def test_the_user_roles_cover_claims_but_not_cluster_scoped_volumes_and_classes():
    roles = {obj["metadata"]["name"]: obj["rules"] for kind, obj in bootstrap.policy() if kind == "clusterroles"}

    def allowed(role: str, method: str, path: str) -> bool:
        return any(rbac.rule_allows(r, attrs(method, path)) for r in roles[role])
    claims = "/api/v1/namespaces/d/persistentvolumeclaims"
    assert allowed("view", "GET", claims) and allowed("view", "GET", f"{claims}/data/status")
    assert not allowed("view", "POST", claims)
    assert allowed("edit", "POST", claims) and allowed("admin", "DELETE", f"{claims}/data")
    for role in ("view", "edit", "admin"):  # as in Kubernetes: volumes and classes are the cluster admin's
        assert not allowed(role, "GET", "/api/v1/persistentvolumes")
        assert not allowed(role, "POST", "/apis/storage.k8s.io/v1/storageclasses")
