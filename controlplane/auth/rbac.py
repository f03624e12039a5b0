"""RBAC rule matching: pure functions over PolicyRules, subjects and request attributes.

Mirrors kubernetes `plugin/pkg/auth/authorizer/rbac/rbac.go` and its `RuleAllows`:
  * verbs, apiGroups, resources and nonResourceURLs match exactly or by "*";
  * a resource rule "pods/log" names a subresource, "*/scale" any resource's scale;
  * resourceNames, when set, only match requests that name an object (so never list/create);
  * a nonResourceURL ending in "*" matches by prefix.
And the rules of an aggregated ClusterRole (`aggregated_rules`), as the clusterrole
aggregation controller gathers them.
"""

from __future__ import annotations

from typing import Any

from ..machinery.selectors import SelectorError, label_selector_from_spec
from .attributes import Attributes
from .user import UserInfo

Rule = dict[str, Any]


def _has(values: Any, wanted: str) -> bool:
    values = values or []
    return "*" in values or wanted in values


def _resource_matches(rule_resources: list[str], attrs: Attributes) -> bool:
    wanted = attrs.qualified_resource
    for r in rule_resources:
        if r == "*" or r == wanted:
            return True
        if attrs.subresource and r == "*/" + attrs.subresource:
            return True
    return False


def _url_matches(rule_urls: list[str], path: str) -> bool:
    for u in rule_urls:
        if u == "*" or u == path or (u.endswith("*") and path.startswith(u[:-1])):
            return True
    return False


def rule_allows(rule: Rule, attrs: Attributes) -> bool:
    if not _has(rule.get("verbs"), attrs.verb):
        return False
    if not attrs.resource_request:
        return _url_matches(rule.get("nonResourceURLs") or [], attrs.path)
    if not _has(rule.get("apiGroups"), attrs.api_group):
        return False
    if not _resource_matches(rule.get("resources") or [], attrs):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names


def subject_matches(subject: dict[str, Any], user: UserInfo, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return name == user.name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return user.name == f"system:serviceaccount:{namespace}:{name}"
    return False


def binds(binding: dict[str, Any], user: UserInfo) -> bool:
    namespace = (binding.get("metadata") or {}).get("namespace", "")
    return any(subject_matches(s, user, namespace) for s in binding.get("subjects") or [])


def aggregated_rules(role: dict[str, Any], roles: list[dict[str, Any]]) -> list[Rule] | None:
    """The rules of `role`'s aggregationRule over `roles` (ClusterRoles): those of every other
    role its selectors match, by role name, each rule once. None when it does not aggregate."""
    selectors = (role.get("aggregationRule") or {}).get("clusterRoleSelectors")
    if not isinstance(selectors, list):
        return None
    try:
        parsed = [label_selector_from_spec(s) for s in selectors if isinstance(s, dict)]
    except SelectorError:
        return None
    own = (role.get("metadata") or {}).get("name")
    out: list[Rule] = []
    for other in sorted(roles, key=lambda r: (r.get("metadata") or {}).get("name", "")):
        md = other.get("metadata") or {}
        if md.get("name") == own or not any(p.matches(md.get("labels") or {}) for p in parsed):
            continue
        out.extend(r for r in other.get("rules") or [] if r not in out)
    return out
