"""Read-your-writes across an API server's worker processes.

Every worker answers a write only once its own watch cache has seen it (storage.py), and
records the write's revision in shared memory (written.py). Before serving a request on the
resource paths, a worker waits until its cache has reached the highest revision any worker
answered, as kube-apiserver's cache waits for a requested resourceVersion; past SYNC_WAIT the
request fails with kube's 504 Timeout (retry), never with an older state than the client saw.
Likewise it waits for its CrdController to serve the CRDs as its cache has them, so a kind a
client saw Established through one worker is served by all. In step (the usual case) it costs
a few comparisons.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web

from .cache import SYNC_WAIT, CacheBehind, WatchCache
from .crds import CrdController
from .written import WrittenRevisions

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_RESOURCE_PATHS = ("/api/", "/apis/")


def middleware(written: WrittenRevisions, cache: Callable[[], WatchCache], crds: Callable[[], CrdController]):
    @web.middleware
    async def caught_up(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(_RESOURCE_PATHS):
            need, watch_cache = written.highest(), cache()
            if need > watch_cache.revision and not await watch_cache.wait_for(need, SYNC_WAIT):
                raise CacheBehind(need, watch_cache.revision)
            # A CRD change the cache has is served once this worker's CrdController took it.
            controller = crds()
            if not controller.settled():
                await controller.wait_settled(SYNC_WAIT)
        return await handler(request)
    return caught_up
