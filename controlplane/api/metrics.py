"""The API server's Prometheus metrics, with kube-apiserver's names and labels, and `/metrics`.

* `apiserver_request_total{verb,dry_run,group,version,resource,subresource,scope,component,code}`
  and `apiserver_request_duration_seconds` (not for WATCH and CONNECT, which last as long as
  the client wants), counted by one middleware at the edge of every request.
* `apiserver_longrunning_requests` (watches and exec/attach/port-forward open now) and
  `apiserver_registered_watchers{group,version,kind}`, `apiserver_storage_objects{resource}`,
  `apiserver_watch_cache_events` and `apiserver_watch_cache_resource_version`, read from the
  watch cache when scraped (nothing is counted per event).
* `GET /metrics`: this process's registry, then the components' (componentsproc.py), behind
  authentication and RBAC as a non-resource URL (the system:monitoring role).

Labels never name an object: a request's labels are its verb, kind and scope, so the
number of series is bounded by the kinds served, whatever the number of objects.
"""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable, Iterator

from aiohttp import web
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .. import exposition
from ..resources import registry
from .cache import WatchCache
from .errors import ApiError
from .paths import parse

REGISTRY = exposition.SERVER
_LABELS = ("verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component")

REQUESTS = Counter("apiserver_request_total", "Counter of apiserver requests broken out for each verb, dry run "
                   "value, group, version, resource, scope, component, and HTTP response code.",
                   _LABELS + ("code",), registry=REGISTRY)
DURATION = Histogram("apiserver_request_duration_seconds", "Response latency distribution in seconds for "
                     "each verb, dry run value, group, version, resource, subresource, scope and component.",
                     _LABELS, registry=REGISTRY,
                     buckets=(0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6,
                              8, 10, 15, 20, 30, 45, 60))
LONGRUNNING = Gauge("apiserver_longrunning_requests", "Gauge of all active long-running apiserver "
                    "requests broken out by verb, group, version, resource, scope and component.",
                    ("verb", "group", "version", "resource", "subresource", "scope", "component"),
                    registry=REGISTRY)

_STREAMING = ("exec", "attach", "portforward", "proxy")
Labels = tuple[str, ...]


def _watching(request: web.Request) -> bool:
    return (request.query.get("watch") or "").lower() in ("1", "true")


def labels_of(request: web.Request) -> Labels:
    """(verb, dry_run, group, version, resource, subresource, scope, component) of a request."""
    method, path = request.method, request.path
    dry_run = "All" if request.query.get("dryRun") == "All" else ""
    try:
        target = parse(path) if path.startswith(("/api/", "/apis/")) else None
    except ApiError:
        target = None
    if target is None:  # discovery, health, /metrics, openapi: non-resource requests
        return (method, dry_run, "", "", "", "", "", "apiserver")
    info, sub = target.info, target.subresource
    if sub in _STREAMING or (sub == "" and target.watch):
        verb = "CONNECT" if sub else "WATCH"
    elif method == "GET" and not target.name and not sub:
        verb = "WATCH" if _watching(request) else "LIST"
    elif method == "DELETE" and not target.name:
        verb = "DELETECOLLECTION"
    elif method == "PATCH" and request.content_type == "application/apply-patch+yaml":
        verb = "APPLY"
    else:
        verb = method
    scope = "resource" if target.name else "namespace" if target.namespace else "cluster"
    return (verb, dry_run, info.group, info.version, info.resource, sub, scope, "apiserver")


class _Series:
    """The labelled children of one label set, found once and kept: `.labels()` on every
    request would hash and lock for each family."""

    __slots__ = ("duration", "codes", "labels")

    def __init__(self, labels: Labels) -> None:
        self.labels = labels
        self.duration = DURATION.labels(*labels)
        self.codes: dict[int, Any] = {}

    def count(self, code: int) -> None:
        counter = self.codes.get(code)
        if counter is None:
            counter = self.codes[code] = REQUESTS.labels(*self.labels, str(code))
        counter.inc()


