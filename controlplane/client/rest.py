"""ApiClient: the REST verbs over one aiohttp session, errors mapped once to typed exceptions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Literal

import aiohttp

from ..machinery import jsonio
from ..resources.registry import ResourceInfo
from . import errors
from .credentials import Credentials, for_url
from .objects import ObjectList
from .urls import resource_path
from .watch import Watcher

PatchType = Literal["merge", "strategic", "json", "apply"]
_PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}


@dataclass(frozen=True)
class ClientConfig:
    base_url: str
    """The API server, e.g. http://127.0.0.1:6443."""
    user_agent: str = "pyctl-client"
    """Sent as User-Agent; the API server names the field manager after it."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra headers on every request (e.g. Authorization)."""
    timeout: float = 30.0
    """Seconds for one non-watch request."""
    credentials: Credentials | None = None
    """TLS trust and identity for a secured API server (see credentials.py)."""


def _ns(info: ResourceInfo, namespace: str | None, obj: dict[str, Any] | None = None) -> str:
    if not info.namespaced:
        return ""
    if namespace:
        return namespace
    return ((obj or {}).get("metadata") or {}).get("namespace") or "default"


class ApiClient:
    """An async client for the pyctl (Kubernetes) REST API.

    Every method takes the kind as a `ResourceInfo` from the resource registry; namespace ''
    on list/watch means all namespaces, and on get/create/... defaults to the object's own
    namespace or `default`.
    """

    def __init__(self, base_url: str, *, user_agent: str = "pyctl-client",
                 headers: dict[str, str] | None = None, timeout: float = 30.0,
                 credentials: Credentials | None = None) -> None:
        base_url = base_url.rstrip("/")
        self.config = ClientConfig(base_url, user_agent, dict(headers or {}), timeout,
                                   credentials or for_url(base_url))
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "ApiClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            creds = self.config.credentials
            tls = creds.ssl_context() if creds and self.config.base_url.startswith("https:") else None
            # No total timeout here: watches last long; single requests pass their own.
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": self.config.user_agent, "Accept": "application/json",
                         **(creds.headers() if creds else {}), **self.config.headers},
                connector=aiohttp.TCPConnector(limit=64, ssl=tls if tls is not None else True),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def url(self, info: ResourceInfo, namespace: str = "", name: str = "", subresource: str = "") -> str:
        return self.config.base_url + resource_path(info, namespace, name, subresource)

    # -- the one request path ---------------------------------------------------------------

    async def request(self, method: str, url: str, *, body: Any = None, params: dict[str, str] | None = None,
                      content_type: str = "application/json", accept: str = "") -> Any:
        data = body if body is None or isinstance(body, bytes) else jsonio.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        if accept:
            headers["Accept"] = accept
        try:
            async with self.session.request(method, url, data=data, params=params, headers=headers,
                                            timeout=aiohttp.ClientTimeout(total=self.config.timeout)) as resp:
                raw = await resp.read()
                decoded = _decode(raw)
                if resp.status >= 400:
                    raise errors.from_response(resp.status, decoded)
                return decoded
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            raise errors.unavailable(f"{method} {url}: {exc or type(exc).__name__}") from exc

    # -- verbs --------------------------------------------------------------------------------

    async def get(self, info: ResourceInfo, name: str, namespace: str = "") -> dict[str, Any]:
        return await self.request("GET", self.url(info, _ns(info, namespace), name))

    async def list(self, info: ResourceInfo, namespace: str = "", *, label_selector: str = "",
                   field_selector: str = "", limit: int = 500) -> ObjectList:
        """Every matching object, following `continue` tokens; one consistent resourceVersion."""
        items: list[dict[str, Any]] = []
        params = _selectors(label_selector, field_selector)
        if limit:
            params["limit"] = str(limit)
        rv = ""
        while True:
            page = await self.request("GET", self.url(info, namespace), params=params)
            items.extend(page.get("items") or [])
            meta = page.get("metadata") or {}
            rv = rv or meta.get("resourceVersion", "")
            if not meta.get("continue"):
                return ObjectList(items, rv)
            params["continue"] = meta["continue"]

    async def create(self, info: ResourceInfo, obj: dict[str, Any], namespace: str = "") -> dict[str, Any]:
        return await self.request("POST", self.url(info, _ns(info, namespace, obj)), body=obj)

    async def update(self, info: ResourceInfo, obj: dict[str, Any], namespace: str = "") -> dict[str, Any]:
        """PUT: a resourceVersion in obj.metadata makes it conditional (Conflict when stale)."""
        name = obj["metadata"]["name"]
        return await self.request("PUT", self.url(info, _ns(info, namespace, obj), name), body=obj)

    async def update_status(self, info: ResourceInfo, obj: dict[str, Any], namespace: str = "") -> dict[str, Any]:
        name = obj["metadata"]["name"]
        return await self.request("PUT", self.url(info, _ns(info, namespace, obj), name, "status"), body=obj)

    async def patch(self, info: ResourceInfo, name: str, patch: Any, namespace: str = "", *,
                    patch_type: PatchType = "merge", subresource: str = "") -> dict[str, Any]:
        return await self.request("PATCH", self.url(info, _ns(info, namespace), name, subresource),
                                  body=patch, content_type=_PATCH_CONTENT_TYPES[patch_type])

    async def delete(self, info: ResourceInfo, name: str, namespace: str = "", *,
                     grace_period_seconds: int | None = None, uid: str = "", resource_version: str = "",
                     propagation_policy: str = "") -> dict[str, Any]:
        """DELETE with DeleteOptions; uid/resource_version become preconditions."""
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        pre = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        if pre:
            options["preconditions"] = pre
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        return await self.request("DELETE", self.url(info, _ns(info, namespace), name), body=options)

    def watch(self, info: ResourceInfo, namespace: str = "", *, resource_version: str = "",
              label_selector: str = "", field_selector: str = "", timeout_seconds: int = 0) -> Watcher:
        """An endless async iterator of WatchEvent(type, object); see `Watcher`."""

        return Watcher(self, info, namespace, resource_version=resource_version,
                       label_selector=label_selector, field_selector=field_selector,
                       timeout_seconds=timeout_seconds)

    async def stream_lines(self, url: str, params: dict[str, str]) -> AsyncIterator[bytes]:
        """Raw lines of a chunked (watch) response; raises the typed error on an error status."""
        try:
            async with self.session.get(url, params=params,
                                        timeout=aiohttp.ClientTimeout(total=None, sock_connect=10,
                                                                      sock_read=None)) as resp:
                if resp.status >= 400:
                    raise errors.from_response(resp.status, _decode(await resp.read()))
                # Split lines ourselves: StreamReader.readline caps a line at 128 KiB.
                buf = b""
                async for chunk in resp.content.iter_any():
                    buf += chunk
                    *lines, buf = buf.split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield line
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            # A payload error: the server went away mid-stream (an API server restarting).
            raise errors.unavailable(f"watch {url}: {exc or type(exc).__name__}") from exc


def _selectors(label_selector: str, field_selector: str) -> dict[str, str]:
    params: dict[str, str] = {}
    if label_selector:
        params["labelSelector"] = label_selector
    if field_selector:
        params["fieldSelector"] = field_selector
    return params


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return jsonio.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")
