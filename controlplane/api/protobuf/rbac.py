"""Tables for rbac.authorization.k8s.io/v1 (numbers from k8s.io/api rbac/v1 generated.proto)."""

from __future__ import annotations

from .schema import Table, f, rep

KINDS = {"Role": "Role", "ClusterRole": "ClusterRole", "RoleBinding": "RoleBinding",
         "ClusterRoleBinding": "RoleBinding"}

MESSAGES: dict[str, Table] = {
    "Role": {1: f("metadata", "ObjectMeta"), 2: rep("rules", "PolicyRule")},
    "ClusterRole": {1: f("metadata", "ObjectMeta"), 2: rep("rules", "PolicyRule"),
                    3: f("aggregationRule", "AggregationRule")},
    "AggregationRule": {1: rep("clusterRoleSelectors", "LabelSelector")},
    "PolicyRule": {1: rep("verbs"), 2: rep("apiGroups"), 3: rep("resources"), 4: rep("resourceNames"),
                   5: rep("nonResourceURLs")},
    # Role and cluster-wide bindings share one layout.
    "RoleBinding": {1: f("metadata", "ObjectMeta"), 2: rep("subjects", "Subject"), 3: f("roleRef", "RoleRef")},
    "RoleRef": {1: f("apiGroup"), 2: f("kind"), 3: f("name")},
    "Subject": {1: f("kind"), 2: f("apiGroup"), 3: f("name"), 4: f("namespace")},
}
