"""Parsing Kubernetes URL paths into (resource, namespace, name, subresource)."""

from __future__ import annotations

from dataclasses import dataclass

from ..resources import registry
from ..resources.registry import ResourceInfo
from .errors import ApiError


@dataclass(frozen=True)
class Target:
    info: ResourceInfo
    namespace: str  # '' for cluster-scoped kinds or all-namespace collections
    name: str  # '' for collections
    subresource: str = ""
    watch: bool = False  # named with the legacy /watch/ prefix: a watch, as ?watch=1

    @property
    def describe(self) -> str:
        return "/".join(p for p in (self.info.resource, self.name, self.subresource) if p)


def _not_found() -> ApiError:
    return ApiError(404, "the server could not find the requested resource", "NotFound")


_MEMO_SIZE = 4096
_memo: dict[str, Target] = {}
_memo_generation = -1


def parse(path: str) -> Target:
    """The target of a resource path; ApiError (404) when it names nothing served. Remembered
    until the served kinds change: each request's path is parsed by the metrics, authorization
    and the handler, and a controller's requests repeat the same few paths."""
    global _memo_generation
    if _memo_generation != registry.REGISTRY.generation or len(_memo) >= _MEMO_SIZE:
        _memo.clear()
        _memo_generation = registry.REGISTRY.generation
    target = _memo.get(path)
    if target is None:
        target = _memo[path] = _parse(path)
    return target


def _parse(path: str) -> Target:
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise _not_found()
    watch = rest[:1] == ["watch"]
    if watch:
        rest = rest[1:]
    if not rest:
        raise _not_found()
    namespace = ""
    # /namespaces/{ns}/{resource}... unless {resource} is a namespace subresource (status, finalize).
    if rest[0] == "namespaces" and len(rest) >= 3 and registry.lookup(group, version, rest[2]):
        namespace, rest = rest[1], rest[2:]
    info = registry.lookup(group, version, rest[0])
    if info is None or len(rest) > 3:
        raise _not_found()
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if namespace and not info.namespaced:
        raise _not_found()
    if info.namespaced and name and not namespace:
        raise _not_found()
    if sub and info.subresource(sub) is None:
        raise _not_found()
    return Target(info, namespace, name, sub, watch)
