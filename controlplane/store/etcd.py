"""The storage contract the API needs, over etcd's v3 API through aetcd.

Kept as narrow as kine's: get, range, create-if-absent, update-if-revision-matches,
delete (optionally guarded), watch from a revision, compact, leases. A resourceVersion
is the etcd mod_revision of the key; a list's resourceVersion is the header revision.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import AsyncGenerator
from urllib.parse import urlparse

import aetcd
import grpc
from aetcd import rpc
from aetcd.exceptions import ClientError

from .encryption import Transformer
from .errors import Compacted, KeyExists, KeyNotFound, RevisionMismatch, Unavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KV:
    key: str
    value: bytes
    mod_revision: int
    create_revision: int


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str  # "PUT" or "DELETE"
    key: str
    value: bytes  # the new value; for DELETE the value before deletion
    revision: int  # the revision at which the change happened
    created: bool  # PUT that created the key


def prefix_end(prefix: bytes) -> bytes:
    """The range end that covers every key starting with `prefix`."""
    end = bytearray(prefix)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\0"


def _parse_endpoint(url: str) -> tuple[str, int]:
    parsed = urlparse(url if "://" in url else f"http://{url}")
    return parsed.hostname or "127.0.0.1", parsed.port or 2379


class Store:
    """One connection to an etcd cluster, tried endpoint by endpoint."""

    def __init__(self, endpoints: list[str], timeout: float = 10.0,
                 transformer: Transformer | None = None) -> None:
        if not endpoints:
            raise ValueError("at least one etcd endpoint is required")
        self._endpoints = [_parse_endpoint(e) for e in endpoints]
        self._timeout = timeout
        # Values of some resources (Secrets) are sealed on their way in and opened on the way out.
        self._transformer = transformer
        self._client: aetcd.Client | None = None
        self._lock = asyncio.Lock()

    # -- connection ---------------------------------------------------------------

    async def open(self) -> None:
        await self._connected()

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def _connected(self) -> aetcd.Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is not None:
                return self._client
            last: Exception | None = None
            for host, port in self._endpoints:
                client = aetcd.Client(host=host, port=port, timeout=self._timeout)
                try:
                    await client.connect()
                    await client.kvstub.Range(rpc.RangeRequest(key=b"/", limit=1, keys_only=True),
                                              timeout=self._timeout)
                except (ClientError, grpc.aio.AioRpcError, OSError) as exc:
                    last = exc
                    await client.close()
                    continue
                self._client = client
                return client
            raise Unavailable(f"no etcd endpoint reachable ({self._describe()}): {last}")

    def _describe(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in self._endpoints)

    async def _call(self, method: str, request):
        """One unary KV call; a dead connection is dropped so the next call redials."""
        client = await self._connected()
        try:
            return await getattr(client.kvstub, method)(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.OUT_OF_RANGE and "compacted" in (exc.details() or ""):
                raise Compacted(getattr(request, "revision", 0), 0) from exc
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                self._client = None
                await client.close()
                raise Unavailable(f"etcd {self._describe()}: {exc.details()}") from exc
            raise

    def _seal(self, key: str, value: bytes) -> bytes:
        return self._transformer.to_storage(key, value) if self._transformer else value

    def _open(self, key: str, value: bytes) -> bytes:
        return self._transformer.from_storage(key, value) if self._transformer else value

    # -- reads ----------------------------------------------------------------------

    async def get(self, key: str) -> KV | None:
        resp = await self._call("Range", rpc.RangeRequest(key=key.encode()))
        if not resp.kvs:
            return None
        kv = resp.kvs[0]
        return KV(key, self._open(key, kv.value), kv.mod_revision, kv.create_revision)

    async def list(self, prefix: str, *, revision: int = 0, start: str | None = None,
                   limit: int = 0) -> tuple[list[KV], int, bool]:
        """Keys under `prefix` (from `start`, inclusive) at `revision` (0 = now).

        Returns (items, revision the read was served at, whether more remain)."""
        p = prefix.encode()
        req = rpc.RangeRequest(key=start.encode() if start else p, range_end=prefix_end(p),
                               revision=revision, limit=limit)
        resp = await self._call("Range", req)
        items = [KV(k, self._open(k, kv.value), kv.mod_revision, kv.create_revision)
                 for kv in resp.kvs for k in (kv.key.decode(),)]
        return items, resp.header.revision, resp.more

    async def revision(self) -> int:
        """The current revision of the whole store (a linearizable read)."""
        resp = await self._call("Range", rpc.RangeRequest(key=b"\0", limit=1, count_only=True))
        return resp.header.revision

    # -- writes ---------------------------------------------------------------------

    async def create(self, key: str, value: bytes, *, lease: int = 0,
                     also: dict[str, bytes] | None = None) -> int:
        """Store `value` only if `key` is absent; returns the new revision.

        `also` are companion keys (a Service's ClusterIP allocation) created in the same
        transaction, each only if absent: all are written or none; KeyExists names the first
        key that was already there."""
        pairs = [(key, value, lease)] + [(k, v, 0) for k, v in (also or {}).items()]
        txn = rpc.TxnRequest(
            compare=[rpc.Compare(result=rpc.Compare.EQUAL, target=rpc.Compare.CREATE, key=k.encode(),
                                 create_revision=0) for k, _, _ in pairs],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k.encode(), value=self._seal(k, v),
                                                              lease=ls)) for k, v, ls in pairs],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k.encode(), keys_only=True))
                     for k, _, _ in pairs] if also else [],
        )
        resp = await self._call("Txn", txn)
        if not resp.succeeded:
            taken = [k for (k, _, _), r in zip(pairs, resp.responses) if r.response_range.kvs]
            raise KeyExists(taken[0] if taken else key)
        return resp.header.revision

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        """Replace `key` only if its mod_revision is still `expected_revision`.

        The key keeps the lease it was created with (an Event stays on its TTL)."""
        k = key.encode()
        txn = rpc.TxnRequest(
            compare=[rpc.Compare(result=rpc.Compare.EQUAL, target=rpc.Compare.MOD, key=k,
                                 mod_revision=expected_revision)],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=self._seal(key, value),
                                                              ignore_lease=True))],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))],
        )
        resp = await self._call("Txn", txn)
        if resp.succeeded:
            return resp.header.revision
        kvs = resp.responses[0].response_range.kvs
        if not kvs:
            raise KeyNotFound(key)
        raise RevisionMismatch(key, expected_revision, kvs[0].mod_revision)

    async def delete(self, key: str, expected_revision: int = 0,
                     also: tuple[str, ...] = ()) -> tuple[int, KV]:
        """Delete `key` (only at `expected_revision`, when given); returns (revision, last value).

        `also` are companion keys deleted in the same transaction (absent ones are no-ops)."""
        k = key.encode()
        compare = [rpc.Compare(result=rpc.Compare.GREATER, target=rpc.Compare.CREATE, key=k,
                               create_revision=0)]
        if expected_revision:
            compare = [rpc.Compare(result=rpc.Compare.EQUAL, target=rpc.Compare.MOD, key=k,
                                   mod_revision=expected_revision)]
        txn = rpc.TxnRequest(
            compare=compare,
            success=[rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=k, prev_kv=True))]
            + [rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=a.encode())) for a in also],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))],
        )
        resp = await self._call("Txn", txn)
        if resp.succeeded:
            prev = resp.responses[0].response_delete_range.prev_kvs[0]
            return resp.header.revision, KV(key, self._open(key, prev.value), prev.mod_revision,
                                            prev.create_revision)
        kvs = resp.responses[0].response_range.kvs
        if not kvs:
            raise KeyNotFound(key)
        raise RevisionMismatch(key, expected_revision, kvs[0].mod_revision)

    async def put(self, key: str, value: bytes, *, lease: int = 0) -> int:
        """Unconditional write, for keys that are not API objects (leases, IPAM)."""
        resp = await self._call("Put", rpc.PutRequest(key=key.encode(), value=self._seal(key, value),
                                                      lease=lease))
        return resp.header.revision

    async def compact(self, revision: int) -> None:
        client = await self._connected()
        try:
            await client.compact(revision)
        except ClientError as exc:  # already compacted past it: nothing to do
            log.debug("compact %d: %s", revision, exc)

    # -- leases ---------------------------------------------------------------------

    async def grant_lease(self, ttl: int) -> int:
        client = await self._connected()
        lease = await client.lease(ttl)
        return lease.id

    async def refresh_lease(self, lease_id: int) -> bool:
        """Keep a lease alive; False when it has already expired."""
        client = await self._connected()
        resp = await client.refresh_lease(lease_id)
        return any(r.TTL > 0 for r in resp) if isinstance(resp, list) else getattr(resp, "TTL", 0) > 0

    async def revoke_lease(self, lease_id: int) -> None:
        client = await self._connected()
        try:
            await client.revoke_lease(lease_id)
        except ClientError:
            pass

    # -- watch ----------------------------------------------------------------------

    async def watch(self, prefix: str, start_revision: int) -> AsyncGenerator[WatchEvent, None]:
        """Every change under `prefix` from `start_revision` (inclusive), in order.

        Raises Compacted when `start_revision` is no longer available, Unavailable when
        the stream breaks; the caller resumes from the last revision it saw.

        Each watch is its own gRPC stream on the raw Watch stub: aetcd's shared watcher
        multiplexes callbacks behind a bounded queue and a lock, and closing it could hang
        forever with no timer pending (seen in CI). One call per watch has no shared state,
        and cancelling the call is the whole clean-up."""
        client = await self._connected()
        p = prefix.encode()
        call = rpc.WatchStub(client.channel).Watch(metadata=client.metadata)
        try:
            try:
                await call.write(rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
                    key=p, range_end=prefix_end(p), start_revision=start_revision, prev_kv=True)))
                created = await asyncio.wait_for(call.read(), self._timeout)
            except (grpc.aio.AioRpcError, asyncio.TimeoutError) as exc:
                raise Unavailable(f"etcd watch {self._describe()}: {exc}") from exc
            self._check_watch(created, start_revision)
            while True:
                try:
                    resp = await call.read()
                except grpc.aio.AioRpcError as exc:
                    self._client = None
                    raise Unavailable(f"etcd watch broke: {exc.details()}") from exc
                self._check_watch(resp, start_revision)
                for ev in resp.events:
                    kv = ev.kv
                    key = kv.key.decode()
                    if ev.type == rpc.Event.PUT:
                        yield WatchEvent("PUT", key, self._open(key, kv.value), kv.mod_revision,
                                         kv.version == 1)
                    else:
                        prev = self._open(key, ev.prev_kv.value) if ev.HasField("prev_kv") else b""
                        yield WatchEvent("DELETE", key, prev, kv.mod_revision, False)
        finally:
            call.cancel()

    async def check_history(self, prefix: str, revision: int) -> None:
        """Raise Compacted unless etcd still holds `prefix`'s history from `revision`.

        A watch reports compaction only in its stream; asking first lets a caller answer
        with an error status before it starts streaming."""
        if revision > await self.revision():
            return
        p = prefix.encode()
        try:
            await self._call("Range", rpc.RangeRequest(key=p, range_end=prefix_end(p), limit=1,
                                                       revision=revision, keys_only=True))
        except Compacted:
            raise Compacted(revision, 0) from None

    @staticmethod
    def _check_watch(resp, start_revision: int) -> None:
        if resp is grpc.aio.EOF:
            raise Unavailable("etcd closed the watch stream")
        if resp.compact_revision:
            raise Compacted(start_revision, resp.compact_revision)
        if resp.canceled:
            raise Unavailable(f"etcd cancelled the watch: {resp.cancel_reason or 'no reason given'}")
