"""An async client for the OCI distribution API (and Docker's v2 registry dialect).

Owns the wire: manifest negotiation and platform selection, anonymous bearer tokens from
`WWW-Authenticate`, basic credentials from a Docker `config.json`-style auth file (and, for
one pull, the pod's imagePullSecrets through `POD_AUTHS`, which win over the file's), blob
download with sha256 verification, and the push protocol used to seed test registries.
Every failure is a `RegistryError` carrying the registry's own words and whether a retry
could help; that message is what a pod shows under `ErrImagePull`.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import re
import socket
from collections import Counter
from dataclasses import dataclass
from typing import Any

import aiohttp

from ..registryauth import POD_AUTHS, load_auths
from .reference import Reference, check_digest

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
DEFAULT_AUTH_FILE = "/etc/pyctl/auth.json"
USER_AGENT = "pyctl-agent/0.1"
_CHUNK = 1 << 20

class RegistryError(Exception):
    """A pull/push failure with the registry's message; `temporary` says a retry may succeed."""

    def __init__(self, message: str, *, temporary: bool = False, status: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.temporary = temporary
        self.status = status


@dataclass(frozen=True)
class Manifest:
    """A single-platform image manifest, resolved from a tag or an index."""
    digest: str
    media_type: str
    raw: bytes
    config: dict[str, Any]
    """The config descriptor (mediaType, digest, size)."""
    layers: list[dict[str, Any]]
    """Layer descriptors, base layer first."""


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


def _error_text(status: int, body: bytes) -> str:
    """docker/distribution's errcode style: `manifest unknown: manifest unknown` collapsed."""
    try:
        errors = json.loads(body).get("errors") or []
    except (ValueError, AttributeError):
        errors = []
    parts = []
    for e in errors:
        code = str(e.get("code", "")).lower().replace("_", " ")
        msg = str(e.get("message", ""))
        parts.append(msg if not code or code == msg else f"{code}: {msg}" if msg else code)
    if parts:
        return "; ".join(parts)
    return f"unexpected status from registry: {status}"


def _kind(url: str) -> str:
    """`manifests`, `blobs` or `uploads`: what a /v2/ URL addresses, for request counters."""
    if "/blobs/uploads" in url:
        return "uploads"
    return url.split("?")[0].split("/")[-2] if "/v2/" in url else "other"


class RegistryClient:
    """One client per agent; it caches bearer tokens per (registry, scope)."""

    def __init__(self, *, auth_file: str = DEFAULT_AUTH_FILE, platform: tuple[str, str] = ("linux", "amd64"),
                 read_timeout: float = 60.0, mirrors: dict[str, str] | None = None) -> None:
        self.auth_file = auth_file
        self.platform = platform
        self.mirrors = {host: url.rstrip("/") for host, url in (mirrors or {}).items()}
        """Registry host → endpoint URL that serves it (`localhost:5000` → `http://172.30.1.1:5000`),
        like containerd's hosts.toml: the image keeps its name, the bytes come from the endpoint."""
        self.requests: Counter[str] = Counter()
        """Requests sent, keyed "METHOD kind" (kind: manifests/blobs/uploads/token); for tests."""
        # No total timeout: a big layer may take long; a stalled read or connect is what fails.
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=read_timeout)
        self._session: aiohttp.ClientSession | None = None
        self._tokens: dict[tuple[str, str, tuple[str, str] | None], str] = {}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout, auto_decompress=False,
                                                  headers={"User-Agent": USER_AGENT})
        return self._session

    # --- transport and auth -------------------------------------------------------------

    def _endpoint(self, ref: Reference) -> str:
        return self.mirrors.get(ref.registry) or f"{ref.scheme}://{ref.host}"

    def _url(self, ref: Reference, path: str) -> str:
        return f"{self._endpoint(ref)}/v2/{ref.repository}/{path}"

    async def _request(self, method: str, ref: Reference, url: str, *, push: bool = False,
                       headers: dict[str, str] | None = None, data: Any = None,
                       ok: tuple[int, ...] = (200,)) -> aiohttp.ClientResponse:
        """Send, answering one auth challenge; return the (unread) response or raise."""
        scope = f"repository:{ref.repository}:{'pull,push' if push else 'pull'}"
        for attempt in range(2):
            hdrs = dict(headers or {})
            creds = self._credentials(ref)
            token = self._tokens.get((ref.registry, scope, creds))
            if token:
                hdrs["Authorization"] = token
            self.requests[f"{method} {_kind(url)}"] += 1
            try:
                resp = await self._http().request(method, url, headers=hdrs, data=data,
                                                  allow_redirects=True)
            except aiohttp.ClientConnectorError as e:
                raise self._dial_error(ref, e) from e
            except (aiohttp.ClientError, TimeoutError) as e:
                raise RegistryError(f"{method} {url}: {e or type(e).__name__}", temporary=True) from e
            if resp.status in ok:
                return resp
            body = await resp.read()
            resp.release()
            if resp.status == 401 and attempt == 0 and "WWW-Authenticate" in resp.headers:
                self._tokens[(ref.registry, scope, creds)] = await self._authorize(
                    ref, resp.headers["WWW-Authenticate"], scope, creds)
                continue
            text = _error_text(resp.status, body)
            if resp.status == 401 and not text.startswith("unauthorized"):
                text = f"unauthorized: {text}"
            raise RegistryError(text, status=resp.status,
                                temporary=resp.status >= 500 or resp.status == 429)
        raise AssertionError("unreachable")

    def _dial_error(self, ref: Reference, e: aiohttp.ClientConnectorError) -> RegistryError:
        # Go's net errors are what users search for: "dial tcp HOST:PORT: connect: ...".
        if isinstance(e, aiohttp.ClientSSLError):
            return RegistryError(f"tls: {e}", temporary=False)
        oserr = e.os_error
        if isinstance(oserr, socket.gaierror):
            return RegistryError(f"dial tcp: lookup {e.host}: no such host", temporary=True)
        code = getattr(oserr, "errno", None)
        reason = os.strerror(code).lower() if code else str(oserr or e)
        host, port = e.host, e.port
        if code is None and "refused" in str(oserr).lower():
            reason = os.strerror(errno.ECONNREFUSED).lower()
        return RegistryError(f"dial tcp {host}:{port}: connect: {reason}", temporary=True)

    def _credentials(self, ref: Reference) -> tuple[str, str] | None:
        """The pod's credentials for this registry, else the node's. Tokens are cached per
        credential, so one pod's token never serves another pod's pull."""
        return POD_AUTHS.get().get(ref.registry) or load_auths(self.auth_file).get(ref.registry)

    async def _authorize(self, ref: Reference, challenge: str, scope: str,
                         creds: tuple[str, str] | None) -> str:
        scheme, params = _parse_challenge(challenge)
        basic = "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode() if creds else None
        if scheme == "basic":
            if basic is None:
                raise RegistryError("unauthorized: authentication required", status=401)
            return basic
        if scheme != "bearer" or "realm" not in params:
            raise RegistryError(f"unsupported auth challenge: {challenge}", status=401)
        # Ask for what we need (pull, or pull+push); the challenge's scope is only a hint,
        # added when it names a different resource than ours.
        query = [("scope", scope)]
        hinted = params.get("scope", "")
        if hinted and hinted.rsplit(":", 1)[0] != scope.rsplit(":", 1)[0]:
            query.append(("scope", hinted))
        if "service" in params:
            query.append(("service", params["service"]))
        self.requests["GET token"] += 1
        try:
            headers = {"Authorization": basic} if basic else {}
            async with self._http().get(params["realm"], params=query, headers=headers) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise RegistryError(f"unauthorized: {_error_text(resp.status, body)}",
                                        status=resp.status, temporary=resp.status >= 500)
        except aiohttp.ClientError as e:
            raise RegistryError(f"fetching auth token: {e}", temporary=True) from e
        doc = json.loads(body)
        token = doc.get("token") or doc.get("access_token")
        if not token:
            raise RegistryError("unauthorized: token server returned no token", status=401)
        return f"Bearer {token}"

    # --- pull ---------------------------------------------------------------------------

    async def _get_manifest(self, ref: Reference, what: str) -> tuple[str, str, bytes]:
        accept = ", ".join(INDEX_TYPES + MANIFEST_TYPES)
        resp = await self._request("GET", ref, self._url(ref, f"manifests/{what}"),
                                   headers={"Accept": accept})
        async with resp:
            raw = await resp.read()
            media = resp.headers.get("Content-Type", "").split(";")[0].strip()
        digest = sha256_digest(raw)
        if what.startswith("sha256:") and digest != what:
            raise RegistryError(f"manifest digest mismatch: wanted {what}, got {digest}")
        try:
            doc = json.loads(raw)
        except ValueError as e:
            raise RegistryError(f"invalid manifest for {ref}: {e}") from e
        return digest, doc.get("mediaType") or media, raw

    async def resolve(self, ref: Reference) -> Manifest:
        """Fetch the manifest for `ref`, choosing this node's platform from an index."""
        digest, media, raw = await self._get_manifest(ref, ref.ref)
        doc = json.loads(raw)
        if media in INDEX_TYPES or "manifests" in doc:
            entry = self.pick_platform(doc)
            digest, media, raw = await self._get_manifest(ref, check_digest(entry["digest"]))
            doc = json.loads(raw)
        if "config" not in doc or "layers" not in doc:
            raise RegistryError(f"unsupported manifest type {media!r} for {ref}")
        return Manifest(digest, media, raw, doc["config"], list(doc["layers"]))

    def pick_platform(self, index: dict[str, Any]) -> dict[str, Any]:
        os_, arch = self.platform
        for entry in index.get("manifests", []):
            p = entry.get("platform") or {}
            if p.get("os") == os_ and p.get("architecture") == arch:
                return dict(entry)
        raise RegistryError(
            f"no matching manifest for {os_}/{arch} in the manifest list entries")

    async def fetch_blob(self, ref: Reference, digest: str, dest: str) -> None:
        """Stream a blob into `dest`, refusing it unless its sha256 matches `digest`."""
        resp = await self._request("GET", ref, self._url(ref, f"blobs/{check_digest(digest)}"))
        h = hashlib.sha256()
        tmp = f"{dest}.partial-{os.getpid()}-{id(resp)}"
        try:
            async with resp:
                with open(tmp, "wb") as f:
                    async for chunk in resp.content.iter_chunked(_CHUNK):
                        h.update(chunk)
                        f.write(chunk)
            got = "sha256:" + h.hexdigest()
            if got != digest:
                raise RegistryError(f"failed to verify blob: digest mismatch: wanted {digest}, got {got}")
            os.replace(tmp, dest)
        except (aiohttp.ClientError, TimeoutError) as e:
            raise RegistryError(f"downloading {digest}: {e or type(e).__name__}", temporary=True) from e
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    async def fetch_bytes(self, ref: Reference, digest: str) -> bytes:
        """A small blob (an image config) into memory, verified."""
        resp = await self._request("GET", ref, self._url(ref, f"blobs/{check_digest(digest)}"))
        async with resp:
            data = await resp.read()
        if sha256_digest(data) != digest:
            raise RegistryError(f"failed to verify blob: digest mismatch: wanted {digest}, "
                                f"got {sha256_digest(data)}")
        return data

    # --- push (seeding local registries) ------------------------------------------------

    async def push_blob(self, ref: Reference, digest: str, data: bytes) -> None:
        head = self._url(ref, f"blobs/{digest}")
        try:
            resp = await self._request("HEAD", ref, head, push=True)
            resp.release()
            return  # already there
        except RegistryError as e:
            if e.status != 404:
                raise
        resp = await self._request("POST", ref, self._url(ref, "blobs/uploads/"), push=True, ok=(202,))
        location = resp.headers["Location"]
        resp.release()
        if location.startswith("/"):
            location = f"{self._endpoint(ref)}{location}"
        sep = "&" if "?" in location else "?"
        resp = await self._request("PUT", ref, f"{location}{sep}digest={digest}", push=True,
                                   headers={"Content-Type": "application/octet-stream"},
                                   data=data, ok=(201,))
        resp.release()

    async def push_manifest(self, ref: Reference, tag: str, raw: bytes, media_type: str) -> str:
        resp = await self._request("PUT", ref, self._url(ref, f"manifests/{tag}"), push=True,
                                   headers={"Content-Type": media_type}, data=raw, ok=(201,))
        resp.release()
        return sha256_digest(raw)
