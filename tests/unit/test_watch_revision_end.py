"""A watch stream that ends (its timeout) right after an event sends the rest of that event's
revision first: a batch transaction stores many objects at one revision, and the client will
resume after the last resourceVersion it saw."""

from __future__ import annotations

from controlplane.api import watch
from controlplane.api.cache import Entry, Event, Subscription
from controlplane.api.request import ListOptions


class _Resp:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    async def write(self, data: bytes) -> None:
        self.written.append(data)


class _Enc:
    def encode(self, type_: str, entry: Entry, shared: Event | None) -> bytes:
        return f"{type_} {entry.name} {entry.rev}\n".encode()


def _event(name: str, rev: int) -> Event:
    obj = {"metadata": {"name": name, "namespace": "default", "resourceVersion": str(rev)}}
    return Event("ADDED", Entry(f"/registry/pods/default/{name}", "pods", "default", name, obj, rev), None)


async def test_the_rest_of_the_last_revision_is_sent_and_nothing_after_it():
    sub = Subscription("pods", "")
    for ev in (_event("b", 5), _event("c", 5), _event("d", 6), _event("e", 6)):
        sub.offer(ev)
    resp = _Resp()
    await watch._end_revision(resp, sub, ListOptions(), _Enc(), 5)  # type: ignore[arg-type]
    assert b"".join(resp.written) == b"ADDED b 5\nADDED c 5\n"


async def test_nothing_is_sent_when_the_revision_was_complete():
    sub = Subscription("pods", "")
    sub.offer(_event("d", 6))
    resp = _Resp()
    await watch._end_revision(resp, sub, ListOptions(), _Enc(), 5)  # type: ignore[arg-type]
    await watch._end_revision(resp, sub, ListOptions(), _Enc(), 0)  # type: ignore[arg-type]
    assert resp.written == []
