"""The aiohttp application: routing, lifecycle of the store and the watch cache."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from dataclasses import dataclass
from typing import AsyncIterator

from aiohttp import web

from ..auth import authorizer as authz, bootstrap, review
from ..auth.authn import Authenticator, load_token_file
from ..auth.middleware import auth_middleware
from ..resources import registry
from ..store import Store
from ..store import encryption
from ..store.compactor import run_compactor
from . import discovery, errors, nodeproxy, openapi, watch
from .cache import WatchCache
from .agentchannel import AgentTls
from .exec import ExecProxy
from .portforward import PortForwardProxy
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
    event_ttl: int = 3600
    """Seconds an Event is kept after it was created (etcd deletes it through a lease)."""
    encryption_provider_config: str | None = None
    """A kube EncryptionConfiguration file: the resources (Secrets) sealed at rest, and the keys."""
    tls_cert_file: str | None = None
    """The serving certificate (PEM); with tls_private_key_file, the API serves HTTPS only."""
    tls_private_key_file: str | None = None
    client_ca_file: str | None = None
    """CA bundle that client certificates are verified against (CN = user, O = groups)."""
    token_auth_file: str | None = None
    """Static bearer tokens, kube-apiserver's CSV: token,user,uid,"group1,group2"."""
    loopback_token: str | None = None
    """A secret the in-process components present (user system:apiserver, group system:masters)."""
    authorization_mode: str = "AlwaysAllow"
    """AlwaysAllow, or RBAC (bootstrap roles are then created at start)."""
    kubelet_client_certificate: str | None = None
    """The client cert presented to node agents (logs, exec); with the two below, mutual TLS."""
    kubelet_client_key: str | None = None
    kubelet_certificate_authority: str | None = None
    """The CA node agents' serving certificates are verified against."""
    service_cluster_ip_range: str = "10.96.0.0/16"
    """The IPv4 CIDR Services' ClusterIPs are allocated from (--service-cluster-ip-range)."""


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


def authenticator(config: ApiConfig) -> Authenticator:
    """No authenticator configured: every request is let through as before (opt-in auth)."""
    tokens = load_token_file(config.token_auth_file) if config.token_auth_file else {}
    return Authenticator(tokens, bool(config.client_ca_file), config.loopback_token)


def build_app(config: ApiConfig) -> web.Application:
    app = web.Application(client_max_size=4 * 1024 * 1024, middlewares=[
        errors.status_middleware, auth_middleware(authenticator(config), lambda: app[authz.AUTHORIZER])])
    handlers_box: dict[str, Handlers] = {}

    # Read the keys before serving anything: a bad file stops the start with its reason.
    transformer = encryption.load(config.encryption_provider_config) \
        if config.encryption_provider_config else None

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        store = Store(list(config.etcd_servers), transformer=transformer)
        await store.open()
        cache = WatchCache(store)
        await cache.start()
        objects = ObjectStore(store, cache, event_ttl=config.event_ttl,
                              service_cidr=config.service_cluster_ip_range)
        await ensure_namespaces(objects)
        if config.authorization_mode == "RBAC":
            await bootstrap.ensure_policy(objects)
        app[STORE], app[CACHE], app[OBJECTS] = store, cache, objects
        app[authz.AUTHORIZER] = authz.build(config.authorization_mode, cache)
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
    # pods/log, exec and portforward go to the pod's node agent; subresources.py looks these
    # up by their string names, so a control plane without agents can leave them unset (503).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", web.NotAppKeyWarning)  # the string key is that contract
        agents = AgentTls.from_config(config)
        app["node_proxy"] = nodeproxy.NodeProxy(lambda: app[OBJECTS], agents)
        app["exec_proxy"] = ExecProxy(lambda: app[OBJECTS], agents)
        app["portforward_proxy"] = PortForwardProxy(lambda: app[OBJECTS], agents)
    app.on_shutdown.append(end_watches)
    for path in ("/healthz", "/livez", "/readyz"):
        app.router.add_get(path, healthz)
    discovery.add_routes(app)
    openapi.add_routes(app)
    review.add_routes(app)
    for prefix in ("/api/{version}/{tail:.+}", "/apis/{group}/{version}/{tail:.+}"):
        app.router.add_route("*", prefix, resource)
    return app
