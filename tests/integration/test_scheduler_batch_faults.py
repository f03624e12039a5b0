"""Batched bindings under faults: a scheduler stopped, or the API server restarted, while a
batch of bindings is in flight converges to every pod bound exactly once, and no pod is ever
half bound (a nodeName without its PodScheduled condition, or the other way round)."""

from __future__ import annotations

from controlplane.scheduler import Scheduler

from ..cluster import wait_until
from .test_scheduler import FAST, PODS, create_node, create_pod, node, pod

N = 150


async def _all_bound_once(client) -> dict[str, str]:
    code, body = await client.request("GET", PODS)
    assert code == 200
    placed = {}
    for p in body["items"]:
        name, where = p["metadata"]["name"], p["spec"].get("nodeName", "")
        cond = next((c for c in p.get("status", {}).get("conditions") or [] if c["type"] == "PodScheduled"), {})
        assert bool(where) == (cond.get("status") == "True"), p  # never half bound
        placed[name] = where
    return placed


async def _setup(client) -> list[str]:
    for n in ("node-1", "node-2", "node-3"):
        await create_node(client, node(n, pods="110"))
    names = [f"f-{i}" for i in range(N)]
    for name in names:
        await create_pod(client, pod(name, cpu="10m", memory="1Mi"))
    return names


async def _converged(client, names: list[str]) -> dict[str, str]:
    async def done():
        placed = await _all_bound_once(client)
        return placed if all(placed.get(n) for n in names) else None
    return await wait_until(done, timeout=60)


async def test_a_scheduler_stopped_mid_batch_is_succeeded_by_one_that_binds_the_rest(api, client):
    names = await _setup(client)
    first = Scheduler(api.url, FAST)
    await first.start()
    try:
        await wait_until(lambda: first.in_flight > 0, timeout=30, interval=0.001)
    finally:
        await first.stop()  # its batch is cut off wherever it was
    partial = await _all_bound_once(client)
    second = Scheduler(api.url, FAST)
    await second.start()
    try:
        placed = await _converged(client, names)
        # What the first one bound stayed where it was; the second bound the rest, once each.
        assert all(placed[n] == where for n, where in partial.items() if where)
        assert not second.stats["bind_errors"]
        # The server may still commit the cut-off batch after `partial` was read (a client that
        # goes away does not cancel its request's handler): the second scheduler's bindings of
        # those pods are conflicts, and the pods stay where the first one put them.
        late = second.stats["bind_conflicts"]
        assert second.stats["scheduled"] + late + sum(1 for w in partial.values() if w) >= N
    finally:
        await second.stop()


async def test_an_api_server_restarted_mid_batch_loses_no_binding(api, client):
    names = await _setup(client)
    scheduler = Scheduler(api.url, FAST)
    await scheduler.start()
    try:
        await wait_until(lambda: scheduler.in_flight > 0, timeout=30, interval=0.001)
        await api.stop()
        await api.start()
        placed = await _converged(client, names)
        assert set(placed) == set(names)
        # Each pod is bound once: a retried binding of a pod the cut-off batch had bound is 409,
        # which the scheduler takes as "bound elsewhere" and leaves alone.
        await wait_until(lambda: not scheduler.in_flight)
        assert await _all_bound_once(client) == placed
    finally:
        await scheduler.stop()
