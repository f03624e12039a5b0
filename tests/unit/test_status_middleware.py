"""Every error a route raises leaves as a metav1.Status, the unexpected ones included.

A real aiohttp server on loopback with the API's middleware; the routes stand in for a bug
(there is, by design, no input that makes a real route raise an unexpected exception)."""

from __future__ import annotations

import logging

import aiohttp
from aiohttp import web

from controlplane.api.errors import status_middleware
from controlplane.store import Timeout, Unavailable


async def _serve(routes: dict[str, Exception]):
    app = web.Application(middlewares=[status_middleware])
    for path, exc in routes.items():
        async def handler(request: web.Request, exc=exc):
            raise exc
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"


async def test_unexpected_exceptions_and_store_errors_are_statuses(caplog):
    runner, base = await _serve({"/bug": RuntimeError("boom"), "/slow": Timeout("etcd did not answer within 2s"),
                                 "/gone": Unavailable("no etcd endpoint reachable")})
    try:
        async with aiohttp.ClientSession() as session:
            with caplog.at_level(logging.ERROR, logger="controlplane.api.errors"):
                async with session.get(base + "/bug") as resp:
                    body = await resp.json()
            assert resp.status == 500 and resp.content_type == "application/json"
            assert body["kind"] == "Status" and body["reason"] == "InternalError"
            assert body["message"] == "Internal error occurred: RuntimeError: boom"
            assert any(r.exc_info and "GET /bug failed" in r.getMessage() for r in caplog.records)

            async with session.get(base + "/slow") as resp:
                body = await resp.json()
            assert resp.status == 504 and body["reason"] == "Timeout" and resp.headers["Retry-After"] == "1"
            assert body["message"].startswith("Timeout: request did not complete within the allotted time")
            async with session.get(base + "/gone") as resp:
                body = await resp.json()
            assert resp.status == 503 and body["reason"] == "ServiceUnavailable"
            assert resp.headers["Retry-After"] == "1"
            async with session.get(base + "/nothing-here") as resp:
                body = await resp.json()
            assert resp.status == 404 and body["kind"] == "Status"
    finally:
        await runner.cleanup()
