"""The aiohttp application: routing, lifecycle of the store and the watch cache."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from pathlib import Path
from typing import AsyncIterator

from aiohttp import web

from ..auth import satokens
from ..auth.authn import Authenticator, Lookup, ServiceAccountTokens, load_token_file
from ..store import Store, keys
from ..store import encryption
from ..store.compactor import run_compactor
from pyctl_proto import node_pb2 as pb

from .. import exposition
from . import batch, consistency, discovery, errors, health, metrics, nodeproxy, openapi, plan, resourcemetrics, \
    tokens, watch
from .apiendpoints import ApiEndpoints
from .access import authorizer as authz, review
from .access.middleware import auth_middleware
from .agentchannel import AgentTls
from .cache import WatchCache
from .config import ApiConfig
from .crds import CrdController
from .exec import ExecProxy
from .handlers import Handlers
from .peers import Peers, WorkerLink
from .portforward import PortForwardProxy
from .startup import ensure_namespaces, ensure_policy
from .storage import ObjectStore
from .usagestore import UsageStore
from .written import WrittenRevisions

log = logging.getLogger(__name__)

STORE = web.AppKey("store", Store)
CACHE = web.AppKey("cache", WatchCache)
OBJECTS = web.AppKey("objects", ObjectStore)
CRDS = web.AppKey("crds", CrdController)


def authenticator(config: ApiConfig, lookup: Lookup) -> Authenticator:
    """No authenticator configured: every request is let through as before (opt-in auth)."""
    static = load_token_file(config.token_auth_file) if config.token_auth_file else {}
    files = ([config.service_account_signing_key_file] if config.service_account_signing_key_file else []) \
        + list(config.service_account_key_files)
    accounts = None
    if files:
        public = satokens.load_public_keys(Path(f).read_bytes() for f in files)
        accounts = ServiceAccountTokens(satokens.Verifier(public, (config.service_account_issuer,)),
                                        config.audiences, lookup)
    return Authenticator(static, bool(config.client_ca_file), config.loopback_token, accounts)


def token_issuer(config: ApiConfig) -> tokens.TokenIssuer | None:
    if not config.service_account_signing_key_file:
        return None
    with open(config.service_account_signing_key_file, "rb") as f:
        signer = satokens.Signer(f.read(), config.service_account_issuer)
    return tokens.TokenIssuer(signer, config.audiences, config.service_account_max_token_expiration)


def build_app(config: ApiConfig, link: WorkerLink | None = None) -> web.Application:
    """The API server; with `link`, one of several worker processes serving one port (peers.py):
    reads wait for every worker's answered writes, and only worker 0 keeps the server's own
    bookkeeping (bootstrap objects, compaction, the endpoint Lease)."""
    def lookup(resource: str, namespace: str, name: str) -> dict | None:
        entry = app[CACHE].get(keys.object_key(resource, namespace or None, name))
        return entry.obj if entry is not None else None

    authn = authenticator(config, lookup)
    written = WrittenRevisions(link.written_fd, link.workers, link.index) if link is not None else None
    caught_up = [consistency.middleware(written, lambda: app[CACHE], lambda: app[CRDS])] \
        if written is not None else []
    app = web.Application(client_max_size=4 * 1024 * 1024, middlewares=[
        metrics.middleware, errors.status_middleware, *caught_up,
        auth_middleware(authn, lambda: app[authz.AUTHORIZER])])
    primary = link is None or link.primary
    usage = UsageStore()
    peers = None if link is None else Peers(
        link, lambda: exposition.render(metrics.REGISTRY), lambda: app[metrics.COMPONENTS][0],
        lambda raw: usage.ingest(_batch(raw)))
    app[tokens.AUTHENTICATOR] = authn
    issuer = token_issuer(config)
    if issuer is not None:
        app[tokens.ISSUER] = issuer
    handlers_box: dict[str, Handlers] = {}

    # Read the keys before serving anything: a bad file stops the start with its reason.
    transformer = encryption.load(config.encryption_provider_config) \
        if config.encryption_provider_config else None

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        store = Store(list(config.etcd_servers), config.etcd_request_timeout, transformer,
                      watch_silence=config.etcd_watch_silence)
        await store.open()
        cache = WatchCache(store)
        await cache.start()
        objects = ObjectStore(store, cache, event_ttl=config.event_ttl,
                              service_cidr=config.service_cluster_ip_range,
                              node_port_range=config.service_node_port_range)
        objects.service_account_tokens = issuer is not None
        if written is not None:
            objects.answered = written.publish
        if primary:  # the other workers start once it serves: all this exists by then
            await ensure_namespaces(objects)
        crds = CrdController(objects)
        await crds.start()
        if config.authorization_mode == "RBAC" and primary:
            await ensure_policy(objects)
        if peers is not None:
            await peers.start()
        app[STORE], app[CACHE], app[OBJECTS], app[CRDS] = store, cache, objects, crds
        app[authz.AUTHORIZER] = authz.build(config.authorization_mode, cache)
        handlers_box["h"] = Handlers(objects)
        tasks: list[asyncio.Task] = []
        api_endpoints = None
        if primary:
            tasks.append(asyncio.create_task(run_compactor(store, config.compaction_interval)))
            advertise = (config.advertise_address, config.advertise_port) if config.advertise_address else None
            api_endpoints = ApiEndpoints(objects, config.service_cluster_ip_range, advertise,
                                         interval=config.endpoint_reconcile_interval)
            await api_endpoints.ensure_service()  # before serving: nobody else takes its address
            tasks.append(asyncio.create_task(api_endpoints.run()))
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if api_endpoints is not None:
            await api_endpoints.withdraw()
        if peers is not None:
            await peers.stop()
        await crds.stop()
        await cache.stop()
        await store.close()

    async def resource(request: web.Request) -> web.StreamResponse:
        return await handlers_box["h"].dispatch(request)

    async def end_watches(app: web.Application) -> None:
        watch.close_all()

    app.cleanup_ctx.append(lifecycle)
    # pods/log, exec and portforward go to the pod's node agent; subresources.py looks these
    # up by their string names, so a control plane without agents can leave them unset (503).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", web.NotAppKeyWarning)  # the string key is that contract
        agents = AgentTls.from_config(config)
        app["node_proxy"] = nodeproxy.NodeProxy(lambda: app[OBJECTS], agents)
        app["exec_proxy"] = ExecProxy(lambda: app[OBJECTS], agents)
        app["portforward_proxy"] = PortForwardProxy(lambda: app[OBJECTS], agents)
    app.on_shutdown.append(end_watches)
    health.add_routes(app, health.checks(lambda: app[STORE], lambda: app[CACHE]))
    discovery.add_routes(app)
    metrics.add_routes(app, peers.metrics if peers is not None else None)
    if peers is not None and not primary:  # the components run beside worker 0
        metrics.set_components_source(app, peers.components_metrics)
    metrics.collect_cache(lambda: app.get(CACHE))
    resourcemetrics.add_routes(app, usage, lambda: app[CACHE],  # metrics.k8s.io, from memory
                               peers.relay_usage if peers is not None else None)
    openapi.add_routes(app)
    review.add_routes(app)
    plan.add_routes(app, lambda: app[OBJECTS])
    batch.add_routes(app, lambda: app[OBJECTS])  # the components' batched writes
    tokens.add_routes(app)
    for prefix in ("/api/{version}/{tail:.+}", "/apis/{group}/{version}/{tail:.+}"):
        app.router.add_route("*", prefix, resource)
    return app


def _batch(raw: bytes) -> pb.NodeMetricsBatch:
    batch = pb.NodeMetricsBatch()
    batch.ParseFromString(raw)  # a sibling worker's copy of a report it decoded already
    return batch