_series: dict[Labels, _Series] = {}


def _series_of(labels: Labels) -> _Series:
    series = _series.get(labels)
    if series is None:
        series = _series[labels] = _Series(labels)
    return series


@web.middleware
async def middleware(request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Counts and times every request; outermost, so it sees the code clients see."""
    started = time.perf_counter()
    labels = labels_of(request)
    long_running = labels[0] in ("WATCH", "CONNECT")
    gauge = LONGRUNNING.labels(labels[0], *labels[2:]) if long_running else None
    if gauge is not None:
        gauge.inc()
    code = 500
    try:
        response = await handler(request)
        code = response.status
        return response
    except web.HTTPException as exc:
        code = exc.status
        raise
    finally:
        series = _series_of(labels)
        series.count(code)
        if gauge is not None:
            gauge.dec()
        else:
            series.duration.observe(time.perf_counter() - started)


class CacheCollector(Collector):
    """The watch cache's size, read at scrape time."""

    def __init__(self, cache: Callable[[], WatchCache | None]) -> None:
        self.cache = cache

    def collect(self) -> Iterator[GaugeMetricFamily]:
        cache = self.cache()
        if cache is None:
            return
        objects, watchers, history = cache.sizes()
        stored = GaugeMetricFamily("apiserver_storage_objects", "Number of stored objects at the time of "
                                   "last check split by kind.", labels=["resource"])
        for resource, n in sorted(objects.items()):
            stored.add_metric([resource], n)
        yield stored
        watching = GaugeMetricFamily("apiserver_registered_watchers", "Number of currently registered "
                                     "watchers for a given resources", labels=["group", "version", "kind"])
        for resource, n in sorted(watchers.items()):
            info = _by_storage_name(resource)
            watching.add_metric([info[0], info[1], info[2]], n)
        yield watching
        yield GaugeMetricFamily("apiserver_watch_cache_events", "Number of recent events the watch cache "
                                "keeps for watches that resume from a resourceVersion.", value=history)
        yield GaugeMetricFamily("apiserver_watch_cache_resource_version", "Current resource version of "
                                "the watch cache.", value=cache.revision)


def _by_storage_name(resource: str) -> tuple[str, str, str]:
    for info in registry.resources():
        if info.resource == resource:
            return info.group, info.version, info.kind
    return "", "", resource


_COLLECTORS: list[CacheCollector] = []


def collect_cache(cache: Callable[[], WatchCache | None]) -> None:
    """Report this watch cache's sizes (the last API server started in this process wins)."""
    if _COLLECTORS:
        _COLLECTORS[0].cache = cache
        return
    _COLLECTORS.append(CacheCollector(cache))
    REGISTRY.register(_COLLECTORS[0])


ComponentsSource = Callable[[], Awaitable[bytes]]
COMPONENTS = web.AppKey("metrics_components", list)
"""A one-item list holding where the components' exposition comes from (None: not here)."""


SERVER_SOURCE = web.AppKey("metrics_server", list)
"""A one-item list: where the API server's own families come from (None: this process's registry;
with several API workers, all of theirs, labelled: peers.py)."""


async def serve(request: web.Request) -> web.Response:
    """GET /metrics: the API server's families, then the components' (when they run)."""
    server = request.app[SERVER_SOURCE][0] if SERVER_SOURCE in request.app else None
    body = await server() if server is not None else exposition.render(REGISTRY)
    source = request.app[COMPONENTS][0] if COMPONENTS in request.app else None
    if source is not None:
        body += await source()
    return web.Response(body=body, headers={"Content-Type": exposition.CONTENT_TYPE})


def add_routes(app: web.Application, server: ComponentsSource | None = None) -> None:
    app[COMPONENTS] = [None]
    app[SERVER_SOURCE] = [server]
    app.router.add_get("/metrics", serve)


def set_components_source(app: web.Application, source: ComponentsSource | None) -> None:
    """Append the scheduler's, controllers' and gateway's metrics to this server's /metrics."""
    app[COMPONENTS][0] = source
