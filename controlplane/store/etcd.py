"""The storage contract the API needs, over etcd's v3 API through aetcd.

Kept as narrow as kine's: get, range, create-if-absent, update-if-revision-matches,
delete (optionally guarded), watch from a revision, compact, leases. A resourceVersion
is the etcd mod_revision of the key; a list's resourceVersion is the header revision.

With several endpoints (a 3-member etcd) one connection is used at a time; an endpoint that
fails or stalls is dropped and the next one dialled, so the API keeps working while a quorum
does. A watch that hears nothing from etcd (a stopped member, a half-open connection) within
a bound is given up and its endpoint with it; the caller resumes from its last revision.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, AsyncGenerator, Awaitable, Callable, Sequence
from urllib.parse import urlparse

import aetcd
import grpc
from aetcd import rpc
from aetcd.exceptions import ClientError

from . import multitxn
from .encryption import Transformer
from .errors import Compacted, KeyExists, KeyNotFound, RevisionMismatch, StoreError, Timeout, Unavailable
from .groupcommit import GroupCommit
from .metrics import timed

log = logging.getLogger(__name__)

DIAL_TIMEOUT = 2.0
"""Seconds one endpoint may take to answer the probe of a dial. A stopped member still accepts
TCP connections (its kernel does), so only a deadline tells it from a slow one."""
DOWN_FOR = 1.0
"""After every endpoint failed a dial, calls fail at once (503) for this long instead of each
redialling in turn."""
MAX_RECEIVE = 2**31 - 1
"""Bytes one answer from etcd may have (a range over the whole registry)."""
WATCH_PROGRESS_EVERY = 1.0
"""A watch that has heard nothing for this long asks etcd for a progress report."""
WATCH_SILENCE = 5.0
"""A watch that has heard nothing, not even a progress report, for this long is given up."""


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
    """One connection at a time to an etcd cluster, endpoint by endpoint."""

    def __init__(self, endpoints: list[str], timeout: float = 10.0,
                 transformer: Transformer | None = None, *, dial_timeout: float = DIAL_TIMEOUT,
                 watch_silence: float = WATCH_SILENCE) -> None:
        if not endpoints:
            raise ValueError("at least one etcd endpoint is required")
        self._endpoints = [_parse_endpoint(e) for e in endpoints]
        self._timeout = timeout
        self._dial_timeout = min(dial_timeout, timeout)
        self._watch_silence = max(watch_silence, 2 * WATCH_PROGRESS_EVERY)
        # Values of some resources (Secrets) are sealed on their way in and opened on the way out.
        self._transformer = transformer
        self._client: aetcd.Client | None = None
        self._client_at = 0  # the endpoint self._client talks to
        self._first = 0  # the endpoint the next dial tries first
        self._down_until = 0.0
        self._down_reason = ""
        self._retired: dict[aetcd.Client, asyncio.TimerHandle] = {}
        self._closing: set[asyncio.Task] = set()
        self._lock = asyncio.Lock()
        # Single-key creates and updates made while others are in flight share a transaction.
        self._group = GroupCommit(self._write_one, self.commit)

    @property
    def timeout(self) -> float:
        """Seconds one call may take before it fails with Timeout."""
        return self._timeout

    @property
    def watch_silence(self) -> float:
        """Seconds a watch may hear nothing from etcd before it is given up."""
        return self._watch_silence

    # -- connection ---------------------------------------------------------------

    async def open(self) -> None:
        await self._connected()

    async def close(self) -> None:
        clients = list(self._retired)
        for handle in self._retired.values():
            handle.cancel()
        self._retired.clear()
        if self._client is not None:
            clients.append(self._client)
            self._client = None
        for client in clients:
            await client.close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def _connected(self) -> aetcd.Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is not None:
                return self._client
            loop = asyncio.get_running_loop()
            if loop.time() < self._down_until:
                raise Unavailable(self._down_reason)
            last: Exception | None = None
            count = len(self._endpoints)
            for i in range(count):
                index = (self._first + i) % count
                host, port = self._endpoints[index]
                # Any size of answer, as kube-apiserver's client (MaxCallRecvMsgSize = MaxInt32): the
                # watch cache lists the whole registry at start, far past gRPC's default 4 MiB.
                client = aetcd.Client(host=host, port=port, timeout=self._timeout,
                                      options={"grpc.max_receive_message_length": MAX_RECEIVE})
                try:
                    await client.connect()
                    # Linearizable: a member cut off from its quorum fails this and is passed over.
                    await client.kvstub.Range(rpc.RangeRequest(key=b"/", limit=1, keys_only=True),
                                              timeout=self._dial_timeout)
                except (ClientError, grpc.aio.AioRpcError, OSError) as exc:
                    last = exc
                    await client.close()
                    continue
                self._client, self._client_at = client, index
                self._down_until = 0.0
                return client
            self._down_reason = f"no etcd endpoint reachable ({self._describe()}): {_reason(last)}"
            self._down_until = loop.time() + DOWN_FOR
            raise Unavailable(self._down_reason)

    def _describe(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in self._endpoints)

    def _retire(self, client: aetcd.Client, why: str) -> None:
        """Stop using `client`, whose endpoint failed: the next call dials the next endpoint.

        It is closed only once the calls still on it have had their deadline: closing a channel
        cancels its calls under their callers, and a watch on it would never hear of it."""
        if self._client is not client:
            return
        host, port = self._endpoints[self._client_at]
        self._client = None
        self._first = (self._client_at + 1) % len(self._endpoints)
        log.warning("etcd %s:%d %s; the next call dials %s:%d", host, port, why,
                    *self._endpoints[self._first])
        loop = asyncio.get_running_loop()
        self._retired[client] = loop.call_later(self._timeout + 1, self._close_retired, client)

    def _close_retired(self, client: aetcd.Client) -> None:
        self._retired.pop(client, None)
        task = asyncio.ensure_future(client.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _rpc(self, invoke: Callable[[aetcd.Client, float], Awaitable[Any]], *,
                   read: bool = False, timeout: float | None = None) -> Any:
        """One call, `invoke(client, timeout)`, with etcd's failures as store errors.

        A failing endpoint is dropped for the next one. A read is tried on each endpoint; a
        write only when it surely never left (nothing connected), since etcd may have applied it."""
        timeout = timeout or self._timeout
        last: Exception | None = None
        for _ in range(len(self._endpoints)):
            client = await self._connected()
            try:
                return await invoke(client, timeout)
            except grpc.aio.AioRpcError as exc:
                code, details = exc.code(), exc.details() or ""
                if code == grpc.StatusCode.OUT_OF_RANGE and "compacted" in details:
                    raise Compacted(0, 0) from exc
                if code == grpc.StatusCode.DEADLINE_EXCEEDED or "request timed out" in details:
                    self._retire(client, f"did not answer within {timeout:g}s")
                    raise Timeout(f"etcd did not answer within {timeout:g}s") from exc
                if code != grpc.StatusCode.UNAVAILABLE:
                    raise
                self._retire(client, f"is unavailable ({details})")
                last = exc
                if not (read or "failed to connect" in details.lower()):
                    raise Unavailable(f"etcd is unavailable: {details}") from exc
            except asyncio.CancelledError:
                if _cancelling():
                    raise
                # The channel was closed under this call: nobody knows whether a write ran.
                last = Unavailable("the connection to etcd was closed during the call")
                if not read:
                    raise last from None
        raise Unavailable(f"etcd is unavailable: {_reason(last)}")

    async def _call(self, method: str, request, *, read: bool = False, timeout: float | None = None):
        """One unary KV call (see _rpc)."""
        try:
            return await self._rpc(lambda c, t: getattr(c.kvstub, method)(request, timeout=t),
                                   read=read, timeout=timeout)
        except Compacted:
            raise Compacted(getattr(request, "revision", 0), 0) from None

    def _seal(self, key: str, value: bytes) -> bytes:
        return self._transformer.to_storage(key, value) if self._transformer else value

    def _open(self, key: str, value: bytes) -> bytes:
        return self._transformer.from_storage(key, value) if self._transformer else value

    # -- reads ----------------------------------------------------------------------

    @timed("get")
    async def get(self, key: str) -> KV | None:
        resp = await self._call("Range", rpc.RangeRequest(key=key.encode()), read=True)
        if not resp.kvs:
            return None
        kv = resp.kvs[0]
        return KV(key, self._open(key, kv.value), kv.mod_revision, kv.create_revision)

    @timed("list")
    async def list(self, prefix: str, *, revision: int = 0, start: str | None = None,
                   limit: int = 0) -> tuple[list[KV], int, bool]:
        """Keys under `prefix` (from `start`, inclusive) at `revision` (0 = now).

        Returns (items, revision the read was served at, whether more remain)."""
        p = prefix.encode()
        req = rpc.RangeRequest(key=start.encode() if start else p, range_end=prefix_end(p),
                               revision=revision, limit=limit)
        resp = await self._call("Range", req, read=True)
        items = [KV(k, self._open(k, kv.value), kv.mod_revision, kv.create_revision)
                 for kv in resp.kvs for k in (kv.key.decode(),)]
        return items, resp.header.revision, resp.more

    async def revision(self, timeout: float | None = None) -> int:
        """The current revision of the whole store (a linearizable read)."""
        resp = await self._call("Range", rpc.RangeRequest(key=b"\0", limit=1, count_only=True),
                                read=True, timeout=timeout)
        return resp.header.revision

    # -- writes ---------------------------------------------------------------------

    @timed("create")
    async def create(self, key: str, value: bytes, *, lease: int = 0,
                     also: dict[str, bytes] | None = None) -> int:
        """Store `value` only if `key` is absent; returns the new revision.

        `also` are companion keys (a Service's ClusterIP allocation) created in the same
        transaction, each only if absent: all are written or none; KeyExists names the first
        key that was already there."""
        if not also:
            return await self._group.write(multitxn.Write(key, value, 0, lease))
        return await self._create(key, value, lease, also)

    async def _create(self, key: str, value: bytes, lease: int, also: dict[str, bytes]) -> int:
        pairs = [(key, value, lease)] + [(k, v, 0) for k, v in also.items()]
        txn = rpc.TxnRequest(
            compare=[rpc.Compare(result=rpc.Compare.EQUAL, target=rpc.Compare.CREATE, key=k.encode(),
                                 create_revision=0) for k, _, _ in pairs],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k.encode(), value=self._seal(k, v),
                                                              lease=ls)) for k, v, ls in pairs],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k.encode(), keys_only=True))
                     for k, _, _ in pairs],
        )
        resp = await self._call("Txn", txn)
        if not resp.succeeded:
            taken = [k for (k, _, _), r in zip(pairs, resp.responses) if r.response_range.kvs]
            raise KeyExists(taken[0] if taken else key)
        return resp.header.revision

    @timed("update")
    async def update(self, key: str, value: bytes, expected_revision: int, *,
                     also: dict[str, bytes] | None = None, release: tuple[str, ...] = ()) -> int:
        """Replace `key` only if its mod_revision is still `expected_revision`.

        The key keeps the lease it was created with (an Event stays on its TTL). `also` are
        companion keys created in the same transaction, each only if absent, and `release`
        companion keys deleted in it (a Service's allocations as its type changes): all or
        nothing. RevisionMismatch first; else KeyExists names the first companion taken."""
        if not also and not release:
            return await self._group.write(multitxn.Write(key, value, expected_revision))
        return await self._update(key, value, expected_revision, also, release)

    async def _update(self, key: str, value: bytes, expected_revision: int, also: dict[str, bytes] | None,
                      release: tuple[str, ...]) -> int:
        k = key.encode()
        added = sorted((also or {}).items())
        txn = rpc.TxnRequest(
            compare=[rpc.Compare(result=rpc.Compare.EQUAL, target=rpc.Compare.MOD, key=k,
                                 mod_revision=expected_revision)]
            + [rpc.Compare(result=rpc.Compare.EQUAL, target=rpc.Compare.CREATE, key=a.encode(),
                           create_revision=0) for a, _ in added],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=self._seal(key, value),
                                                              ignore_lease=True))]
            + [rpc.RequestOp(request_put=rpc.PutRequest(key=a.encode(), value=self._seal(a, v)))
               for a, v in added]
            + [rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=r.encode())) for r in release],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))]
            + [rpc.RequestOp(request_range=rpc.RangeRequest(key=a.encode(), keys_only=True)) for a, _ in added],
        )
        resp = await self._call("Txn", txn)
        if resp.succeeded:
            return resp.header.revision
        kvs = resp.responses[0].response_range.kvs
        if not kvs:
            raise KeyNotFound(key)
        if kvs[0].mod_revision != expected_revision:
            raise RevisionMismatch(key, expected_revision, kvs[0].mod_revision)
        taken = [a for (a, _), r in zip(added, resp.responses[1:]) if r.response_range.kvs]
        raise KeyExists(taken[0] if taken else key)

    async def commit(self, writes: Sequence[multitxn.Write]) -> multitxn.Outcomes:
        """Many single-key writes of distinct keys in as few transactions as etcd takes (multitxn.py).

        Each write's revision, or why it was not made: KeyExists, RevisionMismatch, KeyNotFound,
        or etcd's own failure (Unavailable, Timeout) for every write of the chunk it hit, which
        may or may not have been made, as for any single write."""
        if len({w.key for w in writes}) != len(writes):
            raise ValueError("a key may be written only once per batch")
        out: multitxn.Outcomes = []
        for chunk in multitxn.chunks(list(writes)):
            try:
                resp = await self._call("Txn", multitxn.request(chunk, self._seal))
            except (Unavailable, Timeout) as exc:
                out.extend(exc for _ in chunk)
                continue
            out.extend(multitxn.outcomes(chunk, resp))
        return out

    async def _write_one(self, w: multitxn.Write) -> int:
        """A write with nothing else in flight: its compare-and-swap as a transaction of its own."""
        resp = await self._call("Txn", multitxn.single(w, self._seal))
        result = multitxn.outcome(w, resp, resp.header.revision)
        if isinstance(result, StoreError):
            raise result
        return result

    @timed("delete")
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

    @timed("put")
    async def put(self, key: str, value: bytes, *, lease: int = 0) -> int:
        """Unconditional write, for keys that are not API objects (leases, IPAM)."""
        resp = await self._call("Put", rpc.PutRequest(key=key.encode(), value=self._seal(key, value),
                                                      lease=lease))
        return resp.header.revision

    async def compact(self, revision: int) -> None:
        try:
            await self._rpc(lambda c, t: c.kvstub.Compact(rpc.CompactionRequest(revision=revision),
                                                          timeout=t))
        except (Compacted, grpc.aio.AioRpcError) as exc:  # already compacted past it, or ahead
            log.debug("compact %d: %s", revision, exc)

    # -- leases ---------------------------------------------------------------------

    async def grant_lease(self, ttl: int) -> int:
        resp = await self._rpc(lambda c, t: c.leasestub.LeaseGrant(rpc.LeaseGrantRequest(TTL=ttl),
                                                                   timeout=t))
        return resp.ID

    async def refresh_lease(self, lease_id: int) -> bool:
        """Keep a lease alive; False when it has already expired."""
        async def keepalive(client: aetcd.Client, timeout: float):
            async for reply in client.leasestub.LeaseKeepAlive(
                    iter([rpc.LeaseKeepAliveRequest(ID=lease_id)]), timeout=timeout):
                return reply
            return None
        reply = await self._rpc(keepalive)
        return reply is not None and reply.TTL > 0

    async def revoke_lease(self, lease_id: int) -> None:
        try:
            await self._rpc(lambda c, t: c.leasestub.LeaseRevoke(rpc.LeaseRevokeRequest(ID=lease_id),
                                                                 timeout=t))
        except grpc.aio.AioRpcError as exc:  # already expired or revoked
            log.debug("revoke lease %x: %s", lease_id, exc.details())

    # -- watch ----------------------------------------------------------------------

    async def watch(self, prefix: str, start_revision: int, *,
                    progress: bool = False) -> AsyncGenerator[WatchEvent, None]:
        """Every change under `prefix` from `start_revision` (inclusive), in order.

        Raises Compacted when `start_revision` is no longer available, Unavailable when
        the stream breaks or stays silent; the caller resumes from the last revision it saw.
        With `progress`, also yields PROGRESS events (revision = etcd's, no key) whenever etcd
        speaks without changes: when the watch is created and when it answers a progress request.

        Each watch is its own gRPC stream on the raw Watch stub: aetcd's shared watcher
        multiplexes callbacks behind a bounded queue and a lock, and closing it could hang
        forever with no timer pending (seen in CI). One call per watch has no shared state,
        and cancelling the call is the whole clean-up.

        A stopped etcd (SIGSTOP, a frozen VM) or a half-open connection sends nothing, and
        nothing fails: so a quiet stream asks for a progress report every
        WATCH_PROGRESS_EVERY seconds, and one silent for `watch_silence` is given up, and its
        endpoint with it."""
        client = await self._connected()
        p = prefix.encode()
        call = rpc.WatchStub(client.channel).Watch(metadata=client.metadata)
        alive = _Liveness(asyncio.get_running_loop().time())
        watchdog: asyncio.Task | None = None
        try:
            await self._send(call, rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
                key=p, range_end=prefix_end(p), start_revision=start_revision, prev_kv=True,
                progress_notify=True)))
            watchdog = asyncio.ensure_future(self._watchdog(call, client, alive))
            while True:
                resp = await self._read(call, client, alive)
                self._check_watch(resp, start_revision)
                if resp.created:
                    alive.created = True
                if not resp.events:
                    if progress:
                        yield WatchEvent("PROGRESS", "", b"", resp.header.revision, False)
                    continue
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
            if watchdog is not None:
                watchdog.cancel()
            call.cancel()

    async def _read(self, call, client: aetcd.Client, alive: "_Liveness"):
        """The next response on a watch, or why the stream broke."""
        alive.waiting = True
        try:
            resp = await call.read()
        except grpc.aio.AioRpcError as exc:
            self._retire(client, f"broke a watch ({exc.details()})")
            raise Unavailable(f"etcd watch broke: {exc.details()}") from exc
        except asyncio.CancelledError:
            if _cancelling():
                raise
            # Not this task: the watchdog gave up on the call, or its channel was closed.
            raise Unavailable(alive.given_up or "the etcd watch's connection was closed") from None
        finally:
            alive.waiting = False
        alive.heard = asyncio.get_running_loop().time()
        return resp

    async def _watchdog(self, call, client: aetcd.Client, alive: "_Liveness") -> None:
        """Beside a watch: ask a quiet etcd for progress, give up on a silent one."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(WATCH_PROGRESS_EVERY)
            if not alive.waiting:  # the consumer is busy with what came: not etcd's silence
                alive.heard = loop.time()
                continue
            quiet = loop.time() - alive.heard
            if quiet >= self._watch_silence:
                alive.given_up = f"the etcd watch was silent for {quiet:.1f}s"
                self._retire(client, f"sent nothing on a watch for {quiet:.1f}s")
                call.cancel()  # the watch's read ends, with given_up as the reason
                return
            if alive.created and quiet >= WATCH_PROGRESS_EVERY / 2:  # nothing since the last tick
                try:
                    await self._send(call, rpc.WatchRequest(progress_request=rpc.WatchProgressRequest()))
                except Unavailable as exc:
                    alive.given_up = str(exc)
                    call.cancel()
                    return

    async def _send(self, call, request) -> None:
        try:
            await asyncio.wait_for(call.write(request), self._watch_silence)
        except (grpc.aio.AioRpcError, asyncio.TimeoutError) as exc:
            raise Unavailable(f"etcd watch: {_reason(exc) or 'no answer'}") from exc
        except asyncio.CancelledError:
            if _cancelling():
                raise
            raise Unavailable("the etcd watch was closed") from None

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


def _reason(exc: BaseException | None) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.details() or exc.code().name
    return str(exc) if exc is not None else ""


def _cancelling() -> bool:
    """Whether the running task itself is being cancelled (not merely a call under it)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


@dataclass(slots=True)
class _Liveness:
    """What a watch and its watchdog share."""

    heard: float  # loop time etcd last sent something (or the consumer last asked for more)
    created: bool = False
    waiting: bool = False  # a read is waiting for etcd
    given_up: str = ""  # why the watchdog cancelled the call
