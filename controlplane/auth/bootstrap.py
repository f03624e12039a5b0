"""The bootstrap RBAC policy kube-apiserver creates at start, reduced to the kinds pyctl serves.

ClusterRoles cluster-admin, admin, edit and view (the user-facing roles), plus the
system:discovery / system:basic-user / system:public-info-viewer roles every authenticated
user is bound to (so kubectl can read discovery and ask `auth can-i`), and the
ClusterRoleBinding cluster-admin -> group system:masters. Objects already present are left
alone: an operator's edits survive restarts.
"""

from __future__ import annotations

from typing import Any

from ..api import errors
from ..api.storage import ObjectStore, WriteOptions
from ..resources import registry
from .user import AUTHENTICATED, MASTERS

READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_RBAC = "rbac.authorization.k8s.io"
_META = {"labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
         "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}}

_VIEW_CORE = ["pods", "pods/log", "pods/status", "services", "services/status", "endpoints",
              "events", "configmaps", "namespaces", "namespaces/status"]
_VIEW_APPS = ["deployments", "deployments/scale", "deployments/status", "replicasets",
              "replicasets/scale", "replicasets/status"]
_EDIT_CORE = ["pods", "pods/exec", "pods/eviction", "services", "endpoints", "configmaps", "secrets"]
_EDIT_APPS = ["deployments", "deployments/scale", "replicasets", "replicasets/scale"]


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def _urls(urls: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"nonResourceURLs": urls, "verbs": verbs}


VIEW = [_rule([""], _VIEW_CORE, READ), _rule(["apps"], _VIEW_APPS, READ),
        _rule(["discovery.k8s.io"], ["endpointslices"], READ)]
EDIT = VIEW + [_rule([""], _EDIT_CORE, WRITE), _rule([""], ["secrets"], READ),
               _rule(["apps"], _EDIT_APPS, WRITE)]
ADMIN = EDIT + [_rule([_RBAC], ["roles", "rolebindings"], READ + WRITE)]
CLUSTER_ADMIN = [_rule(["*"], ["*"], ["*"]), _urls(["*"], ["*"])]

CLUSTER_ROLES: dict[str, list[dict[str, Any]]] = {
    "cluster-admin": CLUSTER_ADMIN, "admin": ADMIN, "edit": EDIT, "view": VIEW,
    "system:discovery": [_urls(["/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*",
                                "/healthz", "/livez", "/readyz", "/version", "/version/"], ["get"])],
    "system:basic-user": [_rule(["authorization.k8s.io"], ["selfsubjectaccessreviews"], ["create"]),
                          _rule(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"])],
    "system:public-info-viewer": [_urls(["/healthz", "/livez", "/readyz", "/version", "/version/"],
                                        ["get"])],
}
# binding name -> (role, group)
CLUSTER_ROLE_BINDINGS = {
    "cluster-admin": ("cluster-admin", MASTERS),
    "system:discovery": ("system:discovery", AUTHENTICATED),
    "system:basic-user": ("system:basic-user", AUTHENTICATED),
    "system:public-info-viewer": ("system:public-info-viewer", AUTHENTICATED),
}


def policy() -> list[tuple[str, dict[str, Any]]]:
    """(resource, object) for every bootstrap object, roles before bindings."""
    out: list[tuple[str, dict[str, Any]]] = []
    for name, rules in CLUSTER_ROLES.items():
        out.append(("clusterroles", {"apiVersion": f"{_RBAC}/v1", "kind": "ClusterRole",
                                     "metadata": {"name": name, **_META}, "rules": rules}))
    for name, (role, group) in CLUSTER_ROLE_BINDINGS.items():
        out.append(("clusterrolebindings", {
            "apiVersion": f"{_RBAC}/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name, **_META},
            "roleRef": {"apiGroup": _RBAC, "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": _RBAC, "kind": "Group", "name": group}]}))
    return out


async def ensure_policy(objects: ObjectStore) -> None:
    for resource, obj in policy():
        info = registry.lookup(_RBAC, "v1", resource)
        assert info is not None
        if objects.cache.get(objects.key(info, "", obj["metadata"]["name"])) is not None:
            continue
        try:
            await objects.create(info, "", obj, WriteOptions(field_manager="pyctl-apiserver"))
        except errors.ApiError as exc:
            if exc.reason != "AlreadyExists":  # another API server made it first
                raise
