"""What names a resource on the wire: group, version, plural, kind, scope, subresources.

A `ResourceInfo` is the descriptor routing, discovery, the store's key layout and clients
work from; everything else the server knows about a kind is on its `Kind` (kind.py).
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


def subresource(name: str, kind: str, verbs: tuple[str, ...]) -> Subresource:
    return Subresource(name, kind, verbs)


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
    # Served from a CustomResourceDefinition: stored under its group, no strategic merge patch.
    custom: bool = False
    # Field selector labels beyond metadata.name/namespace (a CRD's selectableFields: `spec.color`).
    selectable_fields: tuple[str, ...] = ()

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
