"""RBAC escalation prevention against the secured API: nobody grants what they do not hold.

The cases follow kube-apiserver: a namespace admin delegates `view` but not `cluster-admin`;
a user who may create Roles cannot put in one a permission it lacks, unless it may
`escalate`; a user may bind a role it does not hold only with `bind` on that role's name;
namespace permissions never count for ClusterRoles; under AlwaysAllow nothing is checked.
"""

from __future__ import annotations

import yaml

from .kubectl import Kubectl
from .secure_api import SecureApiServer, admin, binding, call, secure_api  # noqa: F401 (fixtures)

RBAC = "/apis/rbac.authorization.k8s.io/v1"
ROLES = RBAC + "/namespaces/default/roles"
GROUPS = '(groups=["system:authenticated"])'
NOT_HELD = "is attempting to grant RBAC permissions not currently held:\n"


def role(name: str, rules: list[dict], cluster: bool = False) -> tuple[str, dict]:
    kind = "ClusterRole" if cluster else "Role"
    obj = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {"name": name},
           "rules": rules}
    return (RBAC + "/clusterroles" if cluster else ROLES), obj


def rule(resources: list[str], verbs: list[str], group: str = "", names: list[str] | None = None) -> dict:
    out = {"apiGroups": [group], "resources": resources, "verbs": verbs}
    if names:
        out["resourceNames"] = names
    return out


async def grant(admin, name: str, rules: list[dict], user: str, cluster: bool = False) -> None:
    """A ClusterRole `name` with `rules`, bound to `user` in default (or cluster-wide)."""
    assert (await call(admin, "POST", *role(name, rules, cluster=True)))[0] == 201
    assert (await call(admin, "POST", *binding(name, name, user=user, cluster=cluster)))[0] == 201


async def test_namespace_admin_delegates_view_but_not_cluster_admin(secure_api, admin):
    assert (await call(admin, "POST", *binding("bob-admin", "admin", user="bob")))[0] == 201
    async with secure_api.session("bob") as bob:
        code, body = await call(bob, "POST", *binding("viewer-view", "view", user="viewer"))
        assert code == 201, body
        code, body = await call(bob, "POST", *binding("viewer-root", "cluster-admin", user="viewer"))
        assert code == 403
        assert body["reason"] == "Forbidden"
        assert body["details"] == {"name": "viewer-root", "group": "rbac.authorization.k8s.io",
                                   "kind": "rolebindings"}
        assert body["message"] == (
            'rolebindings.rbac.authorization.k8s.io "viewer-root" is forbidden: user "bob" '
            f'{GROUPS} {NOT_HELD}'
            '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n{NonResourceURLs:["*"], Verbs:["*"]}')
        # Its own Roles: what admin holds goes, what it does not (nodes) is refused, nothing stored.
        assert (await call(bob, "POST", *role("reader", [rule(["pods", "secrets"], ["get", "list"])])))[0] == 201
        code, body = await call(bob, "POST", *role("nodes", [rule(["nodes"], ["list", "get"]),
                                                              rule(["pods"], ["get"])]))
        assert code == 403
        assert body["message"].endswith(NOT_HELD + '{APIGroups:[""], Resources:["nodes"], Verbs:["list" "get"]}')
        assert (await call(admin, "GET", ROLES + "/nodes"))[0] == 404
        # The admin role is bound in default only: kube-system is not its to delegate.
        path, other = binding("elsewhere", "view", user="viewer", namespace="kube-system")
        assert (await call(bob, "POST", path, other))[0] == 403
    viewer_binding = (await call(admin, "GET", RBAC + "/namespaces/default/rolebindings/viewer-view"))[1]
    assert viewer_binding["roleRef"]["name"] == "view"


async def test_kubectl_shows_the_refusal(secure_api, admin, tmp_path):
    assert (await call(admin, "POST", *binding("bob-admin", "admin", user="bob")))[0] == 201
    kubectl = Kubectl(secure_api.url, tmp_path)
    kubectl.config = secure_api.kubeconfig("bob", tmp_path / "bob.kubeconfig")
    # (`kubectl create rolebinding` sends protobuf, which this API does not read: a manifest.)
    manifest = yaml.safe_dump(binding("viewer-root", "cluster-admin", user="viewer")[1])
    rc, out, err = await kubectl.run("create", "-f", "-", stdin=manifest)
    assert rc == 1
    assert err.splitlines()[0] == ('Error from server (Forbidden): error when creating "STDIN": '
                                   'rolebindings.rbac.authorization.k8s.io "viewer-root" is forbidden: '
                                   f'user "bob" {GROUPS} {NOT_HELD.rstrip()}')
    await kubectl.ok("create", "-f", "-", stdin=yaml.safe_dump(binding("viewer-view", "view", user="viewer")[1]))


