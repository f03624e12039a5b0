"""Write semantics every kind shares, as kube's generic registry store has them.

create / update (compare-and-swap on resourceVersion) / guaranteed update (retry on
conflict) / delete (graceful for pods, finalizers, propagation) over the store, with
metadata bookkeeping, the spec/status split, generation, defaulting, validation and
dry run. Reads come from the watch cache; writes wait (a bounded time) until the cache has
seen them, so a client reads its own writes. A write etcd committed is never reported as
failed: when the cache is slow to see it, the answer is what was written, at etcd's
revision. The cache takes a written object as it is instead of decoding etcd's copy:
what create/update/delete return shares its parts with the cache, so callers read it
(and encode it), never change it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from .admission import hook as admission
from ..machinery import apply as ssa, jsonio, meta as m
from ..resources import registry
from ..resources.kind import Kind
from ..resources.kinds.event import EVENT
from ..resources.kinds.namespace import NAMESPACE
from ..resources.kinds.service import SERVICE
from ..resources.registry import ResourceInfo
from ..resources.versions import converted
from ..store import KeyExists, KeyNotFound, RevisionMismatch, Store, keys, multitxn
from . import errors
from .cache import Entry, WatchCache
from .nodeports import NodePorts
from .serviceip import ServiceIPs
from .servicestorage import ServiceStorage
from .options import WriteOptions
from .prepared import Prepared
from .responses import as_version
from .storagehooks import Expiring, StorageHooks

Mutator = Callable[[dict[str, Any]], dict[str, Any]]
MAX_RETRIES = 8
WRITE_WAIT = 5.0
"""Seconds a write waits for the watch cache to see it before answering without it."""
# Fields the server owns: what a client sends there is replaced, never stored.
_SERVER_META = ("uid", "creationTimestamp", "generation", "resourceVersion", "deletionTimestamp",
                "deletionGracePeriodSeconds", "selfLink")


def _stored(obj: dict[str, Any], api_version: str) -> dict[str, Any]:
    """`obj` as etcd holds it: in its kind's storage version, no resourceVersion (the
    revision is one), no selfLink.

    Only the top level and metadata are copied; the rest is shared with `obj`."""
    stored = dict(obj)
    stored["apiVersion"] = api_version
    md = dict(stored.get("metadata") or {})
    md.pop("resourceVersion", None)
    md.pop("selfLink", None)
    stored["metadata"] = md
    return stored


def _encode(obj: dict[str, Any], api_version: str) -> bytes:
    return jsonio.dumps(_stored(obj, api_version))


def _encoding(obj: dict[str, Any], api_version: str) -> tuple[bytes, dict[str, Any]]:
    """The bytes to store for `obj`, and the object they encode (for WatchCache.expect)."""
    stored = _stored(obj, api_version)
    return jsonio.dumps(stored), stored


def _with_rv(obj: dict[str, Any], rev: int) -> dict[str, Any]:
    obj.setdefault("metadata", {})["resourceVersion"] = str(rev)
    return obj


def stored_resource(info: ResourceInfo) -> str:
    """What names `info`'s objects in the store's keys and in the watch cache."""
    return keys.resource_name(info.group, info.resource, info.custom)


class ObjectStore:
    """The generic store: every kind's writes, through its Kind's strategy hooks."""

    def __init__(self, store: Store, cache: WatchCache, *, event_ttl: int = 3600,
                 service_cidr: str | None = None, node_port_range: str | None = None) -> None:
        self.store = store
        self.cache = cache
        services = ServiceStorage(store, ServiceIPs(store, service_cidr) if service_cidr else ServiceIPs(store),
                                  NodePorts(store, node_port_range) if node_port_range else NodePorts(store))
        # The kinds stored as more than one plain key (storagehooks.py).
        self._plain = StorageHooks(store)
        self._hooks: dict[Kind, StorageHooks] = {SERVICE: services, EVENT: Expiring(store, event_ttl)}
        self.service_account_tokens = False
        """Whether new pods get a ServiceAccount token volume (the API server can issue tokens)."""
        self.answered: Callable[[int], None] | None = None
        """Told the revision of every write answered (written.py: the other API workers' reads wait for it)."""

    async def _settle(self, rev: int) -> None:
        """Before answering a write committed at `rev`: let the cache see it (bounded), tell `answered`."""
        await self.cache.wait_for(rev, WRITE_WAIT)
        if self.answered is not None:
            self.answered(rev)

    def _hooks_of(self, kind: Kind) -> StorageHooks:
        return self._hooks.get(kind, self._plain)

    # -- reads ----------------------------------------------------------------------

    def key(self, info: ResourceInfo, namespace: str, name: str) -> str:
        return keys.object_key(stored_resource(info), namespace if info.namespaced else None, name)

    def get(self, info: ResourceInfo, namespace: str, name: str) -> Entry:
        entry = self.cache.get(self.key(info, namespace, name))
        if entry is None:
            raise errors.not_found(info, name)
        return entry

    async def _read_latest(self, info: ResourceInfo, namespace: str, name: str) -> tuple[dict, int]:
        kv = await self.store.get(self.key(info, namespace, name))
        if kv is None:
            raise errors.not_found(info, name)
        return _with_rv(jsonio.loads(kv.value), kv.mod_revision), kv.mod_revision

    # -- create ---------------------------------------------------------------------

    async def create(self, info: ResourceInfo, namespace: str, obj: dict[str, Any],
                     opts: WriteOptions) -> dict[str, Any]:
        kind = registry.kind_of(info)
        if (view := converted(kind)) is not None:  # written as the stored version, answered as asked
            return view.from_storage(await self.create(view.storage.info, namespace, view.to_storage(obj), opts))
        md = self._prepare_create(kind, info, namespace, obj, opts)
        if opts.dry_run:
            return obj
        key = self.key(info, namespace, md["name"])
        sent: list[bytes] = []

        def encode(obj: dict[str, Any]) -> bytes:
            value, stored = _encoding(obj, kind.storage_version)
            self.cache.expect(key, value, stored)
            sent.append(value)
            return value

        try:
            rev = await self._hooks_of(kind).create(key, obj, encode)
            await self._settle(rev)
        except KeyExists:
            raise errors.already_exists(info, md["name"]) from None
        finally:
            for value in sent:
                self.cache.forget(key, value)
        return _with_rv(obj, rev)

    def _prepare_create(self, kind: Kind, info: ResourceInfo, namespace: str, obj: dict[str, Any],
                        opts: WriteOptions) -> dict[str, Any]:
        """Everything a create does before it stores `obj` (changed in place); its metadata."""
        refused = kind.refuses_create()
        if refused:
            raise errors.ApiError(405, refused, "MethodNotAllowed")
        md = m.meta(obj)
        if info.namespaced:
            if md.get("namespace") and md["namespace"] != namespace:
                raise errors.bad_request("the namespace of the provided object does not match "
                                         "the namespace sent on the request")
            md["namespace"] = namespace
            self._check_namespace(info, namespace, md.get("name") or md.get("generateName", ""))
        else:
            md.pop("namespace", None)
        if md.get("resourceVersion"):
            raise errors.bad_request("resourceVersion should not be set on objects to be created")
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + m.random_suffix()
        for f in _SERVER_META:
            md.pop(f, None)
        md["uid"] = m.new_uid()
        md["creationTimestamp"] = m.now_rfc3339()
        md["generation"] = 1
        kind.prepare_for_create(obj)
        kind.default(obj)
        admission.mutate(self.cache, info, obj, service_account_tokens=self.service_account_tokens)
        self._validate(kind, obj, None, opts)
        admission.admit(self.cache, info, obj, None, opts.warnings, user=opts.user)
        self._own(None, obj, info, opts, "Update")
        return md

    def _check_namespace(self, info: ResourceInfo, namespace: str, name: str) -> None:
        entry = self.cache.get(self.key(NAMESPACE.info, "", namespace))
        if entry is None:
            raise errors.namespace_not_found(namespace)
        if entry.obj.get("metadata", {}).get("deletionTimestamp"):
            raise errors.namespace_terminating(namespace, info, name)

    # -- update ---------------------------------------------------------------------

    async def update(self, info: ResourceInfo, namespace: str, name: str, obj: dict[str, Any],
                     opts: WriteOptions, subresource: str = "") -> dict[str, Any]:
        """PUT: replace the object; a resourceVersion in the body is a precondition."""
        md = m.meta(obj)
        if md.get("name") and md["name"] != name:
            raise errors.bad_request(f'the name of the object ({md["name"]}) does not match the '
                                     f'name on the URL ({name})')
        wanted = md.get("resourceVersion") or ""

        def replace(current: dict[str, Any]) -> dict[str, Any]:
            return m.deep_copy(obj)

        return await self.guaranteed_update(info, namespace, name, replace, opts,
                                            subresource=subresource, precondition_rv=wanted)

    async def guaranteed_update(self, info: ResourceInfo, namespace: str, name: str, mutate: Mutator,
                                opts: WriteOptions, *, subresource: str = "",
                                precondition_rv: str = "", operation: str = "Update") -> dict[str, Any]:
        """Read, mutate, compare-and-swap; retried on conflict unless the caller pinned a version.

        The first try starts from the watch cache (as kube's GuaranteedUpdate does): usually it is
        current, and the compare-and-swap catches it when not. Only a retry reads etcd."""
        key = self.key(info, namespace, name)
        kind = registry.kind_of(info)
        if (view := converted(kind)) is not None:  # the mutation sees the version it was asked in
            stored = await self.guaranteed_update(
                view.storage.info, namespace, name, lambda obj: view.to_storage(mutate(view.from_storage(obj))),
                opts, subresource=subresource, precondition_rv=precondition_rv, operation=operation)
            return view.from_storage(stored)
        for attempt in range(MAX_RETRIES):
            cached = self.cache.get(key) if attempt == 0 else None
            if cached is not None:
                # Read-only from here on (the mutator gets its own copy): sharing all but the
                # metadata we set the resourceVersion in saves copying the whole object.
                current = {**cached.obj, "metadata": dict(cached.obj.get("metadata") or {})}
                current, rev = _with_rv(current, cached.rev), cached.rev
            else:
                current, rev = await self._read_latest(info, namespace, name)
            if precondition_rv and precondition_rv != str(rev):
                if cached is not None:
                    continue  # the cache may lag the client: ask etcd before calling it a conflict
                raise errors.conflict(info, name)
            new, encoded, stored = await self._next_version(kind, current, mutate, opts, subresource, operation)
            hooks = self._hooks_of(kind)
            if encoded == _encode(current, kind.storage_version):
                if cached is not None:
                    continue  # "nothing to do" is only true of the current object, not a cached one
                return as_version(current, info.api_version)
            if opts.dry_run:
                return new
            try:
                if _finalized(kind, new):
                    new_rev, _ = await self.store.delete(key, rev, hooks.release_keys(current))
                else:
                    self.cache.expect(key, encoded, stored)
                    new_rev = await hooks.update(key, current, new, encoded, rev)
                await self._settle(new_rev)
            except RevisionMismatch:
                if precondition_rv:
                    raise errors.conflict(info, name) from None
                continue
            except KeyExists:
                continue  # a value picked for it was taken meanwhile (servicestorage.py): again
            except KeyNotFound:
                raise errors.not_found(info, name) from None
            finally:
                self.cache.forget(key, encoded)
            return as_version(_with_rv(new, new_rev), info.api_version)
        raise errors.conflict(info, name, "too many concurrent writers; try again")

    async def _next_version(self, kind: Kind, current: dict[str, Any], mutate: Mutator, opts: WriteOptions,
                            subresource: str, operation: str) -> tuple[dict[str, Any], bytes, dict[str, Any]]:
        """`current` mutated and prepared as an update of it, and its encoding for the store."""
        new = mutate(m.deep_copy(current))
        new = self._prepare_update(kind, current, new, opts, subresource, operation)
        await self._hooks_of(kind).prepare_update(current, new)
        encoded, stored = _encoding(new, kind.storage_version)
        return new, encoded, stored

    # -- batched writes: prepared here, committed together by api/batch.py ----------------

    def batchable(self, info: ResourceInfo) -> bool:
        """Whether `info`'s writes can be prepared and committed apart: one key per object
        (an Event's lease aside), stored in the version it is served in."""
        kind = registry.kind_of(info)
        return converted(kind) is None and type(self._hooks_of(kind)) in (StorageHooks, Expiring)

    async def prepare_create(self, info: ResourceInfo, namespace: str, obj: dict[str, Any],
                             opts: WriteOptions) -> Prepared | None:
        """create() up to its commit; None for a dry run (create() answers it). ApiError as create()."""
        kind = registry.kind_of(info)
        md = self._prepare_create(kind, info, namespace, obj, opts)
        if opts.dry_run:
            return None
        value, stored = _encoding(obj, kind.storage_version)
        return Prepared(info, md["name"], self.key(info, namespace, md["name"]), 0, value, stored, obj,
                        await self._hooks_of(kind).lease())

    async def prepare_update(self, info: ResourceInfo, namespace: str, name: str, mutate: Mutator,
                             opts: WriteOptions, *, subresource: str = "", precondition_rv: str = "",
                             operation: str = "Update") -> Prepared | None:
        """guaranteed_update()'s first try, from the watch cache, up to its commit. None when
        only guaranteed_update() can answer: not cached, cached at another version than the
        precondition, nothing would change, the write deletes, or a dry run."""
        key = self.key(info, namespace, name)
        kind = registry.kind_of(info)
        cached = self.cache.get(key)
        if cached is None or opts.dry_run or (precondition_rv and precondition_rv != str(cached.rev)):
            return None
        current = _with_rv({**cached.obj, "metadata": dict(cached.obj.get("metadata") or {})}, cached.rev)
        new, encoded, stored = await self._next_version(kind, current, mutate, opts, subresource, operation)
        if encoded == _encode(current, kind.storage_version) or _finalized(kind, new):
            return None
        return Prepared(info, name, key, cached.rev, encoded, stored, new, pinned=bool(precondition_rv))

    async def commit(self, prepared: list[Prepared]) -> list[dict[str, Any] | errors.ApiError | None]:
        """Store prepared writes of distinct keys in as few etcd transactions as etcd takes.
        Each answer is the object written, its own ApiError, or None for an update whose
        compare-and-swap failed unpinned: the cache was stale, guaranteed_update() retries it."""
        for p in prepared:
            self.cache.expect(p.key, p.value, p.stored)
        try:
            done = await self.store.commit([multitxn.Write(p.key, p.value, p.rev, p.lease) for p in prepared])
            revs = [r for r in done if isinstance(r, int)]
            if revs:
                await self._settle(max(revs))
        finally:
            for p in prepared:
                self.cache.forget(p.key, p.value)
        out: list[dict[str, Any] | errors.ApiError | None] = []
        for p, r in zip(prepared, done):
            if isinstance(r, int):
                out.append(as_version(_with_rv(p.obj, r), p.info.api_version) if p.rev else _with_rv(p.obj, r))
            elif isinstance(r, KeyExists):
                out.append(errors.already_exists(p.info, p.name))
            elif isinstance(r, KeyNotFound):
                out.append(errors.not_found(p.info, p.name))
            elif isinstance(r, RevisionMismatch):
                out.append(errors.conflict(p.info, p.name) if p.pinned else None)
            else:
                out.append(errors.from_store(r))
        return out

    def _prepare_update(self, kind: Kind, old: dict[str, Any], new: dict[str, Any],
                        opts: WriteOptions, subresource: str, operation: str) -> dict[str, Any]:
        info = kind.info
        old_md, md = old.get("metadata", {}), m.meta(new)
        new["apiVersion"], new["kind"] = info.api_version, info.kind
        if subresource == "status":
            # /status writes change status only (and nothing else a client sent).
            status = new.get("status")
            # The rest is old's, shared, not copied: it is only read from here on (encoded, and
            # answered), and old's parts are the watch cache's, which nobody changes either.
            new = dict(old)
            if "metadata" in old:  # the one part written to: the resourceVersion goes in
                new["metadata"] = dict(old_md)
            if status is not None:
                new["status"] = status
            else:
                new.pop("status", None)
            return new
        for f in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                  "deletionGracePeriodSeconds", "generation"):
            if f in old_md:
                md[f] = old_md[f]
            else:
                md.pop(f, None)
        if md.get("deletionTimestamp") is None:
            md.pop("deletionTimestamp", None)
        if info.has_status and subresource != "binding":  # binding sets PodScheduled with nodeName
            if "status" in old:
                new["status"] = m.deep_copy(old["status"])  # old shares its parts with the cache
            else:
                new.pop("status", None)
        kind.default(new)
        kind.prepare_for_update(new, old)
        if m.spec_of(new) != m.spec_of(old):
            md["generation"] = int(old_md.get("generation") or 0) + 1
        if subresource != "binding":  # a binding sets only nodeName (checked by its handler) on a
            self._validate(kind, new, old, opts)  # stored, valid pod: the schema pass is ~10% of CPU
        admission.admit(self.cache, info, new, old, opts.warnings, subresource, user=opts.user)
        self._own(old, new, info, opts, operation)
        md["resourceVersion"] = old_md.get("resourceVersion", "")
        return new

    def _validate(self, kind: Kind, obj: dict[str, Any], old: dict[str, Any] | None,
                  opts: WriteOptions) -> None:
        info = kind.info
        obj.setdefault("apiVersion", info.api_version)
        obj.setdefault("kind", info.kind)
        unknown, causes = kind.check_write(obj, old)  # one schema pass for a clean object
        if unknown:
            if opts.field_validation == "Strict":
                raise errors.bad_request("strict decoding error: " +
                                         ", ".join(f'unknown field "{p}"' for p in unknown))
            if opts.field_validation == "Warn":
                opts.warnings.extend(f'unknown field "{p}"' for p in unknown)
            kind.drop_unknown(obj, unknown)
            causes = kind.validate(obj, old)  # of what is left, as kube decodes first
        if causes:
            raise errors.invalid(info, obj.get("metadata", {}).get("name", ""), list(causes))

    def _own(self, old: dict[str, Any] | None, new: dict[str, Any], info: ResourceInfo,
             opts: WriteOptions, operation: str) -> None:
        if not opts.field_manager or operation == "Apply":
            return
        new.setdefault("metadata", {})["managedFields"] = ssa.managed_fields_after_update(
            old, new, opts.field_manager, kind=info.kind, api_version=info.api_version, now=m.now_rfc3339())

    # -- delete ---------------------------------------------------------------------

    async def delete(self, info: ResourceInfo, namespace: str, name: str,
                     options: dict[str, Any], opts: WriteOptions) -> dict[str, Any]:
        """DELETE with DeleteOptions; returns the object (its last state, or marked for deletion)."""
        kind = registry.kind_of(info)
        if (view := converted(kind)) is not None:
            return view.from_storage(await self.delete(view.storage.info, namespace, name, options, opts))
        for _ in range(MAX_RETRIES):
            current, rev = await self._read_latest(info, namespace, name)
            _check_preconditions(info, name, current, options.get("preconditions") or {})
            marked = _mark_for_deletion(kind, current, options)
            if opts.dry_run:
                return as_version(marked or current, info.api_version)
            key = self.key(info, namespace, name)
            try:
                if marked is None:
                    new_rev, _ = await self.store.delete(key, rev, self._hooks_of(kind).release_keys(current))
                    await self._settle(new_rev)
                    return as_version(_with_rv(current, new_rev), info.api_version)
                encoded, stored = _encoding(marked, kind.storage_version)
                if encoded == _encode(current, kind.storage_version):
                    return as_version(current, info.api_version)
                self.cache.expect(key, encoded, stored)
                try:
                    new_rev = await self.store.update(key, encoded, rev)
                    await self._settle(new_rev)
                finally:
                    self.cache.forget(key, encoded)
                return as_version(_with_rv(marked, new_rev), info.api_version)
            except RevisionMismatch:
                continue
            except KeyNotFound:
                raise errors.not_found(info, name) from None
        raise errors.conflict(info, name, "too many concurrent writers; try again")


