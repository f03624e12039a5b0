"""The agent's event queue: repeats fold into a count, the queue is bounded (oldest dropped and
counted, the caller never blocks), unsent events go back in front, and the pod worker's scope
routes image-pull events to the right pod and container."""

from __future__ import annotations

import asyncio

from agent import events as ev
from controlplane.gateway import events as gateway_events
from controlplane.gateway.events import EventKey, EventWriter

POD = ev.Involved("default", "web-1", "uid-1")


def test_identical_repeats_fold_into_one_event_with_a_count():
    woken = []
    sink = ev.EventSink(wake=lambda: woken.append(1))
    for _ in range(3):
        sink.warning(POD.container("web"), "BackOff", "Back-off restarting failed container web")
    sink.normal(POD.container("web"), "Started", "Started container web")
    sink.warning(POD.container("sidecar"), "BackOff", "Back-off restarting failed container web")
    taken = sink.take()
    assert [(e.involved.field_path, e.reason, e.count) for e in taken] == [
        ("spec.containers{web}", "BackOff", 3), ("spec.containers{web}", "Started", 1),
        ("spec.containers{sidecar}", "BackOff", 1)]
    assert len(woken) == 5 and len(sink) == 0 and sink.take() == []


def test_a_full_queue_drops_the_oldest_and_counts_them():
    sink = ev.EventSink(limit=3)
    for i in range(5):
        sink.normal(POD, "Pulling", f"Pulling image \"img:{i}\"")
    sink.normal(POD, "Pulling", 'Pulling image "img:4"')  # a repeat of a queued one: no drop
    assert sink.dropped == 2
    assert [(e.message, e.count) for e in sink.take()] == [
        ('Pulling image "img:2"', 1), ('Pulling image "img:3"', 1), ('Pulling image "img:4"', 2)]


def test_unsent_events_go_back_in_front_and_fold_with_newer_repeats():
    sink = ev.EventSink(limit=3)
    sink.normal(POD, "Created", "Created container web")
    sink.normal(POD, "Started", "Started container web")
    unsent = sink.take()
    sink.normal(POD, "Killing", "Stopping container web")
    sink.normal(POD, "Started", "Started container web")
    sink.restore(unsent)
    assert [(e.reason, e.count) for e in sink.take()] == [("Created", 1), ("Started", 2), ("Killing", 1)]


def test_scope_routes_events_to_the_pod_and_container_of_the_caller():
    sink = ev.EventSink()
    other = ev.EventSink()
    ev.emit_in_scope("Normal", "Pulling", "outside any pod")  # no scope: nothing, no error

    async def pull(name: str, target: ev.EventSink, pod: ev.Involved) -> None:
        with ev.scope(target, pod), ev.container(name):
            await asyncio.sleep(0)  # another pod's worker runs meanwhile
            ev.emit_in_scope("Normal", "Pulling", f"for {name}")
        ev.emit_in_scope("Normal", "Pulling", "after the scope")

    async def both() -> None:
        await asyncio.gather(pull("web", sink, POD), pull("db", other, ev.Involved("prod", "db-0", "uid-2")))
    asyncio.run(both())
    [mine], [theirs] = sink.take(), other.take()
    assert (mine.involved, mine.message) == (POD.container("web"), "for web")
    assert theirs.involved == ev.Involved("prod", "db-0", "uid-2", "spec.containers{db}")


def test_durations_print_as_the_kubelet_prints_them():
    assert [ev.go_duration(s) for s in (0.0421, 1.2, 2.0, 75.25)] == ["42ms", "1.2s", "2s", "1m15.25s"]


# -- the gateway's side: one write per distinct event per flush, a rate per node ---------------

def key(node: str, i: int) -> EventKey:
    return EventKey(node, "default", f"web-{i}", f"uid-{i}", "spec.containers{web}", "Normal", "Started",
                    "Started container web")


def test_the_gateway_folds_repeats_and_limits_each_node_to_its_rate(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(gateway_events.time, "monotonic", lambda: now[0])
    writer = EventWriter(None, node_qps=2, node_burst=3)  # type: ignore[arg-type]  # no flush here
    for i in range(5):
        writer.submit(key("node-a", i), {}, 1)
    writer.submit(key("node-a", 0), {}, 4)  # a repeat of a pending event: folded, not limited
    writer.submit(key("node-b", 0), {}, 1)  # another node has its own budget
    assert (len(writer), writer.dropped) == (4, 2)
    assert writer._pending[key("node-a", 0)][1] == 5
    now[0] += 1.0  # two more a second
    for i in range(5, 9):
        writer.submit(key("node-a", i), {}, 1)
    assert (len(writer), writer.dropped) == (6, 4)
