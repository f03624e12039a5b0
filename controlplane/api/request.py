"""Turning an HTTP request into what the handlers need: body, options, selectors, Accept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from ..machinery.selectors import SelectorError, parse_field_selector, parse_label_selector
from . import bodydecode, protobuf
from .errors import ApiError, bad_request
from .options import WriteOptions

MAX_BODY = 3 * 1024 * 1024  # kube-apiserver's limit for a request body
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
ACCEPTED = f"application/json, application/yaml, {protobuf.MEDIA_TYPE}"


def too_large() -> ApiError:
    return ApiError(413, f"request entity too large: limit is {MAX_BODY} bytes")


async def read_raw(request: web.Request) -> bytes:
    """The whole body, however many TCP segments (or chunks) it came in; 413 past MAX_BODY."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise too_large()
    parts: list[bytes] = []
    size = 0
    while True:
        # read(n) returns what has arrived so far (at most n): loop until the end of the body.
        part = await request.content.read(MAX_BODY + 1 - size)
        if not part:
            return b"".join(parts)
        parts.append(part)
        size += len(part)
        if size > MAX_BODY:
            raise too_large()


def body_type(request: web.Request) -> str:
    """'json', 'yaml' or 'protobuf' by Content-Type; 415 for anything else.

    No Content-Type at all is JSON: the official Python client sends POST and PUT without one."""
    if not request.headers.get("Content-Type", "").strip():
        return "json"
    ctype = request.content_type
    if ctype == protobuf.MEDIA_TYPE:  # kubectl's typed commands (create deployment, expose, ...)
        return "protobuf"
    if ctype == "application/json" or ctype.endswith("+json"):  # and the JSON patch types
        return "json"
    if ctype in YAML_TYPES or ctype.endswith("+yaml"):  # and apply-patch+yaml
        return "yaml"
    # client-go retries with JSON on 415 (after protobuf or CBOR); form posts, text and the
    # like are not objects at all, as kube-apiserver says.
    raise ApiError(415, f"the body of the request was in an unknown format - accepted media types "
                        f'include: {ACCEPTED} (got "{ctype}")', "UnsupportedMediaType")


async def read_body(request: web.Request) -> Any:
    """The decoded JSON or YAML body; a precise 400/413/415 for anything else."""
    kind = body_type(request)
    raw = await read_raw(request)
    if not raw.strip():
        raise bad_request("the request body is empty; send a JSON or YAML object")
    if kind == "protobuf":
        return decode_protobuf(raw)
    return await decode_text(raw, yaml_ok=kind == "yaml")


async def decode_text(raw: bytes, *, yaml_ok: bool) -> Any:
    """A JSON (or YAML) body's value; 400 naming what is wrong with it."""
    what = "YAML" if yaml_ok else "JSON"
    try:
        return await bodydecode.decode(raw, yaml_ok=yaml_ok)
    except bodydecode.Refused as exc:
        raise bad_request(f"the request body is refused: {exc}") from None
    except (ValueError, yaml.YAMLError) as exc:
        # The Python client sends JSON without a Content-Type; accept YAML only when declared.
        raise bad_request(f"the request body is not valid {what}: {exc}") from None


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


def list_options(request: web.Request, resource: str, name: str = "",
                 selectable: tuple[str, ...] = ()) -> ListOptions:
    """The options of a list or watch; `name` narrows it to one object (a /watch/ path's).
    `resource` names the field selectors' contract (parse_field_selector), `selectable` adds
    field labels (a CRD's selectableFields)."""
    q = request.query
    opts = ListOptions()
    fields = ",".join(f for f in (q.get("fieldSelector"), f"metadata.name={name}" if name else "") if f)
    try:
        if q.get("labelSelector"):
            opts.label = parse_label_selector(q["labelSelector"])
        if fields:
            opts.field = parse_field_selector(fields, resource, selectable)
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
                if value < 0:
                    raise bad_request(f"limit: Invalid value: {value}: must be greater than or equal to 0")
                opts.limit = value
            else:
                opts.timeout_seconds = max(value, 0)
    resource_version(opts.resource_version)
    return opts


UINT64_MAX = 2 ** 64 - 1


def resource_version(value: str) -> int:
    """A resourceVersion parameter as a number (0 for "" and "0"); 400 with kube's wording
    (it parses them with Go's strconv.ParseUint) for anything else."""
    if value in ("", "0"):
        return 0
    if not value.isascii() or not value.isdigit():
        raise bad_request(f'resourceVersion: Invalid value: "{value}": strconv.ParseUint: '
                          f'parsing "{value}": invalid syntax')
    number = int(value)
    if number > UINT64_MAX:
        raise bad_request(f'resourceVersion: Invalid value: "{value}": strconv.ParseUint: '
                          f'parsing "{value}": value out of range')
    return number


def selects_all(opts: ListOptions) -> bool:
    """No selector: every object matches, without looking at it (the watch cache's cold
    entries then need not be decoded)."""
    return opts.label is None and opts.field is None


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
