"""A reference for API gets: an aiohttp server that does nothing but answer them.

`python -m bench.bareserver PORT FILE` serves the bytes of FILE (a pod as the API server
returned it) at `GET /api/v1/namespaces/{ns}/pods/{name}`, on the event loop the control plane
runs on (controlplane.eventloop), with no middleware, routing beyond that one route, cache,
authorization or metrics. Driven by the same client as the API server in the same run, its
gets/s show how much of the API server's figure its own work decides: on two cores the client
and the event loops' wake-ups decide most of it.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

from controlplane import eventloop


async def serve(port: int, body: bytes) -> None:
    async def get(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}", get)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("serving", flush=True)
    try:
        await asyncio.Event().wait()  # until SIGTERM ends the process
    finally:
        await runner.cleanup()


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    with open(path, "rb") as f:
        body = f.read()
    eventloop.run(serve(port, body))


if __name__ == "__main__":
    main()