async def test_role_author_cannot_grant_secrets_it_cannot_read_until_it_may_escalate(secure_api, admin):
    assert (await call(admin, "POST", *binding("viewer-view", "view", user="viewer")))[0] == 201
    await grant(admin, "role-writer", [rule(["roles"], ["create", "update", "get"], "rbac.authorization.k8s.io")],
                "viewer")
    secrets = [rule(["secrets"], ["list"])]
    async with secure_api.session("viewer") as viewer:
        assert (await call(viewer, "POST", *role("pod-reader", [rule(["pods"], ["get", "list"])])))[0] == 201
        code, body = await call(viewer, "POST", *role("secret-reader", secrets))
        assert code == 403
        assert body["message"] == ('roles.rbac.authorization.k8s.io "secret-reader" is forbidden: user "viewer" '
                                   f'{GROUPS} {NOT_HELD}'
                                   '{APIGroups:[""], Resources:["secrets"], Verbs:["list"]}')
        # An update is checked the same way: the stored Role keeps its rules.
        code, stored = await call(viewer, "GET", ROLES + "/pod-reader")
        stored["rules"] = stored["rules"] + secrets
        code, body = await call(viewer, "PUT", ROLES + "/pod-reader", stored)
        assert code == 403 and body["message"].startswith('roles.rbac.authorization.k8s.io "pod-reader" is forbidden')
        assert (await call(viewer, "GET", ROLES + "/pod-reader"))[1]["rules"] == [rule(["pods"], ["get", "list"])]

        # A Role it could not write: only garbage-collection fields may change (as kube allows).
        assert (await call(admin, "POST", *role("admins-secrets", secrets)))[0] == 201
        code, theirs = await call(viewer, "GET", ROLES + "/admins-secrets")
        theirs["metadata"]["finalizers"] = ["example.com/keep"]
        code, theirs = await call(viewer, "PUT", ROLES + "/admins-secrets", theirs)
        assert code == 200, theirs
        theirs["metadata"]["labels"] = {"mine": "yes"}
        assert (await call(viewer, "PUT", ROLES + "/admins-secrets", theirs))[0] == 403

        await grant(admin, "escalator", [rule(["roles"], ["escalate"], "rbac.authorization.k8s.io")], "viewer")
        code, body = await call(viewer, "POST", *role("secret-reader", secrets))
        assert code == 201, body


async def test_bind_verb_allows_binding_only_the_named_role(secure_api, admin):
    await grant(admin, "binder", [rule(["rolebindings"], ["create"], "rbac.authorization.k8s.io"),
                                  rule(["clusterroles"], ["bind"], "rbac.authorization.k8s.io", names=["edit"])],
                "bob")
    async with secure_api.session("bob") as bob:
        code, body = await call(bob, "POST", *binding("viewer-edit", "edit", user="viewer"))
        assert code == 201, body
        code, body = await call(bob, "POST", *binding("viewer-admin", "admin", user="viewer"))
        assert code == 403 and NOT_HELD in body["message"]
        # A role that does not exist cannot be checked: kube-apiserver says so as an internal error.
        code, body = await call(bob, "POST", *binding("viewer-ghost", "ghost", user="viewer"))
        assert (code, body["reason"]) == (500, "InternalError")
        assert body["message"] == 'Internal error occurred: clusterroles.rbac.authorization.k8s.io "ghost" not found'
    async with secure_api.session("viewer") as viewer:  # the binding bob could make is in force
        assert (await call(viewer, "POST", "/api/v1/namespaces/default/configmaps",
                           {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}))[0] == 201


async def test_cluster_roles_need_cluster_wide_permissions(secure_api, admin):
    await grant(admin, "cluster-role-writer",
                [rule(["clusterroles"], ["create"], "rbac.authorization.k8s.io")], "bob", cluster=True)
    assert (await call(admin, "POST", *binding("bob-admin", "admin", user="bob")))[0] == 201
    async with secure_api.session("bob") as bob:
        # bob reads pods in default, which a ClusterRole would grant everywhere.
        code, body = await call(bob, "POST", *role("pods-everywhere", [rule(["pods"], ["get"])], cluster=True))
        assert code == 403 and body["message"].startswith(
            'clusterroles.rbac.authorization.k8s.io "pods-everywhere" is forbidden: user "bob"')
        # What it holds cluster-wide it may hand on; aggregationRule takes holding everything.
        allowed = [rule(["clusterroles"], ["create"], "rbac.authorization.k8s.io")]
        assert (await call(bob, "POST", *role("again", allowed, cluster=True)))[0] == 201
        path, aggregated = role("aggregated", [], cluster=True)
        aggregated["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]}
        code, body = await call(bob, "POST", path, aggregated)
        assert code == 403 and body["message"] == (
            'clusterroles.rbac.authorization.k8s.io "aggregated" is forbidden: '
            "must have cluster-admin privileges to use the aggregationRule")
    # system:masters may anything.
    assert (await call(admin, "POST", path, aggregated))[0] == 201


async def test_always_allow_checks_nothing(etcd, tmp_path):
    server = await SecureApiServer(etcd, tmp_path, authorization_mode="AlwaysAllow").start()
    try:
        async with server.session("bob") as bob:
            code, body = await call(bob, "POST", *binding("bob-root", "cluster-admin", user="bob", cluster=True))
            assert code == 201, body
    finally:
        await server.stop()
