"""Rule coverage for RBAC escalation checks, case by case as Kubernetes' policy comparator."""

from __future__ import annotations

import pytest

from controlplane.auth import coverage
from controlplane.auth.rbac import aggregated_rules


def rule(groups=("",), resources=("pods",), verbs=("get",), names=(), urls=()) -> dict:
    out: dict = {"verbs": list(verbs)}
    if urls:
        out["nonResourceURLs"] = list(urls)
    else:
        out.update(apiGroups=list(groups), resources=list(resources))
    if names:
        out["resourceNames"] = list(names)
    return out


@pytest.mark.parametrize("held,wanted,covered", [
    (rule(verbs=["*"]), rule(verbs=["get", "delete"]), True),
    (rule(groups=["*"], resources=["*"]), rule(groups=["apps"], resources=["deployments"]), True),
    (rule(verbs=["get"]), rule(verbs=["get", "list"]), False),
    (rule(resources=["pods"]), rule(resources=["pods/log"]), False),       # a subresource is its own
    (rule(resources=["*/scale"]), rule(resources=["deployments/scale"]), True),
    (rule(resources=["*/scale"]), rule(resources=["deployments"]), False),
    (rule(names=["a"]), rule(names=["a"]), True),
    (rule(names=["a"]), rule(names=["a", "b"]), False),
    (rule(names=["a"]), rule(), False),                                     # named never covers all
    (rule(), rule(names=["a"]), True),
    (rule(urls=["/logs/*"]), rule(urls=["/logs/x", "/logs/"]), True),
    (rule(urls=["/logs/*"]), rule(urls=["/metrics"]), False),
    (rule(urls=["*"], verbs=["*"]), rule(urls=["/healthz"]), True),
    (rule(groups=["*"], resources=["*"], verbs=["*"]), rule(urls=["/healthz"]), False),
])
def test_rule_covers(held: dict, wanted: dict, covered: bool) -> None:
    assert (coverage.uncovered([held], [wanted]) == []) is covered


def test_rules_are_covered_piecewise_by_several_held_rules() -> None:
    held = [rule(verbs=["get"]), rule(verbs=["list"]), rule(groups=["apps"], resources=["*"], verbs=["*"])]
    assert coverage.uncovered(held, [rule(verbs=["get", "list"]),
                                     rule(groups=["apps"], resources=["deployments", "replicasets"])]) == []


def test_missing_rules_are_described_as_kubernetes_prints_them() -> None:
    missing = coverage.uncovered([rule(verbs=["get"])], [
        rule(resources=["pods", "secrets"], verbs=["get", "list", "watch"]),
        rule(resources=["configmaps"], verbs=["update"], names=["a", "b"]),
        rule(urls=["/metrics"], verbs=["get"])])
    assert coverage.describe_missing(missing).splitlines() == [
        '{APIGroups:[""], Resources:["configmaps"], ResourceNames:["a"], Verbs:["update"]}',
        '{APIGroups:[""], Resources:["configmaps"], ResourceNames:["b"], Verbs:["update"]}',
        '{APIGroups:[""], Resources:["pods"], Verbs:["list" "watch"]}',
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list" "watch"]}',
        '{NonResourceURLs:["/metrics"], Verbs:["get"]}',
    ]
    assert coverage.quoted_list(("system:authenticated", "devs")) == '["system:authenticated" "devs"]'


def test_aggregated_rules_gather_matching_roles_by_name_once() -> None:
    def role(name: str, labels: dict, rules: list, selects: str = "") -> dict:
        out = {"metadata": {"name": name, "labels": labels}, "rules": rules}
        if selects:
            out["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {selects: "true"}}]}
        return out
    target = role("view", {"to-edit": "true"}, [rule(verbs=["stale"])], selects="to-view")
    roles = [target, role("b", {"to-view": "true"}, [rule(verbs=["list"]), rule()]),
             role("a", {"to-view": "true"}, [rule()]), role("c", {"other": "true"}, [rule(verbs=["delete"])])]
    assert aggregated_rules(target, roles) == [rule(), rule(verbs=["list"])]
    assert aggregated_rules(roles[1], roles) is None