def _finalized(kind: Kind, obj: dict[str, Any]) -> bool:
    """An object being deleted with no finalizers left and no grace period pending is gone,
    unless its kind holds it (a Namespace waits for its spec.finalizers)."""
    md = obj.get("metadata", {})
    return bool(md.get("deletionTimestamp")) and not md.get("finalizers") and \
        not md.get("deletionGracePeriodSeconds") and not kind.deletion_held(obj)


def _check_preconditions(info: ResourceInfo, name: str, current: dict[str, Any],
                         pre: dict[str, Any]) -> None:
    md = current.get("metadata", {})
    if pre.get("uid") and pre["uid"] != md.get("uid"):
        raise errors.conflict(info, name, f'Precondition failed: UID in precondition: {pre["uid"]}, '
                                          f'UID in object meta: {md.get("uid")}')
    if pre.get("resourceVersion") and pre["resourceVersion"] != md.get("resourceVersion"):
        raise errors.conflict(info, name, "Precondition failed: ResourceVersion in precondition: "
                                          f'{pre["resourceVersion"]}, ResourceVersion in object meta: '
                                          f'{md.get("resourceVersion")}')


def _mark_for_deletion(kind: Kind, obj: dict[str, Any],
                       options: dict[str, Any]) -> dict[str, Any] | None:
    """The object as it should stay while its deletion completes, or None to remove it now."""
    md = obj.get("metadata", {})
    finalizers = list(md.get("finalizers") or [])
    policy = options.get("propagationPolicy")
    if policy is None and options.get("orphanDependents") is not None:
        policy = "Orphan" if options["orphanDependents"] else "Background"
    if policy == "Foreground" and "foregroundDeletion" not in finalizers:
        finalizers.append("foregroundDeletion")
    if policy == "Orphan" and "orphan" not in finalizers:
        finalizers.append("orphan")
    grace = kind.grace_period(obj, options)
    held = kind.deletion_held(obj)
    if not finalizers and grace == 0 and not held:
        return None
    new = m.deep_copy(obj)
    nmd = new["metadata"]
    now = dt.datetime.now(dt.timezone.utc)
    if nmd.get("deletionTimestamp"):
        # Already being deleted: a shorter grace period may shorten it, never lengthen it.
        old_grace = nmd.get("deletionGracePeriodSeconds")
        if old_grace is not None and grace < old_grace:
            nmd["deletionGracePeriodSeconds"] = grace
            nmd["deletionTimestamp"] = m.now_rfc3339(now + dt.timedelta(seconds=grace))
    else:
        nmd["deletionTimestamp"] = m.now_rfc3339(now + dt.timedelta(seconds=grace))
        nmd["deletionGracePeriodSeconds"] = grace
    if finalizers:
        nmd["finalizers"] = finalizers
    if nmd.get("deletionGracePeriodSeconds") == 0 and not finalizers and not held:
        return None
    kind.mark_deleting(new)
    return new
