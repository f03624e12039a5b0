"""The dashboard's connection to the API server, with the user's own kubeconfig credentials.

TLS settings and the Authorization header come from the same `Connection` and helpers the
`pyctl` HTTP client uses, so the dashboard authenticates exactly as `pyctl get` does (client
certificate, bearer token or basic auth). Only GET is ever sent from here (pods/exec is a GET
upgraded to a WebSocket): changes go through `actions.py`.
"""

from __future__ import annotations

import urllib.parse

import aiohttp
from aiohttp import web

from .. import remotecommand
from ..client import ApiClient, _ssl_context
from ..config import Connection

# Response headers worth passing back to the browser; hop-by-hop ones are aiohttp's business.
_PASS_HEADERS = ("Content-Type", "Warning", "Audit-Id")


class Upstream:
    """One aiohttp session to the API server, shared by every browser tab."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        url = urllib.parse.urlsplit(connection.server)
        self._base = f"{url.scheme}://{url.netloc}{url.path.rstrip('/')}"
        self._https = url.scheme == "https"
        # ApiClient validates the URL and knows how to spell the credentials.
        self._client = ApiClient(connection)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        ssl = _ssl_context(self.connection) if self._https else None
        # limit=0: every watch is a long-lived connection of its own.
        connector = aiohttp.TCPConnector(ssl=ssl if ssl is not None else False, limit=0)
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def server(self) -> str:
        return self.connection.server

    def headers(self, accept: str) -> dict[str, str]:
        return self._client._headers(accept, None)

    async def get(self, path_qs: str, accept: str = "application/json",
                  timeout: float | None = None) -> aiohttp.ClientResponse:
        """Start a GET of `path_qs` (path and query, as the browser asked); the caller reads
        and releases the response."""
        assert self._session is not None, "Upstream.start() first"
        return await self._session.get(
            self._base + path_qs, headers=self.headers(accept), allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=10))

    async def websocket(self, path_qs: str) -> aiohttp.ClientWebSocketResponse:
        """Open a pods/exec WebSocket (remotecommand.HandshakeFailed when it is refused)."""
        assert self._session is not None, "Upstream.start() first"
        return await remotecommand.connect(self._session, self._base + path_qs, self.headers("*/*"))

    async def proxy(self, request: web.Request) -> web.StreamResponse:
        """Pass one GET through to the API server and its answer back, streamed as it comes."""
        accept = request.headers.get("Accept", "application/json")
        try:
            upstream = await self.get(request.rel_url.raw_path_qs, accept)
        except (aiohttp.ClientError, OSError) as exc:
            return unreachable(self.server, exc)
        try:
            resp = web.StreamResponse(status=upstream.status)
            for name in _PASS_HEADERS:
                for value in upstream.headers.getall(name, []):
                    resp.headers.add(name, value)
            await resp.prepare(request)
            async for chunk in upstream.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
            return resp
        finally:
            upstream.release()


def status(code: int, reason: str, message: str) -> dict[str, object]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def unreachable(server: str, exc: BaseException) -> web.Response:
    message = f"the dashboard cannot reach the API server at {server}: {exc or type(exc).__name__}"
    return web.json_response(status(502, "ServiceUnavailable", message), status=502)
