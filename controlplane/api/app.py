"""The aiohttp application: routing, lifecycle of the store and the watch cache."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from dataclasses import dataclass
from typing import AsyncIterator

from aiohttp import web

from ..resources import registry
from ..store import Store
from ..store.compactor import run_compactor
from . import discovery, errors, nodeproxy, openapi, watch
from .cache import WatchCache
from .handlers import Handlers
from .storage import ObjectStore, WriteOptions

log = logging.getLogger(__name__)

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass(frozen=True)
class ApiConfig:
    etcd_servers: tuple[str, ...]
    """etcd client URLs, tried in order."""
    compaction_interval: float = 300.0
    """Seconds between etcd compactions (history kept for at least one interval)."""


STORE = web.AppKey("store", Store)
CACHE = web.AppKey("cache", WatchCache)
OBJECTS = web.AppKey("objects", ObjectStore)


async def ensure_namespaces(objects: ObjectStore) -> None:
    info = registry.lookup("", "v1", "namespaces")
    assert info is not None
    for name in DEFAULT_NAMESPACES:
        if objects.cache.get(objects.key(info, "", name)) is None:
            try:
                await objects.create(info, "", {"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": name}}, WriteOptions())
            except errors.ApiError as exc:
                if exc.reason != "AlreadyExists":  # another API server made it first
                    raise


def build_app(config: ApiConfig) -> web.Application:
    app = web.Application(middlewares=[errors.status_middleware], client_max_size=4 * 1024 * 1024)
    handlers_box: dict[str, Handlers] = {}

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        store = Store(list(config.etcd_servers))
        await store.open()
        cache = WatchCache(store)
        await cache.start()
        objects = ObjectStore(store, cache)
        await ensure_namespaces(objects)
        app[STORE], app[CACHE], app[OBJECTS] = store, cache, objects
        handlers_box["h"] = Handlers(objects)
        compactor = asyncio.create_task(run_compactor(store, config.compaction_interval))
        yield
        compactor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await compactor
        await cache.stop()
        await store.close()

    async def resource(request: web.Request) -> web.StreamResponse:
        return await handlers_box["h"].dispatch(request)

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def end_watches(app: web.Application) -> None:
        watch.close_all()

    app.cleanup_ctx.append(lifecycle)
    # pods/log (and later pods/exec) go to the pod's node agent; subresources.py looks this
    # up by its string name, so a control plane without agents can leave it unset (503).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", web.NotAppKeyWarning)  # the string key is that contract
        app["node_proxy"] = nodeproxy.NodeProxy(lambda: app[OBJECTS])
    app.on_shutdown.append(end_watches)
    for path in ("/healthz", "/livez", "/readyz"):
        app.router.add_get(path, healthz)
    discovery.add_routes(app)
    openapi.add_routes(app)
    for prefix in ("/api/{version}/{tail:.+}", "/apis/{group}/{version}/{tail:.+}"):
        app.router.add_route("*", prefix, resource)
    return app
