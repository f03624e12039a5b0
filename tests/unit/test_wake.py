"""agent.wake.woken: an Event or a time limit, whichever first, always yielding once."""

from __future__ import annotations

import asyncio
import time

from agent.wake import woken


async def test_a_set_event_answers_at_once_but_lets_the_others_run_first():
    event, ran = asyncio.Event(), []
    event.set()
    asyncio.get_running_loop().call_soon(ran.append, "other")
    started = time.monotonic()
    assert await woken(event, 10) is True
    assert ran == ["other"] and time.monotonic() - started < 1


async def test_the_time_limit_answers_false_and_a_zero_one_after_a_yield():
    event, ran = asyncio.Event(), []
    started = time.monotonic()
    assert await woken(event, 0.05) is False
    assert 0.04 <= time.monotonic() - started < 1
    asyncio.get_running_loop().call_soon(ran.append, "other")
    assert await woken(event, 0) is False and await woken(event, -1) is False
    assert ran == ["other"]


async def test_setting_the_event_meanwhile_wakes_it_before_the_limit():
    event = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, event.set)
    started = time.monotonic()
    assert await woken(event, 10) is True
    assert time.monotonic() - started < 1


async def test_no_task_is_made_per_wait():
    event = asyncio.Event()
    before = len(asyncio.all_tasks())
    waiter = asyncio.create_task(woken(event, 10))
    await asyncio.sleep(0.01)
    assert len(asyncio.all_tasks()) == before + 1  # the waiter itself, nothing beside it
    event.set()
    assert await waiter is True


async def test_a_cancelled_wait_is_cancelled_not_timed_out():
    event = asyncio.Event()
    waiter = asyncio.create_task(woken(event, 10))
    await asyncio.sleep(0.01)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert waiter.cancelled()
