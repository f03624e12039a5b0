"""The OpenAPI v3 documents kubectl needs before `apply` / `create -f` with default flags.

One PATCH operation per kind carrying `x-kubernetes-group-version-kind` and a
`fieldValidation` parameter is enough: kubectl then leaves validation to the server
(`?fieldValidation=Strict`) instead of validating against a full schema client-side.
strategic-merge-patch is deliberately not listed: without full component schemas kubectl
falls back to its compiled-in patch metadata for built-in kinds, which matches ours.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

from aiohttp import web

from ..resources import registry

_PARAMS = [{"name": n, "in": "query", "schema": {"type": t}} for n, t in
           (("dryRun", "string"), ("fieldManager", "string"), ("fieldValidation", "string"),
            ("force", "boolean"))]


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


@lru_cache(maxsize=None)
def _document(group: str, version: str) -> bytes:
    paths: dict[str, Any] = {}
    for info in registry.in_group_version(group, version):
        base = "/" + _gv_path(group, version)
        path = f"{base}/namespaces/{{namespace}}/{info.resource}/{{name}}" if info.namespaced \
            else f"{base}/{info.resource}/{{name}}"
        paths[path] = {"patch": {
            "operationId": f"patch{info.kind}", "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": info.kind},
            "parameters": _PARAMS,
            "requestBody": {"required": True, "content": {
                "application/json-patch+json": {"schema": {"type": "object"}},
                "application/merge-patch+json": {"schema": {"type": "object"}},
                "application/apply-patch+yaml": {"schema": {"type": "object"}}}},
            "responses": {"200": {"description": "OK"}}}}
    doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.37.0"},
           "components": {"schemas": {}}, "paths": paths}
    return json.dumps(doc).encode()


def _hash(group: str, version: str) -> str:
    return hashlib.sha256(_document(group, version)).hexdigest()[:16].upper()


async def root(request: web.Request) -> web.Response:
    paths = {_gv_path(g, v): {"serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}?hash={_hash(g, v)}"}
             for g, v in registry.group_versions()}
    return web.json_response({"paths": paths})


async def group_version(request: web.Request) -> web.Response:
    tail = request.match_info["tail"].strip("/").split("/")
    if tail[:1] == ["api"] and len(tail) == 2:
        group, version = "", tail[1]
    elif tail[:1] == ["apis"] and len(tail) == 3:
        group, version = tail[1], tail[2]
    else:
        raise web.HTTPNotFound()
    if not registry.in_group_version(group, version):
        raise web.HTTPNotFound()
    return web.Response(body=_document(group, version), content_type="application/json")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/openapi/v3", root)
    app.router.add_get("/openapi/v3/{tail:.+}", group_version)
