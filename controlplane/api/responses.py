"""Successful responses, and the check that a request body is the kind its URL names."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..machinery import jsonio
from ..resources.info import ResourceInfo
from .errors import bad_request


def json_response(obj: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    resp = web.Response(status=status, body=jsonio.dumps(obj), content_type="application/json")
    for w in warnings or []:
        resp.headers.add("Warning", '299 - "%s"' % w.replace('"', '\\"'))
    return resp


def raw_json_response(body: bytes, status: int = 200) -> web.Response:
    """A body already encoded (the watch cache keeps each object's JSON)."""
    return web.Response(status=status, body=body, content_type="application/json")


def object_json(obj: dict[str, Any], encoded: bytes, api_version: str) -> bytes:
    """`obj` (whose JSON is `encoded`) as a client of `api_version` reads it.

    A CRD's versions share their objects, stored in one version: with the None conversion
    strategy a read through another version differs only in its apiVersion."""
    if obj.get("apiVersion") == api_version:
        return encoded
    return jsonio.dumps({**obj, "apiVersion": api_version})


def as_version(obj: dict[str, Any], api_version: str) -> dict[str, Any]:
    """`obj` with `api_version` (a copy of its top level when that changes it), as object_json."""
    return obj if obj.get("apiVersion") == api_version else {**obj, "apiVersion": api_version}


def check_kind(info: ResourceInfo, obj: dict[str, Any]) -> None:
    """The body must be the kind the URL names (or say nothing, as some clients do)."""
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if kind and kind != info.kind or api_version and api_version != info.api_version:
        raise bad_request(
            f"the body of the request was in an unknown format - accepted media types include: "
            f"application/json, application/yaml (expected {info.api_version} {info.kind}, got "
            f"{api_version or '?'} {kind or '?'})")
    obj["kind"], obj["apiVersion"] = info.kind, info.api_version
