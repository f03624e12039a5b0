"""Waiting for an asyncio.Event or a time limit, whichever comes first: the agent's loops that
wait once per pass (each pod's worker, the session's writer, routes, iptables, the ingress proxy).

`asyncio.wait_for(event.wait(), t)` wraps the wait in a Task of its own on Python 3.11, with a
timer beside it, and on the time limit cancels that Task and waits for it: three extra turns of
the loop per pass. `asyncio.timeout` waits in the caller's own task. Every call yields to the
loop at least once, as wait_for did, so a loop whose pass never blocks cannot starve the others.
"""

from __future__ import annotations

import asyncio


async def woken(event: asyncio.Event, timeout: float) -> bool:
    """True once `event` is set (after one yield when it already is), False after `timeout` s."""
    if event.is_set() or timeout <= 0:
        await asyncio.sleep(0)
        return event.is_set()
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
