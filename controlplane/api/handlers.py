"""The REST verbs on objects and collections: get, list, create, update, patch, delete."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import replace
from typing import Any, Sequence

from aiohttp import web

from ..machinery import jsonio
from ..resources import registry, tables
from ..resources.registry import ResourceInfo
from ..resources.versions import converted
from ..store import Compacted, keys
from . import errors, patching, request as req, subresources, watch
from .cache import CacheBehind, Entry, decode
from .paths import Target, parse
from .responses import as_version, check_kind, json_response, object_json, raw_json_response
from .storage import ObjectStore, stored_resource


class Handlers:
    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects
        self.cache = objects.cache

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        target = parse(request.path)
        method = request.method
        if target.subresource == "status":  # the object itself, with writes confined to status
            if method == "GET":
                return await self.get(request, target)
            if method == "PUT":
                return await self.update(request, target, subresource="status")
            if method == "PATCH":
                return await patching.patch(self.objects, request, target, subresource="status")
            raise errors.method_not_allowed(method, target.describe)
        if target.subresource:
            return await subresources.dispatch(self.objects, request, target)
        if target.watch and method == "GET":  # /watch/...: the collection, or one object of it
            opts = _list_options(request, target.info, name=target.name)
            return await watch.serve(self.objects, request, replace(target, name=""), opts)
        if not target.name:
            if method == "GET":
                opts = _list_options(request, target.info)
                if opts.watch:
                    return await watch.serve(self.objects, request, target, opts)
                return await self.list(request, target, opts)
            if method == "POST":
                return await self.create(request, target)
            if method == "DELETE":
                return await self.delete_collection(request, target)
        else:
            if method == "GET":
                return await self.get(request, target)
            if method == "PUT":
                return await self.update(request, target)
            if method == "PATCH":
                return await patching.patch(self.objects, request, target)
            if method == "DELETE":
                return await self.delete(request, target)
        raise errors.method_not_allowed(method, target.describe)

    # -- reads ------------------------------------------------------------------------

    def render(self, request: web.Request, info: ResourceInfo, entries: list[Entry],
               list_meta: dict[str, Any] | None) -> web.Response:
        """A list, a single object or a Table, as the Accept header asks."""
        version = req.table_version(request)
        if (view := converted(registry.kind_of(info))) is not None and not version:
            entries = [view_entry(e, view.from_storage) for e in entries]  # stored in another version
        if version:
            table = tables.table(registry.kind_of(info).printer,
                                 [as_version(e.obj, info.api_version) for e in entries],
                                 now=dt.datetime.now(dt.timezone.utc),
                                 include_object=req.include_object(request),
                                 resource_version=(list_meta or {}).get("resourceVersion", ""),
                                 api_version=f"meta.k8s.io/{version}")
            if list_meta and list_meta.get("continue"):
                table["metadata"]["continue"] = list_meta["continue"]
            return json_response(table)
        if list_meta is None:
            return raw_json_response(_encoded(entries[0], info.api_version))
        head = jsonio.dumps({"kind": f"{info.kind}List", "apiVersion": info.api_version,
                             "metadata": list_meta})
        # Each object is already encoded once in the cache: join, don't re-encode; and join
        # once more rather than add bytes (each + copied the whole body again: 3 ms a 3.6 MB list).
        v = info.api_version
        items = b",".join([_encoded(e, v) for e in entries])
        return raw_json_response(b"".join((head[:-1], b',"items":[', items, b"]}")))

    async def get(self, request: web.Request, target: Target) -> web.Response:
        await watch.await_revision(self.cache, req.resource_version(request.query.get("resourceVersion", "")))
        entry = self.objects.get(target.info, target.namespace, target.name)
        return self.render(request, target.info, [entry], None)

    async def list(self, request: web.Request, target: Target, opts: req.ListOptions) -> web.Response:
        if not opts.resource_version and not opts.continue_token:
            try:
                await self.cache.sync()  # no RV means "the latest": catch up with etcd first
            except CacheBehind:
                # etcd answers but the cache lags: the latest comes from etcd itself.
                return await self._page_at(request, target, opts, 0, "")
        elif not opts.continue_token:
            await watch.await_revision(self.cache, req.resource_version(opts.resource_version))
        list_rv = self.cache.revision
        start = ""
        if opts.continue_token:
            list_rv, start = _decode_continue(opts.continue_token)
            if list_rv != self.cache.revision and opts.limit:
                # Things changed since the first page: the rest comes from etcd at the first
                # page's revision, so the pages together are one consistent list.
                return await self._page_at(request, target, opts, list_rv, start)
        name = opts.field.exact_name() if opts.field is not None else None
        candidates: Sequence[Entry]
        if name:
            entry = self.cache.get(self.objects.key(target.info, target.namespace, name)) \
                if target.namespace or not target.info.namespaced else None
            candidates = [entry] if entry else [
                e for e in self.cache.list(stored_resource(target.info), target.namespace) if e.name == name]
        else:
            candidates = self.cache.list(stored_resource(target.info), target.namespace)
        everything = req.selects_all(opts)
        items = [e for e in candidates if e.key > start and (everything or req.matches(opts, e.obj))]
        list_meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
        if opts.limit and len(items) > opts.limit:
            items = items[: opts.limit]
            list_meta["continue"] = _encode_continue(list_rv, items[-1].key)
            list_meta["remainingItemCount"] = len(candidates) - len(items)
        return self.render(request, target.info, items, list_meta)

    async def _page_at(self, request: web.Request, target: Target, opts: req.ListOptions, rv: int,
                       start: str) -> web.Response:
        """A page of the list at revision `rv` (0: the latest), read from etcd."""
        prefix = keys.collection_prefix(stored_resource(target.info), target.namespace or None)
        items: list[Entry] = []
        after, more = start, True
        while more and (not opts.limit or len(items) <= opts.limit):  # one beyond says more follow
            try:
                kvs, read_at, more = await self.objects.store.list(
                    prefix, revision=rv, start=after + "\0" if after else None,
                    limit=max(opts.limit + 1, 100) if opts.limit else 0)
            except Compacted:
                raise errors.ApiError(410, CONTINUE_EXPIRED, "Expired") from None
            rv = rv or read_at  # later pages at the first one's revision
            for kv in kvs:
                after = kv.key
                entry = decode(kv.key, kv.value, kv.mod_revision)
                if req.matches(opts, entry.obj):
                    items.append(entry)
        list_meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if opts.limit and len(items) > opts.limit:
            items = items[: opts.limit]
            list_meta["continue"] = _encode_continue(rv, items[-1].key)
        return self.render(request, target.info, items, list_meta)

    # -- writes -------------------------------------------------------------------------

    async def create(self, request: web.Request, target: Target) -> web.Response:
        obj = await req.read_object(request)
        check_kind(target.info, obj)
        opts = req.write_options(request)
        created = await self.objects.create(target.info, target.namespace, obj, opts)
        return json_response(created, 201, opts.warnings)

    async def update(self, request: web.Request, target: Target, subresource: str = "") -> web.Response:
        obj = await req.read_object(request)
        check_kind(target.info, obj)
        opts = req.write_options(request)
        updated = await self.objects.update(target.info, target.namespace, target.name, obj, opts,
                                            subresource=subresource)
        return json_response(updated, 200, opts.warnings)

    async def delete(self, request: web.Request, target: Target) -> web.Response:
        options = await delete_options(request)
        opts = req.write_options(request, options)
        obj = await self.objects.delete(target.info, target.namespace, target.name, options, opts)
        return json_response(obj, 200)

    async def delete_collection(self, request: web.Request, target: Target) -> web.Response:
        opts = _list_options(request, target.info)
        options = await delete_options(request)
        wopts = req.write_options(request, options)
        await self.cache.sync()
        deleted = []
        for e in self.cache.list(stored_resource(target.info), target.namespace):
            if req.matches(opts, e.obj):
                try:
                    deleted.append(await self.objects.delete(target.info, e.namespace, e.name,
                                                             options, wopts))
                except errors.ApiError as exc:
                    if exc.code != 404:  # deleted meanwhile: that is what was asked
                        raise
        return json_response({"kind": f"{target.info.kind}List", "apiVersion": target.info.api_version,
                              "metadata": {"resourceVersion": str(self.cache.revision)},
                              "items": deleted})


def _list_options(request: web.Request, info: ResourceInfo, name: str = "") -> req.ListOptions:
    return req.list_options(request, info.group_resource, name=name, selectable=info.selectable_fields)


def _encoded(entry: Entry, api_version: str) -> bytes:
    """The entry's JSON as a client of `api_version` reads it (its object decoded only when that
    differs: see responses.object_json)."""
    if entry.api_version == api_version:
        return entry.json()
    return object_json(entry.obj, entry.json(), api_version)


def view_entry(entry: Entry, convert: Any) -> Entry:
    """The cache's entry as another version of its kind (a new Entry, encoded on its own)."""
    return Entry(entry.key, entry.resource, entry.namespace, entry.name, convert(entry.obj), entry.rev)


async def delete_options(request: web.Request) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if request.can_read_body:
        raw = await req.read_raw(request)
        if raw.strip() and request.content_type == req.protobuf.MEDIA_TYPE:  # typed clients
            options = req.decode_protobuf(raw)
        elif raw.strip():
            options = await req.decode_text(raw, yaml_ok=False)
            if not isinstance(options, dict):
                raise errors.bad_request("DeleteOptions must be an object")
    q = request.query
    if "gracePeriodSeconds" in q:
        try:
            options["gracePeriodSeconds"] = int(q["gracePeriodSeconds"])
        except ValueError:
            raise errors.bad_request("gracePeriodSeconds must be an integer") from None
    if q.get("propagationPolicy"):
        options["propagationPolicy"] = q["propagationPolicy"]
    policy = options.get("propagationPolicy")
    if policy not in (None, "Foreground", "Background", "Orphan"):
        raise errors.bad_request(f'propagationPolicy: Unsupported value: "{policy}": supported '
                                 'values: "Foreground", "Background", "Orphan"')
    return options


CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can start "
    "a new list without the continue parameter.")


def _encode_continue(rv: int, key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"rv": rv, "start": key}).encode()).decode()


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise errors.bad_request("continue: invalid value: the continue token is malformed") from None
