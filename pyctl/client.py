"""HTTP to the API server, on the standard library's http.client.

One keep-alive connection serves every request of a run (a CLI must start fast, so no
aiohttp); watches get a connection of their own. A non-2xx answer becomes an `ApiError`
carrying the server's metav1.Status; a server that cannot be reached becomes an
`UnreachableError`; `Warning:` headers are shown to the user as kubectl shows them.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import ssl
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence, TextIO

from . import __version__
from .config import Connection
from .errors import ApiError, UnreachableError

JSON = "application/json"
TABLE = ("application/json;as=Table;v=v1;g=meta.k8s.io,"
         "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")
USER_AGENT = f"pyctl/v{__version__} ({sys.platform})"

Query = Mapping[str, Any] | Sequence[tuple[str, Any]] | None

_WARNING = re.compile(r'^\d{3}\s+\S+\s+"((?:[^"\\]|\\.)*)"')
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
          http.client.CannotSendRequest, http.client.BadStatusLine)


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class ApiClient:
    """A client for one API server, as described by a `Connection`."""

    connection: Connection
    timeout: float | None = None
    verbosity: int = 0
    log: TextIO = sys.stderr
    warn: Callable[[str], None] | None = None
    _conn: http.client.HTTPConnection | None = field(default=None, init=False, repr=False)
    _reused: bool = field(default=False, init=False, repr=False)
    _warned: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        url = urllib.parse.urlsplit(self.connection.server)
        if url.scheme not in ("http", "https") or not url.hostname:
            from .errors import CommandError
            raise CommandError(f"invalid server URL {self.connection.server!r}: "
                               "expected http(s)://host[:port]")
        self._scheme = url.scheme
        self._host = url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._prefix = url.path.rstrip("/")
        self._ssl: Any = None

    @property
    def server(self) -> str:
        return self.connection.server

    # -- connections -------------------------------------------------------------------------

    def _new_connection(self, timeout: float | None) -> http.client.HTTPConnection:
        if self._scheme == "https":
            if self._ssl is None:
                self._ssl = _ssl_context(self.connection)
            return http.client.HTTPSConnection(self._host, self._port, timeout=timeout,
                                               context=self._ssl)
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def _headers(self, accept: str, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": accept, "User-Agent": USER_AGENT}
        if content_type:
            headers["Content-Type"] = content_type
        conn = self.connection
        if conn.token:
            headers["Authorization"] = f"Bearer {conn.token}"
        elif conn.username is not None:
            raw = f"{conn.username}:{conn.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        return headers

    def url(self, path: str, query: Query = None) -> str:
        target = self._prefix + path
        if query:
            items = query.items() if isinstance(query, Mapping) else query
            pairs = [(k, _query_value(v)) for k, v in items if v is not None]
            if pairs:
                target += "?" + urllib.parse.urlencode(pairs)
        return target

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- requests -----------------------------------------------------------------------------

    def request(self, method: str, path: str, *, query: Query = None, body: Any = None,
                content_type: str = JSON, accept: str = JSON) -> Response:
        """One request on the shared connection; raises ApiError for a non-2xx answer."""
        target = self.url(path, query)
        payload: bytes | None = None
        if body is not None:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = self._headers(accept, content_type if payload is not None else None)
        started = time.monotonic()
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = self._new_connection(self.timeout)
                self._reused = False
            try:
                self._conn.request(method, target, body=payload, headers=headers)
                raw = self._conn.getresponse()
                data = raw.read()
                break
            except _STALE:
                # The server closed an idle keep-alive connection: reconnect once.
                self.close()
                if attempt == 2 or not self._reused:
                    raise self._unreachable(ConnectionResetError("connection reset by peer")) from None
            except OSError as exc:
                self.close()
                raise self._unreachable(exc) from None
        self._reused = True
        if raw.will_close:
            self.close()
        response = Response(raw.status, raw.headers, data)
        self._trace(method, target, response.status, started, payload, data)
        self._show_warnings(raw.headers)
        if response.status >= 400:
            raise ApiError.from_response(response.status, data)
        return response

    def get(self, path: str, query: Query = None, accept: str = JSON) -> Any:
        return self.request("GET", path, query=query, accept=accept).json()

    def stream(self, path: str, query: Query = None, accept: str = JSON) -> Iterator[dict[str, Any]]:
        """Watch events, one decoded JSON object per line, until the server ends the stream."""
        target = self.url(path, query)
        conn = self._new_connection(None)  # a watch may stay quiet for minutes
        try:
            try:
                conn.request("GET", target, headers=self._headers(accept, None))
                raw = conn.getresponse()
            except OSError as exc:
                raise self._unreachable(exc) from None
            self._trace("GET", target, raw.status, time.monotonic(), None, b"")
            self._show_warnings(raw.headers)
            if raw.status >= 400:
                raise ApiError.from_response(raw.status, raw.read())
            while True:
                try:
                    line = raw.readline()
                except (OSError, http.client.IncompleteRead):
                    return  # the stream ended with the connection
                if not line:
                    return
                if line.strip():
                    yield json.loads(line)
        finally:
            conn.close()

    # -- helpers -------------------------------------------------------------------------------

    def _unreachable(self, exc: BaseException) -> UnreachableError:
        if isinstance(exc, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(exc, socket.gaierror):
            reason = f"lookup {self._host}: no such host"
        elif isinstance(exc, (TimeoutError, socket.timeout)):
            reason = "i/o timeout"
        elif isinstance(exc, ssl.SSLCertVerificationError):
            # kubectl: "x509: certificate signed by unknown authority"; say which setting to check.
            reason = (f"TLS: certificate verify failed: {exc.verify_message} (check the cluster's "
                      "certificate-authority(-data) in the kubeconfig)")
        elif type(exc).__module__ == "ssl":
            reason = f"TLS: {getattr(exc, 'reason', None) or exc}"
        else:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            reason = reason[0].lower() + reason[1:] if reason else reason
        return UnreachableError(self.server, reason)

    def _show_warnings(self, headers: http.client.HTTPMessage) -> None:
        for value in headers.get_all("Warning") or []:
            m = _WARNING.match(value)
            text = m.group(1).replace('\\"', '"') if m else value
            if text not in self._warned and self.warn is not None:
                self._warned.add(text)
                self.warn(text)

    def _trace(self, method: str, target: str, status: int, started: float,
               payload: bytes | None, data: bytes) -> None:
        if self.verbosity < 6:
            return
        ms = int((time.monotonic() - started) * 1000)
        reason = http.client.responses.get(status, "")
        print(f"{method} {self.server}{target[len(self._prefix):]} {status} {reason} in {ms} milliseconds",
              file=self.log)
        if self.verbosity >= 8:
            if payload:
                print(f"Request Body: {payload.decode(errors='replace')[:10240]}", file=self.log)
            print(f"Response Body: {data.decode(errors='replace')[:10240]}", file=self.log)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _ssl_context(conn: Connection) -> Any:
    import os
    import tempfile

    cadata = base64.b64decode(conn.ca_data).decode() if conn.ca_data else None
    ctx = ssl.create_default_context(cafile=conn.ca_file, cadata=cadata)
    if conn.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    cert, key = conn.cert_file, conn.key_file
    temps: list[str] = []
    try:
        # ssl loads client certificates only from files: spill inline data to private temp files.
        for data, kind in ((conn.cert_data, "cert"), (conn.key_data, "key")):
            if data:
                fd, path = tempfile.mkstemp(prefix=f"pyctl-{kind}-")
                with os.fdopen(fd, "wb") as f:
                    f.write(base64.b64decode(data))
                temps.append(path)
                cert, key = (path, key) if kind == "cert" else (cert, path)
        if cert:
            ctx.load_cert_chain(cert, key)
    finally:
        for path in temps:
            os.unlink(path)
    return ctx
