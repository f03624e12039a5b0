"""RBAC kinds (rbac.authorization.k8s.io/v1): Roles, ClusterRoles and their bindings.

Rules transcribed from kubernetes `pkg/apis/rbac/validation/validation.go`: RBAC names are path
segments (system:masters is a fine name), rules need verbs and either resources or
non-resource URLs, a binding's roleRef names a role kind it may and never changes.
"""

from __future__ import annotations

from typing import Any, Callable

from ...machinery.types import Obj
from ..fields import as_dict, as_list
from ..info import ResourceInfo
from ..kind import Kind
from ..tables import AGE, CREATED_AT, NAME, Column, Printer, Row
from ..validation import Cause, GoLiteral, go_quote, go_string_list, invalid, not_supported, required

RBAC_GROUP = "rbac.authorization.k8s.io"


def path_segment_name(value: str) -> list[str]:
    """apimachinery path.IsValidPathSegmentName."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


def _rules(obj: Obj, namespaced: bool) -> list[Cause]:
    out: list[Cause] = []
    for i, rule in enumerate(as_list(obj.get("rules"))):
        if not isinstance(rule, dict):
            continue
        p = f"rules[{i}]"
        if not rule.get("verbs"):
            out.append(required(f"{p}.verbs", "verbs must contain at least one value"))
        urls = as_list(rule.get("nonResourceURLs"))  # a wrong type: the schema says so
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


def _role(obj: Obj) -> list[Cause]:
    return _rules(obj, namespaced=True)


def _cluster_role(obj: Obj) -> list[Cause]:
    return _rules(obj, namespaced=False)


def _subjects(obj: Obj) -> list[Cause]:
    out: list[Cause] = []
    for i, s in enumerate(as_list(obj.get("subjects"))):
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


def _role_ref(obj: Obj, kinds: list[str]) -> list[Cause]:
    ref = as_dict(obj.get("roleRef"))
    out: list[Cause] = []
    if ref.get("apiGroup") != RBAC_GROUP:
        out.append(not_supported("roleRef.apiGroup", ref.get("apiGroup") or "", [RBAC_GROUP]))
    if ref.get("kind") not in kinds:
        out.append(not_supported("roleRef.kind", ref.get("kind") or "", kinds))
    if not ref.get("name"):
        out.append(required("roleRef.name"))
    elif isinstance(ref["name"], str):  # another type: the schema reports it
        out += [invalid("roleRef.name", ref["name"], m) for m in path_segment_name(ref["name"])]
    return out + _subjects(obj)


def _role_binding(obj: Obj) -> list[Cause]:
    return _role_ref(obj, ["Role", "ClusterRole"])


def _cluster_role_binding(obj: Obj) -> list[Cause]:
    return _role_ref(obj, ["ClusterRole"])


def _role_ref_update(new: Obj, old: Obj) -> list[Cause]:
    if new.get("roleRef") != old.get("roleRef"):
        return [invalid("roleRef", _go_role_ref(new.get("roleRef")), "cannot change roleRef")]
    return []


def _go_role_ref(value: Any) -> GoLiteral:
    ref = as_dict(value)
    return GoLiteral("rbac.RoleRef{" + ", ".join(
        f"{k[0].upper() + k[1:]}:{go_quote(str(ref.get(k) or ''))}" for k in ("apiGroup", "kind", "name")) + "}")


# --- the tables -----------------------------------------------------------------------------

def _role_ref_cell(ref: Any) -> str:
    ref = ref if isinstance(ref, dict) else {}
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


def _subjects_cell(kind: str) -> Callable[[Row], str]:
    def cell(r: Row) -> str:
        subjects = [s for s in r.obj.get("subjects") or [] if s.get("kind") == kind]
        if kind == "ServiceAccount":  # namespace/name, as kubectl shows them
            return ", ".join(f"{s.get('namespace', '')}/{s.get('name', '')}" for s in subjects)
        return ", ".join(s.get("name", "") for s in subjects)
    return cell



_BINDING_PRINTER = Printer((
                           NAME,
                           Column("Role", lambda r: _role_ref_cell(r.obj.get("roleRef")),
                           description="RoleRef can reference a Role in the current namespace or a ClusterRole in the "
                           "global namespace. If the RoleRef cannot be resolved, the Authorizer must return "
                           "an error."),
                           AGE,
                           Column("Users", _subjects_cell("User"), priority=1, description="Subjects holds references to the objects "
                           "the role applies to."),
                           Column("Groups", _subjects_cell("Group"), priority=1, description="Subjects holds references to the objects "
                           "the role applies to."),
                           Column("ServiceAccounts", _subjects_cell("ServiceAccount"), priority=1,
                           description="Subjects holds references to the objects the role applies to."),
))
_ROLE_PRINTER = Printer((NAME, CREATED_AT))


def _info(resource: str, kind: str, namespaced: bool) -> ResourceInfo:
    return ResourceInfo(RBAC_GROUP, "v1", resource, kind, kind.lower(), namespaced)


ROLE = Kind(_info("roles", "Role", True), printer=_ROLE_PRINTER, rules=(_role,),
            name_check=path_segment_name)
CLUSTER_ROLE = Kind(_info("clusterroles", "ClusterRole", False), printer=_ROLE_PRINTER,
                    rules=(_cluster_role,), name_check=path_segment_name)
ROLE_BINDING = Kind(_info("rolebindings", "RoleBinding", True), printer=_BINDING_PRINTER,
                    rules=(_role_binding,), update_rules=(_role_ref_update,), name_check=path_segment_name)
CLUSTER_ROLE_BINDING = Kind(_info("clusterrolebindings", "ClusterRoleBinding", False),
                            printer=_BINDING_PRINTER, rules=(_cluster_role_binding,),
                            update_rules=(_role_ref_update,), name_check=path_segment_name)
