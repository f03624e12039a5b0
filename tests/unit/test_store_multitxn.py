"""How a batch of writes is cut into etcd transactions: under etcd's op and size limits,
order kept, nothing dropped."""

from __future__ import annotations

from controlplane.store import multitxn
from controlplane.store.multitxn import Write


def test_chunks_keep_order_and_stay_under_the_op_limit():
    writes = [Write(f"/k/{i}", b"x") for i in range(multitxn.MAX_ITEMS * 2 + 1)]
    chunks = multitxn.chunks(writes)
    assert [len(c) for c in chunks] == [multitxn.MAX_ITEMS, multitxn.MAX_ITEMS, 1]
    assert [w for c in chunks for w in c] == writes
    assert multitxn.MAX_ITEMS + 3 <= 128  # the outer ops plus one nested level's (etcd's default)


def test_chunks_stay_under_the_request_size_limit():
    big = multitxn.MAX_BYTES // 3 + 1
    writes = [Write(f"/k/{i}", b"x" * big) for i in range(5)]
    chunks = multitxn.chunks(writes)
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert all(sum(len(w.value) for w in c) <= multitxn.MAX_BYTES for c in chunks)


def test_one_value_larger_than_the_limit_still_goes_alone():
    writes = [Write("/k/a", b"x"), Write("/k/b", b"x" * (multitxn.MAX_BYTES + 1)), Write("/k/c", b"x")]
    assert [len(c) for c in multitxn.chunks(writes)] == [1, 1, 1]


def test_no_writes_no_transactions():
    assert multitxn.chunks([]) == []
