"""RBAC escalation prevention: nobody grants, through a role or a binding, what they do not hold.

As kube-apiserver's policy-based RBAC storage (`pkg/registry/rbac/*/policybased`):
  * a Role/ClusterRole may be written by a user who holds every rule in it (in the role's
    namespace; cluster-wide for a ClusterRole), or who may `escalate` roles/clusterroles;
  * a RoleBinding/ClusterRoleBinding may be written by a user who holds every rule of the
    role it references (in the binding's scope), or who may `bind` that role (by name);
  * system:masters always may; a write that only touches garbage-collection fields is let be.
Runs only when a request carried an authorized user (RBAC mode): the in-process components
and the AlwaysAllow default never reach it.
"""

from __future__ import annotations

from typing import Any

from ...auth import coverage
from ...auth.attributes import Attributes
from ...auth.user import MASTERS, UserInfo
from ...resources.registry import ResourceInfo
from .. import errors
from ..access.authorizer import RBACAuthorizer

GROUP = "rbac.authorization.k8s.io"
ROLES = ("roles", "clusterroles")
BINDINGS = ("rolebindings", "clusterrolebindings")
# Using an aggregationRule gathers anything later labelled: it takes holding everything.
_FULL_AUTHORITY = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                   {"nonResourceURLs": ["*"], "verbs": ["*"]}]
_GC_FIELDS = ("ownerReferences", "finalizers", "managedFields", "resourceVersion", "generation")


def applies(info: ResourceInfo, user: UserInfo) -> bool:
    return info.group == GROUP and info.resource in ROLES + BINDINGS and MASTERS not in user.groups


def admit(cache: Any, info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None,
          user: UserInfo) -> None:
    """Raise a 403 ApiError when the write would grant `user` more than it holds."""
    if old is not None and _only_gc_fields(old, obj):
        return
    md = obj.get("metadata") or {}
    namespace, name = (md.get("namespace") or "") if info.namespaced else "", md.get("name") or ""
    authz = RBACAuthorizer(cache)
    if info.resource in ROLES:
        # Kubernetes asks about the request's name: none on a create.
        asked = Attributes(user, "escalate", "", True, GROUP, info.resource, "", namespace,
                           name if old is not None else "")
        if authz.allowed(asked):
            return
        _confirm(authz, user, namespace, info, name, obj.get("rules") or [])
        aggregation = obj.get("aggregationRule")
        if aggregation and (old is None or aggregation != old.get("aggregationRule")):
            if coverage.uncovered(authz.held_rules(user, namespace), _FULL_AUTHORITY):
                raise _forbidden(info, name, "must have cluster-admin privileges to use the aggregationRule")
        return
    ref = obj.get("roleRef") or {}
    role_resource = {"Role": "roles", "ClusterRole": "clusterroles"}.get(ref.get("kind", ""), "")
    asked = Attributes(user, "bind", "", True, str(ref.get("apiGroup") or ""), role_resource, "",
                       namespace, str(ref.get("name") or ""))
    if role_resource and authz.allowed(asked):
        return
    entry = authz.role_entry(ref, namespace)
    if entry is None:  # kube-apiserver answers a reference it cannot resolve as an internal error
        raise errors.ApiError(500, f'Internal error occurred: {role_resource or "roles"}.{GROUP} '
                                   f'"{ref.get("name", "")}" not found', "InternalError")
    _confirm(authz, user, namespace, info, name, entry.obj.get("rules") or [])


def _confirm(authz: RBACAuthorizer, user: UserInfo, namespace: str, info: ResourceInfo, name: str,
             rules: list[dict[str, Any]]) -> None:
    missing = coverage.uncovered(authz.held_rules(user, namespace), rules)
    if missing:
        raise _forbidden(info, name, f'user "{user.name}" (groups={coverage.quoted_list(user.groups)}) '
                                     "is attempting to grant RBAC permissions not currently held:\n"
                                     + coverage.describe_missing(missing))


def _forbidden(info: ResourceInfo, name: str, why: str) -> errors.ApiError:
    return errors.ApiError(403, f'{info.resource}.{GROUP} "{name}" is forbidden: {why}', "Forbidden",
                           {"name": name, "group": GROUP, "kind": info.resource})


def _only_gc_fields(old: dict[str, Any], new: dict[str, Any]) -> bool:
    def stripped(obj: dict[str, Any]) -> dict[str, Any]:
        md = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _GC_FIELDS}
        return {**obj, "metadata": md}
    return stripped(old) == stripped(new)
