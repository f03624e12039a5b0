"""The scheduling queue with a fake clock: order, back-off, parking and flushing."""

from __future__ import annotations

import asyncio

from controlplane.scheduler.queue import SchedulingQueue


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_queue() -> tuple[SchedulingQueue, Clock]:
    clock = Clock()
    return SchedulingQueue(initial_backoff=1.0, max_backoff=10.0, unschedulable_timeout=30.0, clock=clock), clock


def test_pods_come_out_by_priority_then_arrival_once_each():
    q, _ = make_queue()
    for key, prio in (("a", 0), ("b", 10), ("c", 0), ("a", 0)):
        q.add(key, prio)
    assert q.pop_ready(10) == ["b", "a", "c"]
    assert q.pop_ready(10) == []


def test_batches_are_bounded():
    q, _ = make_queue()
    for i in range(5):
        q.add(f"p{i}")
    assert q.pop_ready(2) == ["p0", "p1"]
    assert q.pop_ready(10) == ["p2", "p3", "p4"]


def test_unschedulable_pods_wait_for_a_change_then_their_backoff():
    q, clock = make_queue()
    q.add("p")
    q.pop_ready(1)
    q.unschedulable("p")
    q.flush()
    assert q.where("p") == "unschedulable" and q.pop_ready(1) == []
    q.move_all()
    assert q.where("p") == "backoff"  # one failure: 1 s back-off
    clock.now += 1.0
    q.flush()
    assert q.pop_ready(1) == ["p"]


def test_backoff_doubles_and_is_capped():
    q, clock = make_queue()
    q.add("p")
    waits = []
    for _ in range(6):
        q.pop_ready(1)
        q.retry("p")
        start = clock.now
        while q.where("p") != "active":
            clock.now += 0.5
            q.flush()
        waits.append(clock.now - start)
    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_parked_pods_are_retried_after_the_timeout_even_without_changes():
    q, clock = make_queue()
    q.add("p")
    q.pop_ready(1)
    q.unschedulable("p")
    clock.now += 29
    q.flush()
    assert q.where("p") == "unschedulable"
    clock.now += 1
    q.flush()
    assert q.where("p") == "active"


def test_delete_forgets_everything():
    q, _ = make_queue()
    q.add("p")
    q.delete("p")
    assert q.pop_ready(5) == [] and len(q) == 0
    q.add("p")  # no back-off remembered
    assert q.pop_ready(5) == ["p"]


async def test_pop_batch_waits_for_work():
    q, _ = make_queue()
    waiter = asyncio.create_task(q.pop_batch(10, poll=0.05))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    q.add("p")
    assert await asyncio.wait_for(waiter, 5) == ["p"]
