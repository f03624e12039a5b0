"""POST /internal/batch: many writes in one request, stored in as few etcd transactions as
etcd takes, each with its own answer (as SwarmKit's dispatcher batches task updates).

The control-plane components write per pod a binding, several status reports and Events;
as single requests each is an HTTP round trip and an etcd transaction. A batch carries them
as items, each a request in miniature:

    {"items": [{"method": "POST", "path": "/api/v1/namespaces/ns/pods/p/binding", "body": {...}},
               {"method": "PATCH", "path": "/api/v1/namespaces/ns/pods/p/status",
                "contentType": "application/strategic-merge-patch+json", "body": {...}},
               {"method": "POST", "path": "/api/v1/namespaces/ns/events", "body": {...}}]}

and the answer has one result per item, in order: {"code": 201, "resourceVersion": "42"}
(a create also names what it created: "name"), or {"code": 409, "status": {metav1.Status}}.
Each item goes through what the same single request does: the caller must be authorised for
its verb on its resource (a refused item is its own 403), then ObjectStore's defaulting,
validation, admission and managed fields. Items are prepared from the watch cache, as a
single update's first try is, and committed together, each under its own compare-and-swap
(store/multitxn.py): a stale or refused item fails alone, none is ever half written. An item the batch cannot prepare (not cached, a second write of
the same object, a dry run, a kind stored as several keys) or whose compare-and-swap found the
cache stale goes through the single-request path, which retries from etcd.

Query parameters (fieldManager, fieldValidation, dryRun) apply to every item. Supported:
POST (create; the pods/binding subresource), PUT and PATCH (not apply) of objects and of
their status. Another method is that item's 405.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import unquote

from aiohttp import web

from ..machinery import meta as m
from ..store import StoreError
from . import errors, patching, request as req
from .access import attributes, authorizer as authz
from .access.middleware import BATCH_PATH, USER_KEY
from .options import WriteOptions
from .paths import Target, parse
from .prepared import Prepared
from .responses import check_kind, json_response
from .storage import ObjectStore
from .subresources import binder

log = logging.getLogger(__name__)

MAX_ITEMS = 2000
"""Items one batch may carry: bounds one request's work (the body limit bounds its bytes)."""
_PATCHES = (patching.JSON_PATCH, patching.MERGE_PATCH, patching.STRATEGIC)


@dataclass
class Item:
    """One item, understood: what it writes and how."""

    target: Target
    method: str
    path: str
    body: Any
    opts: WriteOptions
    mutate: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # updates
    subresource: str = ""  # the store's: "status", "binding" or ""
    precondition_rv: str = ""
    code: int = 200


def _plan(raw: Any, base: WriteOptions) -> Item:
    """An item's request, checked as its single request would be; ApiError otherwise."""
    if not isinstance(raw, dict):
        raise errors.bad_request("a batch item must be an object")
    method, path, body = raw.get("method"), raw.get("path"), raw.get("body")
    if not isinstance(method, str) or not isinstance(path, str):
        raise errors.bad_request("a batch item needs a method and a path")
    path = unquote(path)  # as aiohttp gives request.path
    target = parse(path)
    if target.watch:
        raise errors.method_not_allowed(method, target.describe)
    if not isinstance(body, (dict, list)):
        raise errors.bad_request("a batch item's body must be an object (or a JSON patch's list)")
    item = Item(target, method, path, body, dataclasses.replace(base, warnings=[]))
    sub = target.subresource
    if method == "POST" and not target.name and not sub:
        check_kind(target.info, _object(body))
        item.code = 201
    elif method == "POST" and sub == "binding" and target.name:
        item.mutate, item.subresource, item.code = binder(target, _object(body)), "binding", 201
    elif method == "PUT" and target.name and sub in ("", "status"):
        obj = _object(body)
        check_kind(target.info, obj)
        md = m.meta(obj)
        if md.get("name") and md["name"] != target.name:
            raise errors.bad_request(f'the name of the object ({md["name"]}) does not match the '
                                     f'name on the URL ({target.name})')
        item.mutate, item.subresource = (lambda current: m.deep_copy(obj)), sub
        item.precondition_rv = md.get("resourceVersion") or ""
    elif method == "PATCH" and target.name and sub in ("", "status"):
        ctype = raw.get("contentType") or patching.STRATEGIC
        if ctype not in _PATCHES:
            raise errors.ApiError(415, f"a batch item's patch must be one of {', '.join(_PATCHES)}",
                                  "UnsupportedMediaType")
        item.mutate, item.precondition_rv = patching.patcher(target.info, ctype, body, sub)
        item.subresource = sub
    else:
        raise errors.method_not_allowed(method, target.describe)
    return item


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise errors.bad_request(f"the request body must be an object, not {type(body).__name__}")
    return body


