"""Discovery: /version, /api, /apis and the per-group-version resource lists.

Both plain discovery and the aggregated form (apidiscovery.k8s.io/v2) are served; kubectl
asks for the aggregated one and so needs only two requests per command.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..resources import registry
from ..resources.registry import ResourceInfo

VERSION = {
    "major": "1", "minor": "37", "gitVersion": "v1.37.0-pyctl", "gitCommit": "pyctl",
    "gitTreeState": "clean", "buildDate": "2026-11-27T00:00:00Z", "goVersion": "python3",
    "compiler": "cpython", "platform": "linux/amd64",
}
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def _json(obj: Any, content_type: str = "application/json") -> web.Response:
    resp = web.Response(body=json.dumps(obj).encode())
    resp.headers["Content-Type"] = content_type
    return resp


def _wants_aggregated(request: web.Request) -> bool:
    return "as=APIGroupDiscoveryList" in request.headers.get("Accept", "")


def _resource_entries(info: ResourceInfo) -> list[dict[str, Any]]:
    entries = [{
        "name": info.resource, "singularName": info.singular, "namespaced": info.namespaced,
        "kind": info.kind, "verbs": list(info.verbs),
        **({"shortNames": list(info.short_names)} if info.short_names else {}),
        **({"categories": list(info.categories)} if info.categories else {}),
    }]
    for sub in info.subresources:
        entry = {"name": f"{info.resource}/{sub.name}", "singularName": "", "namespaced": info.namespaced,
                 "kind": sub.kind or info.kind, "verbs": list(sub.verbs)}
        if sub.group is not None:
            entry.update(group=sub.group, version=sub.version)
        entries.append(entry)
    return entries


def _aggregated_resource(info: ResourceInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resource": info.resource,
        "responseKind": {"group": info.group, "version": info.version, "kind": info.kind},
        "scope": "Namespaced" if info.namespaced else "Cluster",
        "singularResource": info.singular, "verbs": list(info.verbs),
    }
    if info.short_names:
        out["shortNames"] = list(info.short_names)
    if info.categories:
        out["categories"] = list(info.categories)
    if info.subresources:
        out["subresources"] = [{
            "subresource": s.name,
            "responseKind": {"group": s.group if s.group is not None else info.group,
                             "version": s.version or info.version, "kind": s.kind or info.kind},
            "verbs": list(s.verbs)} for s in info.subresources]
    return out


def _aggregated(groups: list[str]) -> dict[str, Any]:
    items = []
    for group in groups:
        versions = [v for g, v in registry.group_versions() if g == group]
        items.append({
            "metadata": {"name": group} if group else {},
            "versions": [{"version": v, "freshness": "Current",
                          "resources": [_aggregated_resource(r) for r in registry.in_group_version(group, v)]}
                         for v in versions]})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {}, "items": items}


def _named_groups() -> list[str]:
    seen: list[str] = []
    for g, _ in registry.group_versions():
        if g and g not in seen:
            seen.append(g)
    return seen


async def version(request: web.Request) -> web.Response:
    return _json(VERSION)


async def api_root(request: web.Request) -> web.Response:
    if _wants_aggregated(request):
        return _json(_aggregated([""]), AGGREGATED)
    host = request.host or "127.0.0.1"
    return _json({"kind": "APIVersions", "versions": ["v1"],
                  "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]})


async def apis_root(request: web.Request) -> web.Response:
    if _wants_aggregated(request):
        return _json(_aggregated(_named_groups()), AGGREGATED)
    groups = []
    for group in _named_groups():
        versions = [{"groupVersion": f"{group}/{v}", "version": v}
                    for g, v in registry.group_versions() if g == group]
        groups.append({"name": group, "versions": versions, "preferredVersion": versions[0]})
    return _json({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})


async def group(request: web.Request) -> web.Response:
    name = request.match_info["group"]
    versions = [{"groupVersion": f"{name}/{v}", "version": v}
                for g, v in registry.group_versions() if g == name]
    if not versions:
        raise web.HTTPNotFound()
    return _json({"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": versions,
                  "preferredVersion": versions[0]})


def _resource_list(group: str, version: str) -> web.Response:
    infos = registry.in_group_version(group, version)
    if not infos:
        raise web.HTTPNotFound()
    resources = [e for info in infos for e in _resource_entries(info)]
    gv = f"{group}/{version}" if group else version
    return _json({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                  "resources": resources})


async def core_resources(request: web.Request) -> web.Response:
    if request.match_info["version"] != "v1":
        raise web.HTTPNotFound()
    return _resource_list("", "v1")


async def group_resources(request: web.Request) -> web.Response:
    return _resource_list(request.match_info["group"], request.match_info["version"])


def add_routes(app: web.Application) -> None:
    app.router.add_get("/version", version)
    app.router.add_get("/version/", version)
    app.router.add_get("/api", api_root)
    app.router.add_get("/api/", api_root)
    app.router.add_get("/apis", apis_root)
    app.router.add_get("/apis/", apis_root)
    app.router.add_get("/api/{version}", core_resources)
    app.router.add_get("/apis/{group}", group)
    app.router.add_get("/apis/{group}/{version}", group_resources)
