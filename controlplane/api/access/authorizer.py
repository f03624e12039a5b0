"""Authorizers: AlwaysAllow, and RBAC over the API server's watch cache.

The RBAC authorizer reads ClusterRoleBindings and the request namespace's RoleBindings, then
the roles they reference, straight from the watch cache: no etcd round trip per request,
and a binding is in force as soon as its create returns (writes wait for the cache).
Members of system:masters are allowed everything without any RBAC object.
"""

from __future__ import annotations

from typing import Any, Iterator, Protocol

from aiohttp import web

from ..cache import WatchCache
from ..errors import ApiError
from ...store import keys
from ...auth import rbac
from ...auth.attributes import Attributes
from ...auth.user import MASTERS, UserInfo

MODES = ("AlwaysAllow", "RBAC")


class Authorizer(Protocol):
    def allowed(self, attrs: Attributes) -> bool: ...


class AlwaysAllow:
    def allowed(self, attrs: Attributes) -> bool:
        return True


class RBACAuthorizer:
    def __init__(self, cache: WatchCache) -> None:
        self.cache = cache

    def allowed(self, attrs: Attributes) -> bool:
        if MASTERS in attrs.user.groups:
            return True
        return any(rbac.rule_allows(rule, attrs) for rule in self.rules_for(attrs))

    def rules_for(self, attrs: Attributes) -> Iterator[dict[str, Any]]:
        """Every rule granted to the user in the request's namespace (lazily: `any` stops early)."""
        for entry in self.cache.list("clusterrolebindings"):
            if rbac.binds(entry.obj, attrs.user):
                yield from self._role_rules(entry.obj.get("roleRef") or {}, "")
        if attrs.namespace:
            for entry in self.cache.list("rolebindings", attrs.namespace):
                if rbac.binds(entry.obj, attrs.user):
                    yield from self._role_rules(entry.obj.get("roleRef") or {}, attrs.namespace)

    def held_rules(self, user: UserInfo, namespace: str) -> list[dict[str, Any]]:
        """Every rule the user holds in `namespace` ("": cluster-wide only), as kube's RulesFor."""
        return list(self.rules_for(Attributes(user, "", "", namespace=namespace)))

    def role_entry(self, ref: dict[str, Any], namespace: str) -> Any:
        """The cache entry of the Role/ClusterRole a roleRef names, None when absent."""
        kind, name = ref.get("kind"), ref.get("name", "")
        if kind == "ClusterRole":
            return self.cache.get(keys.object_key("clusterroles", None, name))
        if kind == "Role" and namespace:
            return self.cache.get(keys.object_key("roles", namespace, name))
        return None

    def _role_rules(self, ref: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
        entry = self.role_entry(ref, namespace)
        return list((entry.obj.get("rules") or []) if entry is not None else [])


AUTHORIZER = web.AppKey("authorizer", Authorizer)  # type: ignore[type-abstract]


def build(mode: str, cache: WatchCache) -> Authorizer:
    if mode == "RBAC":
        return RBACAuthorizer(cache)
    if mode == "AlwaysAllow":
        return AlwaysAllow()
    raise ValueError(f"unknown authorization mode {mode!r}; choose from {', '.join(MODES)}")


def forbidden_message(attrs: Attributes) -> str:
    """kube-apiserver's wording (endpoints/handlers/responsewriters/errors.go), exactly."""
    user = attrs.user.name
    if not attrs.resource_request:
        return f'User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    where = (f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope")
    return (f'User "{user}" cannot {attrs.verb} resource "{attrs.qualified_resource}" '
            f'in API group "{attrs.api_group}" {where}')


def forbidden(attrs: Attributes) -> ApiError:
    """The 403 Status: `pods is forbidden: User "bob" cannot create resource "pods" ...`."""
    why = forbidden_message(attrs)
    if not attrs.resource_request:
        return ApiError(403, f"forbidden: {why}", "Forbidden")
    resource = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    subject = f'{resource} "{attrs.name}"' if attrs.name else resource
    details: dict[str, Any] = {"kind": attrs.resource}
    if attrs.name:
        details["name"] = attrs.name
    if attrs.api_group:
        details["group"] = attrs.api_group
    return ApiError(403, f"{subject} is forbidden: {why}", "Forbidden", details)
