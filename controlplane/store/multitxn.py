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


def _nested(seal: Seal, w: Write) -> rpc.RequestOp:
    k = w.key.encode()
    if w.expected_revision:
        compare = rpc.Compare(result=rpc.Compare.EQUAL, target=rpc.Compare.MOD, key=k,
                              mod_revision=w.expected_revision)
        put = rpc.PutRequest(key=k, value=seal(w.key, w.value), ignore_lease=True)
    else:
        compare = rpc.Compare(result=rpc.Compare.EQUAL, target=rpc.Compare.CREATE, key=k, create_revision=0)
        put = rpc.PutRequest(key=k, value=seal(w.key, w.value), lease=w.lease)
    return rpc.RequestOp(request_txn=rpc.TxnRequest(
        compare=[compare], success=[rpc.RequestOp(request_put=put)],
        failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k, keys_only=True))]))


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
    return rpc.TxnRequest(success=[_nested(seal, w) for w in chunk])


def outcomes(chunk: list[Write], resp: rpc.TxnResponse) -> Outcomes:
    """Each write's revision, or why it was not made: KeyExists, RevisionMismatch, KeyNotFound."""
    out: Outcomes = []
    for w, r in zip(chunk, resp.responses):
        nested = r.response_txn
        if nested.succeeded:
            out.append(resp.header.revision)
            continue
        kvs = nested.responses[0].response_range.kvs
        if not w.expected_revision:
            out.append(KeyExists(w.key))
        elif not kvs:
            out.append(KeyNotFound(w.key))
        else:
            out.append(RevisionMismatch(w.key, w.expected_revision, kvs[0].mod_revision))
    return out
