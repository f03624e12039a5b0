"""The dashboard's aiohttp app: the page, who may use it, and its three doors to the cluster.

    GET  /                       the page (static/index.html); its assets under /static/
    GET  /api/..., /apis/...     read-only proxy to the API server, as `kubectl proxy`
    GET  /dashboard/streams      the WebSocket multiplexing watches, logs (streams.py) and
                                 exec sessions (execs.py)
    GET  /dashboard/config       what the page needs to know (server, context, namespace)
    POST /dashboard/actions/NAME a change, run as the equivalent pyctl command (actions.py)

Whoever can talk to this server acts with the user's credentials, so:
* a random token is made per run; the printed URL carries it once, and it becomes an
  HttpOnly, SameSite=Strict cookie (other local users and other sites do not have it);
* the Host header must name this server (a DNS-rebinding page's host does not);
* WebSockets and POSTs must come from this server's own origin (no cross-site requests);
* the proxy passes GETs only; changes are the few actions the page may ask for, and a command
  runs in a container only as pods/exec on the streams WebSocket (cookie and origin checked).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from aiohttp import web

from . import streams
from .actions import BadParams, Runner, command_line, shown
from .upstream import Upstream, status

STATIC = Path(str(resources.files(__package__) / "static"))
COOKIE = "pyctl-dashboard-{port}"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}


@dataclass
class Settings:
    """How one `pyctl dashboard` run serves."""

    port: int
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    hosts: tuple[str, ...] = LOOPBACK_HOSTS
    """Names the browser may use for this server (the Host header, without the port)."""
    any_host: bool = False
    """--allow-remote on an unspecified address: any Host (the token still guards)."""
    context: str = ""
    namespace: str = ""
    """The namespace the page starts with (`-n`); empty: all of them."""

    @property
    def cookie(self) -> str:
        return COOKIE.format(port=self.port)

    def host_ok(self, host: str | None) -> bool:
        if self.any_host:
            return True
        return host is not None and host in {f"{h}:{self.port}" for h in self.hosts}

    def origin_ok(self, origin: str | None, host: str | None) -> bool:
        return origin is not None and host is not None and origin == f"http://{host}"


SETTINGS = web.AppKey("settings", Settings)
UPSTREAM = web.AppKey("upstream", Upstream)
RUNNER = web.AppKey("runner", Runner)


def _refuse(code: int, reason: str, message: str) -> web.Response:
    return web.json_response(status(code, reason, message), status=code)


@web.middleware
async def guard(request: web.Request, handler):  # type: ignore[no-untyped-def]
    settings = request.app[SETTINGS]
    host = request.headers.get("Host")
    if not settings.host_ok(host):
        return _refuse(403, "Forbidden", f"the dashboard does not answer to host {host!r}: "
                                         "open the URL `pyctl dashboard` printed")
    given = request.query.get("token")
    if given is not None and request.method == "GET":
        if not hmac.compare_digest(given, settings.token):
            return _refuse(401, "Unauthorized", "wrong dashboard token: open the URL `pyctl dashboard` printed")
        # Trade the token in the URL for a cookie, and drop it from the address bar.
        rest = {k: v for k, v in request.query.items() if k != "token"}
        resp = web.HTTPFound(str(request.rel_url.with_query(rest)))
        resp.set_cookie(settings.cookie, settings.token, httponly=True, samesite="Strict", path="/")
        return resp
    if request.path.startswith("/static/") or request.path == "/favicon.ico":
        return await handler(request)
    if not hmac.compare_digest(request.cookies.get(settings.cookie, ""), settings.token):
        if request.path == "/":
            return web.Response(status=401, content_type="text/html", text=_LOCKED)
        return _refuse(401, "Unauthorized", "open the URL `pyctl dashboard` printed (it carries a token)")
    cross_site = request.method != "GET" or request.headers.get("Upgrade", "").lower() == "websocket"
    if cross_site and not settings.origin_ok(request.headers.get("Origin"), host):
        return _refuse(403, "Forbidden", "the dashboard accepts changes and streams from its own page only")
    return await handler(request)


_LOCKED = """<!doctype html><html lang="en"><meta charset="utf-8"><title>pyctl dashboard</title>
<body style="font-family:sans-serif;margin:2rem"><h1>pyctl dashboard</h1>
<p>Open the address that <code>pyctl dashboard</code> printed: it carries this run's token.</p></body></html>"""


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers=_NO_STORE)


_NO_STORE = {"Cache-Control": "no-store"}


async def asset(request: web.Request) -> web.StreamResponse:
    rel = request.match_info["path"]
    path = (STATIC / rel).resolve()
    if STATIC.resolve() not in path.parents or not path.is_file() or path.suffix not in ASSET_TYPES:
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={**_NO_STORE, "Content-Type": ASSET_TYPES[path.suffix]})


async def proxy(request: web.Request) -> web.StreamResponse:
    return await request.app[UPSTREAM].proxy(request)


async def config(request: web.Request) -> web.Response:
    settings, upstream = request.app[SETTINGS], request.app[UPSTREAM]
    return web.json_response({"server": upstream.server, "context": settings.context,
                              "namespace": settings.namespace})


async def stream_socket(request: web.Request) -> web.StreamResponse:
    return await streams.serve(request.app[UPSTREAM], request)


async def action(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        return _refuse(415, "UnsupportedMediaType", "send the action's parameters as application/json")
    try:
        params = await request.json()
        if request.query.get("preview"):
            argv = command_line(request.match_info["name"], params)
            return web.json_response({"command": shown(argv)})
        outcome = await request.app[RUNNER].run(request.match_info["name"], params)
    except (ValueError, BadParams) as exc:
        return _refuse(400, "BadRequest", str(exc))
    return web.json_response(outcome.json())


async def read_only(request: web.Request) -> web.Response:
    return _refuse(405, "MethodNotAllowed", "the dashboard's API proxy is read-only; changes go "
                                            "through its actions")


def build_app(settings: Settings, upstream: Upstream, runner: Runner) -> web.Application:
    app = web.Application(middlewares=[guard])
    app[SETTINGS], app[UPSTREAM], app[RUNNER] = settings, upstream, runner

    async def lifecycle(app: web.Application):  # type: ignore[no-untyped-def]
        await upstream.start()
        yield
        await upstream.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/", index)
    app.router.add_get("/static/{path:.+}", asset)
    app.router.add_get("/dashboard/config", config)
    app.router.add_get("/dashboard/streams", stream_socket)
    app.router.add_post("/dashboard/actions/{name}", action)
    for prefix in ("/api", "/apis", "/version"):
        app.router.add_get(prefix, proxy)
        app.router.add_route("*", prefix, read_only)
        if prefix != "/version":
            app.router.add_get(prefix + "/{tail:.*}", proxy)
            app.router.add_route("*", prefix + "/{tail:.*}", read_only)
    return app
