"""Does one set of PolicyRules cover another: the arithmetic behind RBAC escalation checks.

Pure functions, as kubernetes `pkg/registry/rbac/validation/policy_comparator.go` and
`rule.go` have them: a rule to grant is broken down into single (group, resource, verb[,
name]) and (URL, verb) rules; each must be covered by one rule the granter holds. What is
missing is compacted (verbs merged per group/resource) and printed as Go's `%q` prints
slices, `{APIGroups:[""], Resources:["pods"], Verbs:["get" "list"]}`, sorted, one a line.
"""

from __future__ import annotations

import json
from typing import Any

Rule = dict[str, Any]


def _list(rule: Rule, field: str) -> list[str]:
    return [str(v) for v in rule.get(field) or []]


def breakdown(rule: Rule) -> list[Rule]:
    """One rule per (group, resource, verb[, resourceName]) and per (nonResourceURL, verb)."""
    out: list[Rule] = []
    names = _list(rule, "resourceNames")
    for group in _list(rule, "apiGroups"):
        for resource in _list(rule, "resources"):
            for verb in _list(rule, "verbs"):
                base = {"apiGroups": [group], "resources": [resource], "verbs": [verb]}
                out.extend([{**base, "resourceNames": [n]} for n in names] if names else [base])
    for url in _list(rule, "nonResourceURLs"):
        out.extend({"nonResourceURLs": [url], "verbs": [verb]} for verb in _list(rule, "verbs"))
    return out


def _has_all(held: list[str], wanted: list[str]) -> bool:
    return all(w in held for w in wanted)


def _resources_cover(held: list[str], wanted: list[str]) -> bool:
    if "*" in held:
        return True
    for path in wanted:
        if path in held:
            continue
        # "*/scale" covers every resource's scale subresource, nothing else.
        if "/" not in path or "*/" + path.split("/", 1)[1] not in held:
            return False
    return True


def _url_covers(owner: str, path: str) -> bool:
    return owner == path or (owner.endswith("*") and path.startswith(owner.rstrip("*")))


def rule_covers(owner: Rule, sub: Rule) -> bool:
    verbs, groups = _list(owner, "verbs"), _list(owner, "apiGroups")
    owner_names, sub_names = _list(owner, "resourceNames"), _list(sub, "resourceNames")
    if not ("*" in verbs or _has_all(verbs, _list(sub, "verbs"))):
        return False
    if not ("*" in groups or _has_all(groups, _list(sub, "apiGroups"))):
        return False
    if not _resources_cover(_list(owner, "resources"), _list(sub, "resources")):
        return False
    # A rule limited to names never covers one that is not (the granter could not list either).
    if owner_names and (not sub_names or not _has_all(owner_names, sub_names)):
        return False
    urls = _list(owner, "nonResourceURLs")
    return all(any(_url_covers(o, p) for o in urls) for p in _list(sub, "nonResourceURLs"))


def uncovered(held: list[Rule], wanted: list[Rule]) -> list[Rule]:
    """The broken-down parts of `wanted` no rule in `held` covers (empty: fully covered)."""
    return [sub for rule in wanted for sub in breakdown(rule)
            if not any(rule_covers(owner, sub) for owner in held)]


def compact(rules: list[Rule]) -> list[Rule]:
    """Merge the verbs of rules on one group/resource (and at most one name)."""
    simple: dict[tuple[str, str, str], Rule] = {}
    out: list[Rule] = []
    for rule in rules:
        names = _list(rule, "resourceNames")
        if (len(names) > 1 or rule.get("nonResourceURLs") or len(_list(rule, "apiGroups")) != 1
                or len(_list(rule, "resources")) != 1):
            out.append(rule)
            continue
        key = (rule["apiGroups"][0], rule["resources"][0], names[0] if names else "\0")
        if key in simple:
            verbs = simple[key]["verbs"]
            verbs.extend(v for v in _list(rule, "verbs") if v not in verbs)
        else:
            simple[key] = {**rule, "verbs": _list(rule, "verbs")}
    return out + list(simple.values())


def _go_quoted(values: list[str]) -> str:
    return "[" + " ".join(json.dumps(v, ensure_ascii=False) for v in values) + "]"


def describe(rule: Rule) -> str:
    """kubernetes' rbacv1helpers.CompactString: only the fields a rule sets, in a fixed order."""
    parts = [f"{label}:{_go_quoted(_list(rule, field))}"
             for label, field in (("APIGroups", "apiGroups"), ("Resources", "resources"),
                                  ("NonResourceURLs", "nonResourceURLs"),
                                  ("ResourceNames", "resourceNames"), ("Verbs", "verbs"))
             if rule.get(field)]
    return "{" + ", ".join(parts) + "}"


def describe_missing(missing: list[Rule]) -> str:
    return "\n".join(sorted({describe(r) for r in compact(missing)}))


def quoted_list(values: list[str] | tuple[str, ...]) -> str:
    """Go's `%q` of a []string: `["a" "b"]`."""
    return _go_quoted(list(values))
