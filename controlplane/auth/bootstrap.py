"""The bootstrap RBAC policy kube-apiserver creates at start, reduced to the kinds pyctl serves.

ClusterRoles cluster-admin, admin, edit and view (the user-facing roles; the last three
aggregate the system:aggregate-to-* roles and each other, as in Kubernetes), plus the
system:discovery / system:basic-user / system:public-info-viewer roles every authenticated
user is bound to (so kubectl can read discovery and ask `auth can-i`), system:monitoring (the
group whose members may scrape /metrics), and the ClusterRoleBinding cluster-admin -> group
system:masters. The API server creates them at start
(api/startup.py), leaving objects already present alone: an operator's edits survive restarts.
"""

from __future__ import annotations

from typing import Any

from . import rbac
from .user import AUTHENTICATED, MASTERS, MONITORING

READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_RBAC = "rbac.authorization.k8s.io"
_META = {"labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
         "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}}

_VIEW_CORE = ["pods", "pods/log", "pods/status", "services", "services/status", "endpoints", "serviceaccounts",
              "events", "configmaps", "namespaces", "namespaces/status", "persistentvolumeclaims",
              "persistentvolumeclaims/status"]
_VIEW_APPS = ["deployments", "deployments/scale", "deployments/status", "replicasets",
              "replicasets/scale", "replicasets/status", "controllerrevisions", "daemonsets", "daemonsets/status",
              "statefulsets", "statefulsets/scale", "statefulsets/status"]
_EDIT_CORE = ["pods", "pods/exec", "pods/eviction", "services", "endpoints", "configmaps", "secrets",
              "serviceaccounts", "persistentvolumeclaims"]
_EDIT_APPS = ["deployments", "deployments/scale", "replicasets", "replicasets/scale",
              "daemonsets", "statefulsets", "statefulsets/scale"]
_HPA = ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def _urls(urls: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"nonResourceURLs": urls, "verbs": verbs}


# The user-facing roles aggregate, as in Kubernetes: view's rules reach edit, edit's reach
# admin, and an operator extends any of them with a ClusterRole labelled aggregate-to-<role>.
AGGREGATE_TO_VIEW = [_rule([""], _VIEW_CORE, READ), _rule(["apps"], _VIEW_APPS, READ),
                     _rule(["discovery.k8s.io"], ["endpointslices"], READ),
                     _rule(["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"], READ),
                     _rule(["autoscaling"], _HPA, READ)]
AGGREGATE_TO_EDIT = [_rule([""], _EDIT_CORE, WRITE), _rule([""], ["secrets"], READ),
                     _rule(["apps"], _EDIT_APPS, WRITE),
                     _rule(["networking.k8s.io"], ["ingresses", "networkpolicies"], WRITE),
                     _rule([""], ["serviceaccounts/token"], ["create"]),
                     # A plan simulates the scheduler and writes nothing (api/plan.py).
                     _rule(["pyctl.io"], ["plans"], ["create"])]
AGGREGATE_TO_ADMIN = [_rule([_RBAC], ["roles", "rolebindings"], READ + WRITE)]
# ReplicationControllers, Jobs, CronJobs and PodDisruptionBudgets, as Kubernetes' roles have them.
_RC = ["replicationcontrollers", "replicationcontrollers/scale"]
AGGREGATE_TO_VIEW += [_rule([""], _RC + ["replicationcontrollers/status"], READ),
                      _rule(["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"], READ),
                      _rule(["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"], READ)]
AGGREGATE_TO_EDIT += [_rule([""], _RC, WRITE), _rule(["batch"], ["cronjobs", "jobs"], WRITE),
                      _rule(["policy"], ["poddisruptionbudgets"], WRITE)]
CLUSTER_ADMIN = [_rule(["*"], ["*"], ["*"]), _urls(["*"], ["*"])]
AGGREGATE_LABEL = "rbac.authorization.k8s.io/aggregate-to-"
# role -> (the aggregate-to-<x> labels it carries, the aggregate-to-<y> its aggregationRule selects)
_AGGREGATION: dict[str, tuple[tuple[str, ...], str]] = {
    "system:aggregate-to-view": (("view",), ""), "system:aggregate-to-edit": (("edit",), ""),
    "system:aggregate-to-admin": (("admin",), ""),
    "system:aggregated-metrics-reader": (("view", "edit", "admin"), ""),
    "view": (("edit",), "view"), "edit": (("admin",), "edit"), "admin": ((), "admin"),
}

CLUSTER_ROLES: dict[str, list[dict[str, Any]]] = {
    "cluster-admin": CLUSTER_ADMIN, "system:aggregate-to-admin": AGGREGATE_TO_ADMIN,
    "system:aggregate-to-edit": AGGREGATE_TO_EDIT, "system:aggregate-to-view": AGGREGATE_TO_VIEW,
    "view": [], "edit": [], "admin": [],  # aggregated: filled in below and by the controller
    "system:discovery": [_urls(["/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*",
                                "/healthz", "/livez", "/readyz", "/version", "/version/"], ["get"])],
    "system:basic-user": [_rule(["authorization.k8s.io"], ["selfsubjectaccessreviews",
                                                            "selfsubjectrulesreviews"], ["create"]),
                          _rule(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"])],
    "system:public-info-viewer": [_urls(["/healthz", "/livez", "/readyz", "/version", "/version/"],
                                        ["get"])],
    # Prometheus: a scraper's identity in the group system:monitoring may read /metrics.
    "system:monitoring": [_urls(["/healthz", "/healthz/*", "/livez", "/livez/*", "/readyz", "/readyz/*",
                                 "/metrics", "/metrics/slis"], ["get"])],
    # As metrics-server installs it: `kubectl top` for whoever may view pods.
    "system:aggregated-metrics-reader": [_rule(["metrics.k8s.io"], ["pods", "nodes"], READ)],
}
# binding name -> (role, group)
CLUSTER_ROLE_BINDINGS = {
    "cluster-admin": ("cluster-admin", MASTERS),
    "system:discovery": ("system:discovery", AUTHENTICATED),
    "system:basic-user": ("system:basic-user", AUTHENTICATED),
    "system:public-info-viewer": ("system:public-info-viewer", AUTHENTICATED),
    "system:monitoring": ("system:monitoring", MONITORING),
}


def policy() -> list[tuple[str, dict[str, Any]]]:
    """(resource, object) for every bootstrap object, roles before bindings."""
    roles = [_cluster_role(name, rules) for name, rules in CLUSTER_ROLES.items()]
    for r in roles:  # in order view, edit, admin: each sees the one before it filled in
        gathered = rbac.aggregated_rules(r, roles)
        if gathered is not None:
            r["rules"] = gathered
    out: list[tuple[str, dict[str, Any]]] = [("clusterroles", r) for r in roles]
    for name, (role_name, group) in CLUSTER_ROLE_BINDINGS.items():
        out.append(("clusterrolebindings", {
            "apiVersion": f"{_RBAC}/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name, **_META},
            "roleRef": {"apiGroup": _RBAC, "kind": "ClusterRole", "name": role_name},
            "subjects": [{"apiGroup": _RBAC, "kind": "Group", "name": group}]}))
    return out


def _cluster_role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    carries, selects = _AGGREGATION.get(name, ((), ""))
    labels = {**_META["labels"], **{AGGREGATE_LABEL + to: "true" for to in carries}}
    role: dict[str, Any] = {"apiVersion": f"{_RBAC}/v1", "kind": "ClusterRole",
                            "metadata": {"name": name, "labels": labels, "annotations": _META["annotations"]},
                            "rules": rules}
    if selects:
        role["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {AGGREGATE_LABEL + selects: "true"}}]}
    return role