async def _prepare(objects: ObjectStore, item: Item) -> Prepared | None:
    t = item.target
    if item.mutate is None:
        return await objects.prepare_create(t.info, t.namespace, item.body, item.opts)
    return await objects.prepare_update(t.info, t.namespace, t.name, item.mutate, item.opts,
                                        subresource=item.subresource, precondition_rv=item.precondition_rv)


async def _single(objects: ObjectStore, item: Item) -> dict[str, Any]:
    """The item as its own request would store it."""
    t = item.target
    if item.mutate is None:
        return await objects.create(t.info, t.namespace, item.body, item.opts)
    return await objects.guaranteed_update(t.info, t.namespace, t.name, item.mutate, item.opts,
                                           subresource=item.subresource, precondition_rv=item.precondition_rv)


def _done(item: Item, obj: dict[str, Any]) -> dict[str, Any]:
    md = obj.get("metadata") or {}
    out: dict[str, Any] = {"code": item.code, "resourceVersion": md.get("resourceVersion", "")}
    if item.mutate is None:  # a create: the name the server gave (generateName)
        out["name"] = md.get("name", "")
    if item.opts.warnings:
        out["warnings"] = item.opts.warnings
    return out


def _failed(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, errors.ApiError):
        err = exc
    elif isinstance(exc, StoreError):
        err = errors.from_store(exc)
    else:
        log.error("batch item failed", exc_info=exc)
        err = errors.internal(exc)
    return {"code": err.code, "status": err.status()}


async def execute(objects: ObjectStore, raw_items: list[Any], base: WriteOptions,
                  allowed: Callable[[Item], errors.ApiError | None]) -> list[dict[str, Any]]:
    """Every item's result, in order (see the module's doc)."""
    results: list[dict[str, Any] | None] = [None] * len(raw_items)
    items: list[Item | None] = [None] * len(raw_items)
    batched: list[tuple[int, Item, Prepared]] = []
    single: list[int] = []
    keys: set[str] = set()
    for i, raw in enumerate(raw_items):
        try:
            item = items[i] = _plan(raw, base)
            refused = allowed(item)
            if refused is not None:
                raise refused
            t = item.target
            key = objects.key(t.info, t.namespace, t.name) if t.name else ""
            if not objects.batchable(t.info) or key in keys:
                single.append(i)  # after the batch, in order: a second write of one object follows the first
                if key:
                    keys.add(key)
                continue
            prepared = await _prepare(objects, item)
            if prepared is None:
                single.append(i)
                if key:
                    keys.add(key)
            elif prepared.key in keys:  # a create of a name an earlier item creates
                raise errors.already_exists(t.info, prepared.name)
            else:
                keys.add(prepared.key)
                batched.append((i, item, prepared))
        except Exception as exc:  # this item's answer, whatever it is: the others go on
            results[i] = _failed(exc)
    if batched:
        try:
            answers = await objects.commit([p for _, _, p in batched])
        except Exception as exc:  # not an item's own failure (those are answers): every item's
            failed = _failed(exc)
            for i, _, _ in batched:
                results[i] = failed
            answers = []
        for (i, item, _), answer in zip(batched, answers):
            if answer is None:
                single.append(i)  # the cache was stale: the single path reads etcd
            elif isinstance(answer, errors.ApiError):
                results[i] = _failed(answer)
            else:
                results[i] = _done(item, answer)
    for i in sorted(single):  # in order: two writes of one object land as sent
        queued = items[i]
        assert queued is not None
        try:
            results[i] = _done(queued, await _single(objects, queued))
        except Exception as exc:
            results[i] = _failed(exc)
    return [r for r in results if r is not None]


def _authorizer(request: web.Request) -> Callable[[Item], errors.ApiError | None]:
    """Whether the caller may make an item's write, as if it were its own request."""
    decider = request.app[authz.AUTHORIZER]
    user = request.get(USER_KEY)
    if user is None or isinstance(decider, authz.AlwaysAllow):
        return lambda item: None

    def allowed(item: Item) -> errors.ApiError | None:
        attrs = attributes.from_request(user, item.method, item.path, {})
        if not decider.allowed(attrs):
            return authz.forbidden(attrs)
        item.opts.user = user  # admission checks RBAC escalation against it
        return None

    return allowed


def add_routes(app: web.Application, objects: Callable[[], ObjectStore]) -> None:
    async def batch(request: web.Request) -> web.Response:
        body = await req.read_object(request)
        raw_items = body.get("items")
        if not isinstance(raw_items, list):
            raise errors.bad_request("a batch needs items: a list of writes")
        if len(raw_items) > MAX_ITEMS:
            raise errors.ApiError(413, f"a batch may carry at most {MAX_ITEMS} items, not {len(raw_items)}")
        results = await execute(objects(), raw_items, req.write_options(request), _authorizer(request))
        return json_response({"kind": "BatchResult", "apiVersion": "pyctl.io/internal", "items": results})

    app.router.add_post(BATCH_PATH, batch)
