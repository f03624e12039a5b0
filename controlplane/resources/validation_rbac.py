"""Validation rules for rbac.authorization.k8s.io/v1 kinds, beyond their schemas.

Transcribed from kubernetes `pkg/apis/rbac/validation/validation.go`: RBAC names are path
segments (system:masters is a fine name), rules need verbs and either resources or
non-resource URLs, a binding's roleRef names a role kind it may and never changes.
"""

from __future__ import annotations

from typing import Any

from controlplane.resources.validation import (Cause, GoLiteral, go_quote, go_string_list, invalid,
                                               not_supported, required)

RBAC_GROUP = "rbac.authorization.k8s.io"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def path_segment_name(value: str) -> list[str]:
    """apimachinery path.IsValidPathSegmentName."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


def _rules(obj: dict[str, Any], namespaced: bool) -> list[Cause]:
    out: list[Cause] = []
    for i, rule in enumerate(_list(obj.get("rules"))):
        if not isinstance(rule, dict):
            continue
        p = f"rules[{i}]"
        if not rule.get("verbs"):
            out.append(required(f"{p}.verbs", "verbs must contain at least one value"))
        urls = rule.get("nonResourceURLs") or []
        if urls:
            if namespaced:
                out.append(invalid(f"{p}.nonResourceURLs", go_string_list(urls),
                                   "namespaced rules cannot apply to non-resource URLs"))
            if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
                out.append(invalid(f"{p}.nonResourceURLs", go_string_list(urls),
                                   "rules cannot apply to both regular resources and non-resource URLs"))
            continue
        if not rule.get("apiGroups"):
            out.append(required(f"{p}.apiGroups", "resource rules must supply at least one api group"))
        if not rule.get("resources"):
            out.append(required(f"{p}.resources", "resource rules must supply at least one resource"))
    return out


def role(obj: dict[str, Any]) -> list[Cause]:
    return _rules(obj, namespaced=True)


def cluster_role(obj: dict[str, Any]) -> list[Cause]:
    return _rules(obj, namespaced=False)


def _subjects(obj: dict[str, Any]) -> list[Cause]:
    out: list[Cause] = []
    for i, s in enumerate(_list(obj.get("subjects"))):
        if not isinstance(s, dict):
            continue
        p, kind, group = f"subjects[{i}]", s.get("kind"), s.get("apiGroup") or ""
        if not s.get("name"):
            out.append(required(f"{p}.name"))
        if kind == "ServiceAccount":
            if group:
                out.append(not_supported(f"{p}.apiGroup", group, [""]))
        elif kind in ("User", "Group"):
            if group != RBAC_GROUP:
                out.append(not_supported(f"{p}.apiGroup", group, [RBAC_GROUP]))
        else:
            out.append(not_supported(f"{p}.kind", kind, ["ServiceAccount", "User", "Group"]))
    return out


def _role_ref(obj: dict[str, Any], kinds: list[str]) -> list[Cause]:
    ref = _dict(obj.get("roleRef"))
    out: list[Cause] = []
    if ref.get("apiGroup") != RBAC_GROUP:
        out.append(not_supported("roleRef.apiGroup", ref.get("apiGroup") or "", [RBAC_GROUP]))
    if ref.get("kind") not in kinds:
        out.append(not_supported("roleRef.kind", ref.get("kind") or "", kinds))
    if not ref.get("name"):
        out.append(required("roleRef.name"))
    else:
        out += [invalid("roleRef.name", ref["name"], m) for m in path_segment_name(ref["name"])]
    return out + _subjects(obj)


def role_binding(obj: dict[str, Any]) -> list[Cause]:
    return _role_ref(obj, ["Role", "ClusterRole"])


def cluster_role_binding(obj: dict[str, Any]) -> list[Cause]:
    return _role_ref(obj, ["ClusterRole"])


def role_ref_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    if new.get("roleRef") != old.get("roleRef"):
        return [invalid("roleRef", _go_role_ref(new.get("roleRef")), "cannot change roleRef")]
    return []


def _go_role_ref(value: Any) -> GoLiteral:
    ref = _dict(value)
    return GoLiteral("rbac.RoleRef{" + ", ".join(
        f"{k[0].upper() + k[1:]}:{go_quote(str(ref.get(k) or ''))}" for k in ("apiGroup", "kind", "name")) + "}")
