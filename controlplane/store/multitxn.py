"""Many independent single-key writes in one etcd transaction, each with its own outcome.

A plain etcd transaction is all or nothing: one stale compare fails every write in it. Here
each write is a nested transaction (etcd >= 3.3) with its own compare, so a batch is one
raft proposal and one revision, yet a failed compare-and-swap fails only its own write.
etcd refuses a transaction with more than --max-txn-ops (128 by default) operations at any
level, counting the nested ones against the outer budget, and one that touches a key twice:
callers give distinct keys, and `Store.commit` chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from aetcd import rpc

from .errors import KeyExists, KeyNotFound, RevisionMismatch, StoreError

MAX_ITEMS = 96
"""Writes per transaction: the outer level's ops plus one nested level's (at most 3 each)
stay well under etcd's default 128."""
MAX_BYTES = 1024 * 1024
"""Bytes of values per transaction: under etcd's default 1.5 MiB request limit."""


@dataclass(frozen=True, slots=True)
class Write:
    """Create `key` (expected_revision 0: only if absent) or replace it at `expected_revision`."""

    key: str
    value: bytes
    expected_revision: int = 0
    lease: int = 0


Seal = Callable[[str, bytes], bytes]
Outcomes = list[int | StoreError]
"""Each write's revision, or why it was not made."""


_EQUAL, _MOD, _CREATE = rpc.Compare.EQUAL, rpc.Compare.MOD, rpc.Compare.CREATE


def _cas(txn: rpc.TxnRequest, seal: Seal, w: Write) -> None:
    """Fill the empty `txn` with `w`'s compare-and-swap; on failure it reads the key's revision.

    Built in place, not from constructors: a message passed to a constructor is copied, value
    and all, at every level of nesting (7 -> 2.3 us per write, the same bytes on the wire)."""
    k = w.key.encode()
    put = txn.success.add().request_put
    put.key = k
    put.value = seal(w.key, w.value)
    if w.expected_revision:
        txn.compare.add(result=_EQUAL, target=_MOD, key=k, mod_revision=w.expected_revision)
        put.ignore_lease = True
    else:
        txn.compare.add(result=_EQUAL, target=_CREATE, key=k, create_revision=0)
        put.lease = w.lease
    absent_or_moved = txn.failure.add().request_range
    absent_or_moved.key = k
    absent_or_moved.keys_only = True


def full(count: int, size: int, w: Write) -> bool:
    """Whether a transaction of `count` writes and `size` bytes of values must not take `w` too
    (a first write always goes, however large)."""
    return count >= MAX_ITEMS or (count > 0 and size + len(w.value) > MAX_BYTES)


def chunks(writes: list[Write]) -> list[list[Write]]:
    """`writes` in order, cut into transactions etcd accepts."""
    out: list[list[Write]] = []
    size = 0
    for w in writes:
        if not out or full(len(out[-1]), size, w):
            out.append([])
            size = 0
        out[-1].append(w)
        size += len(w.value)
    return out


def request(chunk: list[Write], seal: Seal) -> rpc.TxnRequest:
    """One chunk's transaction: every write a nested compare-and-swap of its own."""
    req = rpc.TxnRequest()
    for w in chunk:
        _cas(req.success.add().request_txn, seal, w)
    return req


def single(w: Write, seal: Seal) -> rpc.TxnRequest:
    """`w` alone, in a transaction of its own (nothing else in flight to go with it)."""
    txn = rpc.TxnRequest()
    _cas(txn, seal, w)
    return txn


def outcome(w: Write, txn: rpc.TxnResponse, revision: int) -> int | StoreError:
    """`w`'s revision (that of the transaction it went in), or why its compare-and-swap failed."""
    if txn.succeeded:
        return revision
    kvs = txn.responses[0].response_range.kvs
    if not w.expected_revision:
        return KeyExists(w.key)
    if not kvs:
        return KeyNotFound(w.key)
    return RevisionMismatch(w.key, w.expected_revision, kvs[0].mod_revision)


def outcomes(chunk: list[Write], resp: rpc.TxnResponse) -> Outcomes:
    """Each write's revision, or why it was not made: KeyExists, RevisionMismatch, KeyNotFound."""
    return [outcome(w, r.response_txn, resp.header.revision) for w, r in zip(chunk, resp.responses)]
