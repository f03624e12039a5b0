"""The table of kinds the API serves: names, scope, short names, subresources.

Everything that needs to know "what is a deployment" (routing, discovery, OpenAPI,
the store's key layout, pyctl's kind lookup) asks this table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Subresource:
    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str | None = None  # when the response kind lives in another group (Scale)
    version: str | None = None


STATUS = Subresource("status", "", ("get", "patch", "update"))
SCALE = Subresource("scale", "Scale", ("get", "patch", "update"), group="autoscaling", version="v1")


@dataclass(frozen=True)
class ResourceInfo:
    group: str  # "" is the core group
    version: str
    resource: str  # plural, as in URLs
    kind: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    # Whether `status` is written only through the /status subresource.
    has_status: bool = field(default=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """`deployments.apps`, or `pods` for the core group: what error messages name."""
        return f"{self.resource}.{self.group}" if self.group else self.resource

    @property
    def qualified_kind(self) -> str:
        """`Deployment.apps`, or `Pod`: how Invalid errors name the kind."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def subresource(self, name: str) -> Subresource | None:
        for sub in self.subresources:
            if sub.name == name:
                return sub
        return None


def _sub(name: str, kind: str, verbs: tuple[str, ...]) -> Subresource:
    return Subresource(name, kind, verbs)


RESOURCES: tuple[ResourceInfo, ...] = (
    ResourceInfo("", "v1", "namespaces", "Namespace", "namespace", False, ("ns",),
                 subresources=(STATUS,), has_status=True,
                 verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    ResourceInfo("", "v1", "nodes", "Node", "node", False, ("no",),
                 subresources=(STATUS,), has_status=True),
    ResourceInfo("", "v1", "pods", "Pod", "pod", True, ("po",), ("all",),
                 subresources=(STATUS, _sub("binding", "Binding", ("create",)),
                               _sub("log", "Pod", ("get",)),
                               _sub("exec", "PodExecOptions", ("create", "get")),
                               _sub("portforward", "PodPortForwardOptions", ("create", "get")),
                               Subresource("eviction", "Eviction", ("create",), "policy", "v1")),
                 has_status=True),
    ResourceInfo("", "v1", "services", "Service", "service", True, ("svc",), ("all",),
                 subresources=(STATUS,), has_status=True),
    ResourceInfo("", "v1", "endpoints", "Endpoints", "endpoints", True, ("ep",)),
    ResourceInfo("", "v1", "events", "Event", "event", True, ("ev",)),
    ResourceInfo("", "v1", "configmaps", "ConfigMap", "configmap", True, ("cm",)),
    ResourceInfo("", "v1", "secrets", "Secret", "secret", True),
    ResourceInfo("", "v1", "serviceaccounts", "ServiceAccount", "serviceaccount", True, ("sa",)),
    ResourceInfo("apps", "v1", "deployments", "Deployment", "deployment", True, ("deploy",), ("all",),
                 subresources=(SCALE, STATUS), has_status=True),
    ResourceInfo("apps", "v1", "replicasets", "ReplicaSet", "replicaset", True, ("rs",), ("all",),
                 subresources=(SCALE, STATUS), has_status=True),
    ResourceInfo("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", "endpointslice", True),
    ResourceInfo("coordination.k8s.io", "v1", "leases", "Lease", "lease", True),
    ResourceInfo("rbac.authorization.k8s.io", "v1", "roles", "Role", "role", True),
    ResourceInfo("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", "rolebinding", True),
    ResourceInfo("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", "clusterrole", False),
    ResourceInfo("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding",
                 "clusterrolebinding", False),
    # Not stored: the API server answers a review at once (controlplane/auth/review.py).
    ResourceInfo("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview",
                 "selfsubjectaccessreview", False, verbs=("create",)),
    ResourceInfo("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview",
                 "selfsubjectrulesreview", False, verbs=("create",)),
    ResourceInfo("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview",
                 "selfsubjectreview", False, verbs=("create",)),
)

_BY_PATH = {(r.group, r.version, r.resource): r for r in RESOURCES}
_BY_KIND = {(r.group, r.kind): r for r in RESOURCES}


def lookup(group: str, version: str, resource: str) -> ResourceInfo | None:
    return _BY_PATH.get((group, version, resource))


def by_kind(api_version: str, kind: str) -> ResourceInfo | None:
    """The resource for an object's apiVersion and kind (None when not served)."""
    group, _, version = api_version.rpartition("/")
    info = _BY_KIND.get((group, kind))
    if info is None or info.version != version:
        return None
    return info


def by_resource_name(name: str) -> ResourceInfo | None:
    """Resolve what a user types (`deploy`, `pods`, `Deployment`, `deployments.apps`)."""
    lowered = name.lower()
    base, _, group = lowered.partition(".")
    for r in RESOURCES:
        if group and r.group != group and r.group.split(".")[0] != group:
            continue
        if base in (r.resource, r.singular, r.kind.lower()) or base in r.short_names:
            return r
    return None


def group_versions() -> list[tuple[str, str]]:
    """Every (group, version) served, core first."""
    seen: list[tuple[str, str]] = []
    for r in RESOURCES:
        if (r.group, r.version) not in seen:
            seen.append((r.group, r.version))
    return seen


def in_group_version(group: str, version: str) -> list[ResourceInfo]:
    return [r for r in RESOURCES if r.group == group and r.version == version]
