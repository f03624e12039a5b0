"""Turning an HTTP request into what the handlers need: body, options, selectors, Accept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from ..machinery import jsonio
from ..machinery.selectors import SelectorError, parse_field_selector, parse_label_selector
from . import protobuf
from .errors import ApiError, bad_request
from .options import WriteOptions

MAX_BODY = 3 * 1024 * 1024  # kube-apiserver's limit for a request body


async def read_body(request: web.Request) -> Any:
    """The decoded JSON or YAML body; a precise 400/413/415 for anything else."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(413, f"request entity too large: limit is {MAX_BODY} bytes")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise ApiError(413, f"request entity too large: limit is {MAX_BODY} bytes")
    if not raw.strip():
        raise bad_request("the request body is empty; send a JSON or YAML object")
    ctype = request.content_type or "application/json"
    if ctype == protobuf.MEDIA_TYPE:  # kubectl's typed commands (create deployment, expose, ...)
        return decode_protobuf(raw)
    if "protobuf" in ctype or "cbor" in ctype:
        # client-go retries with JSON on 415.
        raise ApiError(415, f'the body of the request was in an unknown format - accepted media types '
                            f'include: application/json, application/yaml, {protobuf.MEDIA_TYPE} '
                            f'(got "{ctype}")', "UnsupportedMediaType")
    try:
        if "yaml" in ctype:
            return yaml.safe_load(raw)
        return jsonio.loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        # The Python client sends JSON without a Content-Type; accept YAML only when declared.
        kind = "YAML" if "yaml" in ctype else "JSON"
        raise bad_request(f"the request body is not valid {kind}: {exc}") from None


def decode_protobuf(raw: bytes) -> dict[str, Any]:
    """The JSON form of a Kubernetes protobuf body; 415 for a kind without a table, else 400."""
    try:
        return protobuf.decode_object(raw)
    except protobuf.UnsupportedKind as exc:
        raise ApiError(415, f"the body of the request was in an unknown format: {exc}",
                       "UnsupportedMediaType") from None
    except protobuf.ProtoError as exc:
        raise bad_request(f"the protobuf request body cannot be decoded: {exc}") from None


async def read_object(request: web.Request) -> dict[str, Any]:
    body = await read_body(request)
    if not isinstance(body, dict):
        raise bad_request(f"the request body must be an object, not {type(body).__name__}")
    return body


AUTHORIZED_USER = web.RequestKey("pyctl.authorized_user", object)
"""Where the auth middleware keeps the user an enforcing authorizer admitted (unset: AlwaysAllow)."""


def write_options(request: web.Request, delete_options: dict[str, Any] | None = None) -> WriteOptions:
    """Options of a write; for DELETE, kubectl sends dryRun in the DeleteOptions body."""
    q = request.query
    dry = q.getall("dryRun", []) + list((delete_options or {}).get("dryRun") or [])
    for d in dry:
        if d != "All":
            raise bad_request(f'dryRun: Unsupported value: "{d}": supported values: "All"')
    validation = q.get("fieldValidation") or "Warn"
    if validation not in ("Strict", "Warn", "Ignore"):
        raise bad_request(f'fieldValidation: Unsupported value: "{validation}": supported values: '
                          '"Ignore", "Strict", "Warn"')
    manager = q.get("fieldManager") or _manager_from_agent(request.headers.get("User-Agent", ""))
    return WriteOptions(dry_run=bool(dry), field_manager=manager, field_validation=validation,
                        user=request.get(AUTHORIZED_USER))


def _manager_from_agent(agent: str) -> str:
    # As Kubernetes does: the user agent's product token names the field manager.
    return agent.split(" ", 1)[0][:128] if agent else "unknown"


@dataclass
class ListOptions:
    label: Any = None
    field: Any = None
    resource_version: str = ""
    limit: int = 0
    continue_token: str = ""
    watch: bool = False
    send_initial_events: bool | None = None
    allow_bookmarks: bool = False
    timeout_seconds: int = 0


def _bool(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


def list_options(request: web.Request, resource: str, name: str = "") -> ListOptions:
    """The options of a list or watch; `name` narrows it to one object (a /watch/ path's)."""
    q = request.query
    opts = ListOptions()
    fields = ",".join(f for f in (q.get("fieldSelector"), f"metadata.name={name}" if name else "") if f)
    try:
        if q.get("labelSelector"):
            opts.label = parse_label_selector(q["labelSelector"])
        if fields:
            opts.field = parse_field_selector(fields, resource)
    except SelectorError as exc:
        raise bad_request(str(exc)) from None
    opts.resource_version = q.get("resourceVersion", "")
    opts.continue_token = q.get("continue", "")
    opts.watch = _bool(q.get("watch"))
    if "sendInitialEvents" in q:
        opts.send_initial_events = _bool(q.get("sendInitialEvents"))
    opts.allow_bookmarks = _bool(q.get("allowWatchBookmarks"))
    for name in ("limit", "timeoutSeconds"):
        if q.get(name):
            try:
                value = int(q[name])
            except ValueError:
                raise bad_request(f"{name}: invalid value {q[name]!r}: must be an integer") from None
            if name == "limit":
                opts.limit = max(value, 0)
            else:
                opts.timeout_seconds = max(value, 0)
    if opts.resource_version and opts.resource_version != "0":
        try:
            int(opts.resource_version)
        except ValueError:
            raise bad_request(f'resourceVersion: Invalid value: "{opts.resource_version}": '
                              "must be an integer") from None
    return opts


def matches(opts: ListOptions, obj: dict[str, Any]) -> bool:
    if opts.label is not None and not opts.label.matches(obj.get("metadata", {}).get("labels")):
        return False
    return opts.field is None or opts.field.matches(obj)


def table_version(request: web.Request) -> str | None:
    """'v1' or 'v1beta1' when the client asked for server-side printing, else None."""
    for part in request.headers.get("Accept", "").split(","):
        params = dict(p.strip().split("=", 1) for p in part.split(";")[1:] if "=" in p)
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return params.get("v", "v1")
    return None


def include_object(request: web.Request) -> str:
    value = request.query.get("includeObject", "Metadata")
    if value not in ("None", "Metadata", "Object"):
        raise bad_request(f'includeObject: Unsupported value: "{value}": supported values: '
                          '"None", "Metadata", "Object"')
    return value
