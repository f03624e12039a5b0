"""PATCH: JSON patch, merge patch, strategic merge patch and server-side apply."""

from __future__ import annotations

from typing import Any, Callable

from aiohttp import web

from ..machinery import apply as ssa
from ..machinery import meta as m
from ..machinery.patch import PatchError, json_merge_patch, json_patch, strategic_merge_patch
from . import errors, request as req
from .paths import Target
from .responses import check_kind, json_response
from .scale import replicas_of, set_replicas, to_scale
from .options import WriteOptions
from ..resources.registry import ResourceInfo
from .storage import ObjectStore

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
SUPPORTED = (JSON_PATCH, MERGE_PATCH, STRATEGIC, APPLY)


def _patcher(ctype: str, body: Any, kind: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    # In place: the store hands the mutator its own copy of the object (and a scale is built fresh).
    if ctype == JSON_PATCH:
        if not isinstance(body, list):
            raise errors.bad_request("a JSON patch must be a list of operations")
        return lambda obj: json_patch(obj, body, in_place=True)
    if not isinstance(body, dict):
        raise errors.bad_request("a merge patch must be a JSON object")
    if ctype == MERGE_PATCH:
        return lambda obj: json_merge_patch(obj, body, in_place=True)
    return lambda obj: strategic_merge_patch(obj, body, kind, in_place=True)


async def patch(objects: ObjectStore, request: web.Request, target: Target,
                subresource: str = "") -> web.Response:
    ctype = request.content_type
    if ctype not in SUPPORTED:
        raise errors.ApiError(415, f"the body of the request was in an unknown format - accepted "
                                   f"media types include: {', '.join(SUPPORTED)}", "UnsupportedMediaType")
    body = await req.read_body(request)
    opts = req.write_options(request)
    if ctype == APPLY:
        if subresource:
            raise errors.method_not_allowed("PATCH (apply)", target.describe)
        return await server_side_apply(objects, request, target, body, opts)
    info = target.info
    mutate, wanted_rv = patcher(info, ctype, body, subresource)
    obj = await objects.guaranteed_update(info, target.namespace, target.name, mutate, opts,
                                            subresource="status" if subresource == "status" else "",
                                            precondition_rv=wanted_rv)
    if subresource == "scale":
        return json_response(to_scale(info, obj), warnings=opts.warnings)
    return json_response(obj, warnings=opts.warnings)


def patcher(info: ResourceInfo, ctype: str, body: Any,
            subresource: str = "") -> tuple[Callable[[dict[str, Any]], dict[str, Any]], str]:
    """The mutation a (non-apply) patch makes, and the resourceVersion it is pinned to ('': none)."""
    if ctype == STRATEGIC and info.custom and subresource != "scale":
        raise errors.ApiError(415, "the body of the request was in an unknown format - accepted media types "
                                   f"include: {JSON_PATCH}, {MERGE_PATCH}, {APPLY}", "UnsupportedMediaType")
    kind = "Scale" if subresource == "scale" else info.kind
    apply_patch = _patcher(ctype, body, kind)
    wanted_rv = ""
    if isinstance(body, dict):
        wanted_rv = str((body.get("metadata") or {}).get("resourceVersion") or "")

    def mutate(obj: dict[str, Any]) -> dict[str, Any]:
        try:
            if subresource == "scale":
                return set_replicas(info, obj, replicas_of(apply_patch(to_scale(info, obj))))
            patched = apply_patch(obj)
        except PatchError as exc:
            raise errors.ApiError(422 if ctype == JSON_PATCH else 400, str(exc)) from None
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch must leave an object")
        return patched

    return mutate, wanted_rv


async def server_side_apply(objects: ObjectStore, request: web.Request, target: Target, body: Any,
                            opts: WriteOptions) -> web.Response:
    if not isinstance(body, dict):
        raise errors.bad_request("an apply patch must be a YAML or JSON object")
    info = target.info
    check_kind(info, body)
    body_md = body.get("metadata") or {}
    if body_md.get("name") and body_md["name"] != target.name:
        raise errors.bad_request(f'the name of the object ({body_md["name"]}) does not match the name '
                                 f"on the URL ({target.name})")
    if not request.query.get("fieldManager"):
        raise errors.bad_request("PATCH with apply requires a fieldManager query parameter")
    force = req._bool(request.query.get("force"))
    manager = opts.field_manager

    def applied(live: dict[str, Any] | None) -> dict[str, Any]:
        try:
            return ssa.server_side_apply(live, m.deep_copy(body), manager, force=force, kind=info.kind,
                                         api_version=info.api_version, now=m.now_rfc3339())
        except ssa.ApplyConflict as exc:
            raise errors.ApiError(409, exc.message(), "Conflict",
                                  {"name": target.name, "kind": info.resource, "group": info.group,
                                   "causes": exc.causes()}) from None

    try:
        objects.get(info, target.namespace, target.name)
        exists = True
    except errors.ApiError:
        exists = False
    if not exists:
        obj = applied(None)
        obj.setdefault("metadata", {})["name"] = target.name
        try:
            created = await objects.create(info, target.namespace, obj, _as_apply(opts))
            return json_response(created, 201, opts.warnings)
        except errors.ApiError as exc:
            if exc.reason != "AlreadyExists":
                raise
    obj = await objects.guaranteed_update(info, target.namespace, target.name, applied, _as_apply(opts),
                                            operation="Apply")
    return json_response(obj, 200, opts.warnings)


def _as_apply(opts: WriteOptions) -> WriteOptions:
    # Ownership was already recorded by the apply itself; the store must not add an Update entry.
    opts.field_manager = ""
    return opts
