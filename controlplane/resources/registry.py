"""The table of kinds the API serves: the built-in ones and those registered at run time (CRDs).

Everything that needs to know "what is a deployment" (routing, discovery, OpenAPI, the store's
key layout, validation, Tables) asks this table. Lookups by URL path and by apiVersion/kind are
dictionary reads: they happen on every request.
"""

from __future__ import annotations

from typing import Any, Iterable

from .info import ALL_VERBS, SCALE, STATUS, ResourceInfo, Subresource  # noqa: F401  (re-exported)
from .kind import Kind
from .kinds import BODIES, BUILTIN


class Registry:
    """Kinds by URL path and by (group, kind); served kinds in discovery order."""

    def __init__(self, kinds: Iterable[Kind] = (), bodies: Iterable[Kind] = ()) -> None:
        self._served: list[Kind] = []
        self._by_path: dict[tuple[str, str, str], Kind] = {}
        self._by_kind: dict[tuple[str, str, str], Kind] = {}  # (group, version, kind)
        self.generation = 0  # changes with every (un)registration: memos of lookups compare it
        for kind in kinds:
            self.register(kind)
        for body in bodies:
            self._by_kind[_kind_key(body.info)] = body

    def register(self, kind: Kind) -> None:
        """Serve `kind` (replacing a kind at the same path)."""
        info = kind.info
        old = self._by_path.get(_path_key(info))
        if old is not None:
            self.unregister(old.info)
        self._served.append(kind)
        self._by_path[_path_key(info)] = kind
        self._by_kind[_kind_key(info)] = kind
        self.generation += 1

    def unregister(self, info: ResourceInfo) -> None:
        kind = self._by_path.pop(_path_key(info), None)
        if kind is not None:
            self.generation += 1
            self._served.remove(kind)
            if self._by_kind.get(_kind_key(info)) is kind:
                del self._by_kind[_kind_key(info)]

    def kinds(self) -> list[Kind]:
        return list(self._served)

    def lookup(self, group: str, version: str, resource: str) -> ResourceInfo | None:
        kind = self._by_path.get((group, version, resource))
        return kind.info if kind is not None else None

    def kind(self, info: ResourceInfo) -> Kind:
        """The Kind of a served resource (KeyError if it is not served)."""
        return self._by_path[_path_key(info)]

    def for_type(self, api_version: str, kind: str) -> Kind | None:
        """The Kind an object's apiVersion and kind name, served or a subresource body; else None."""
        group, _, version = api_version.rpartition("/")
        return self._by_kind.get((group, version, kind))


def _path_key(info: ResourceInfo) -> tuple[str, str, str]:
    return info.group, info.version, info.resource


def _kind_key(info: ResourceInfo) -> tuple[str, str, str]:
    return info.group, info.version, info.kind


REGISTRY = Registry(BUILTIN, BODIES)
"""This process's registry: the built-in kinds, plus what the API server registers (CRDs)."""


def lookup(group: str, version: str, resource: str) -> ResourceInfo | None:
    return REGISTRY.lookup(group, version, resource)


def kind_of(info: ResourceInfo) -> Kind:
    return REGISTRY.kind(info)


def for_object(obj: Any) -> Kind | None:
    """The Kind named by an object's apiVersion and kind, if this server knows it."""
    if not isinstance(obj, dict):
        return None
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return None
    return REGISTRY.for_type(api_version, kind)


def by_kind(api_version: str, kind: str) -> ResourceInfo | None:
    """The resource for an object's apiVersion and kind (None when not served)."""
    found = REGISTRY.for_type(api_version, kind)
    return found.info if found is not None and found.served else None


def by_resource_name(name: str) -> ResourceInfo | None:
    """Resolve what a user types (`deploy`, `pods`, `Deployment`, `deployments.apps`)."""
    lowered = name.lower()
    base, _, group = lowered.partition(".")
    for kind in REGISTRY.kinds():
        r = kind.info
        if group and r.group != group and r.group.split(".")[0] != group:
            continue
        if base in (r.resource, r.singular, r.kind.lower()) or base in r.short_names:
            return r
    return None


def resources() -> list[ResourceInfo]:
    """Every served resource, in discovery order."""
    return [k.info for k in REGISTRY.kinds()]


def group_versions() -> list[tuple[str, str]]:
    """Every (group, version) served, core first."""
    seen: list[tuple[str, str]] = []
    for r in resources():
        if (r.group, r.version) not in seen:
            seen.append((r.group, r.version))
    return seen


def in_group_version(group: str, version: str) -> list[ResourceInfo]:
    return [r for r in resources() if r.group == group and r.version == version]
