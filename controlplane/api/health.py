"""/livez, /readyz and /healthz: named checks, answered as kube-apiserver answers them.

* /livez: is this process itself working? `ping`, and `watch-cache` (the cache's loop runs).
  A failing livez means "restart me"; etcd being gone is not a reason to restart.
* /readyz (and the older /healthz): can this server answer requests right now? `ping`,
  `etcd` (a quorum read answers within ETCD_CHECK_TIMEOUT) and `watch-cache` (its etcd watch is
  up and it has caught up with etcd's revision).

`?verbose` lists every check as `[+]name ok` / `[-]name failed: reason withheld`, `?exclude=name`
leaves one out, `/readyz/etcd` runs one alone. All pass: 200 (`ok`, or the list); any fails: 500
with the list, and the reasons go to the log, as kube-apiserver does.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from aiohttp import web

from ..store import Store, StoreError
from .cache import WatchCache

log = logging.getLogger(__name__)

ETCD_CHECK_TIMEOUT = 2.0  # kube-apiserver's --etcd-healthcheck-timeout
CACHE_CATCH_UP = 2.0  # seconds the cache may take to reach the revision etcd just reported

Check = Callable[[], Awaitable[None]]  # raises CheckFailed (or a StoreError) when failing


class CheckFailed(Exception):
    pass


async def ping() -> None:
    return None


def checks(store: Callable[[], Store], cache: Callable[[], WatchCache]) -> dict[str, dict[str, Check]]:
    """The named checks of each endpoint; `store` and `cache` are looked up at request time."""

    async def etcd() -> None:
        # One retry: a stopped member fails the first try, and the store moves on to the next.
        try:
            await store().revision(timeout=ETCD_CHECK_TIMEOUT)
        except StoreError:
            await store().revision(timeout=ETCD_CHECK_TIMEOUT)

    async def cache_current() -> None:
        watch_cache = cache()
        if not watch_cache.watching(within=store().watch_silence):
            raise CheckFailed("the watch cache's etcd watch is not established")
        rev = await store().revision(timeout=ETCD_CHECK_TIMEOUT)
        if not await watch_cache.wait_for(rev, CACHE_CATCH_UP):
            raise CheckFailed(f"the watch cache is at revision {watch_cache.revision}, etcd at {rev}")

    async def cache_running() -> None:
        trouble = cache().running()
        if trouble:
            raise CheckFailed(trouble)

    return {
        "livez": {"ping": ping, "watch-cache": cache_running},
        "readyz": {"ping": ping, "etcd": etcd, "watch-cache": cache_current},
        "healthz": {"ping": ping, "etcd": etcd, "watch-cache": cache_current},
    }


async def _failure(check: Check) -> str:
    try:
        await check()
    except (CheckFailed, StoreError, asyncio.TimeoutError) as exc:
        return str(exc) or type(exc).__name__
    return ""


def _endpoint(name: str, named: dict[str, Check]):
    async def handle(request: web.Request) -> web.Response:
        excluded = set(request.query.getall("exclude", []))
        lines, failed = [], []
        for check_name, check in named.items():
            if check_name in excluded:
                lines.append(f"[+]{check_name} excluded: ok")
                continue
            reason = await _failure(check)
            if reason:
                failed.append(check_name)
                log.warning("%s check %s failed: %s", name, check_name, reason)
                lines.append(f"[-]{check_name} failed: reason withheld")
            else:
                lines.append(f"[+]{check_name} ok")
        for unknown in sorted(excluded - set(named)):
            lines.append(f"warn: some health checks cannot be excluded: no matches for \"{unknown}\"")
        if failed:
            return web.Response(status=500, text="\n".join(lines) + f"\n{name} check failed\n")
        if "verbose" not in request.query:
            return web.Response(text="ok")
        return web.Response(text="\n".join(lines) + f"\n{name} check passed\n")

    async def single(request: web.Request) -> web.Response:
        check = named.get(request.match_info["check"])
        if check is None:
            return web.Response(status=404, text="404 page not found\n")
        reason = await _failure(check)
        if reason:
            log.warning("%s check %s failed: %s", name, request.match_info["check"], reason)
            return web.Response(status=500, text=f"internal server error: {reason}\n")
        return web.Response(text="ok")

    return handle, single


def add_routes(app: web.Application, named_checks: dict[str, dict[str, Check]]) -> None:
    for name, named in named_checks.items():
        handle, single = _endpoint(name, named)
        app.router.add_get(f"/{name}", handle)
        app.router.add_get(f"/{name}/{{check}}", single)
