"""A real OCI registry for tests: Debian's `docker-registry` (CNCF distribution) on a free
loopback port, filesystem storage in a temp dir, optionally behind htpasswd basic auth.
Its configuration and readiness check are the product's (`pyctl.localcluster.registry`,
what `pyctl cluster up` runs).

The htpasswd file is bcrypt, made with glibc's crypt(3) through the stdlib `crypt` module,
so no extra package is needed (`crypt` is gone in Python 3.13: use `bcrypt` there).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from pyctl.localcluster import procs
from pyctl.localcluster import registry as local_registry

from .cluster import free_port


def bcrypt_hash(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))


@dataclass
class Registry:
    users: dict[str, str] = field(default_factory=dict)
    """user → password; non-empty turns on htpasswd auth."""
    dir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="pyctl-registry-"))
    port: int = field(default_factory=free_port)
    token: "TokenServer | None" = None
    """Set to require bearer tokens from this token server (Docker token auth)."""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> str:
        return os.path.join(self.dir, "registry.log")

    def blob_data_path(self, digest: str) -> str:
        hexd = digest.removeprefix("sha256:")
        return os.path.join(self.dir, "storage", "docker", "registry", "v2", "blobs", "sha256",
                            hexd[:2], hexd, "data")

    def access_log(self, user_agent: str = "pyctl-agent") -> list[str]:
        """`METHOD /path` for each request the registry served to `user_agent` (its access log)."""
        with open(self.log_path) as f:
            return [m.group(1) for line in f
                    if (m := re.match(r'\S+ - - \[[^]]*\] "(\S+ \S+) [^"]*" .*"([^"]*)"$', line.rstrip()))
                    and m.group(2).startswith(user_agent)]

    def wait_log(self, prefix: str, count: int, timeout: float = 5.0) -> list[str]:
        """The access-log entries starting with `prefix`, once there are `count` of them: Go writes
        the line after the response, so the client can be a moment ahead of the log."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [r for r in self.access_log() if r.startswith(prefix)]
            if len(lines) >= count or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)

    def start(self) -> "Registry":
        auth: list[str] = []
        if self.users:
            path = os.path.join(self.dir, "htpasswd")
            with open(path, "w") as f:
                f.writelines(f"{u}:{bcrypt_hash(p)}\n" for u, p in self.users.items())
            auth = ["  htpasswd:", "    realm: pyctl-test", f"    path: {path}"]
        elif self.token is not None:
            auth = ["  token:", f"    realm: {self.token.url}/token",
                    f"    service: {TokenServer.SERVICE}", f"    issuer: {TokenServer.ISSUER}",
                    f"    rootcertbundle: {self.token.cert}"]
        cfg = local_registry.write_config(Path(self.dir), self.host, auth)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(local_registry.argv(cfg), stdout=log, stderr=log,
                                         start_new_session=True)
        proc = self.proc
        if procs.wait_for(lambda: local_registry.serving(self.host), lambda: proc.poll() is None, 10):
            return self
        self.stop()
        raise RuntimeError(f"docker-registry did not start: {open(self.log_path).read()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """A Docker token server on loopback: it hands any caller an RS256 JWT granting the scope
    it asked for, signed with a throwaway self-signed key (openssl CLI, no crypto package).
    It records every request so tests can check the client sent realm/service/scope right."""

    SERVICE = "pyctl-test"
    ISSUER = "pyctl-test-issuer"

    def __init__(self, dir: str) -> None:
        self.dir = dir
        self.key, self.cert = os.path.join(dir, "token.key"), os.path.join(dir, "token.crt")
        self.requests: list[dict[str, Any]] = []
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _jwt(self, scope: str) -> str:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        der = subprocess.run(["openssl", "x509", "-in", self.cert, "-outform", "DER"],
                             stdout=subprocess.PIPE, check=True).stdout
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        now = int(time.time())
        claims = {"iss": self.ISSUER, "sub": "", "aud": self.SERVICE, "iat": now, "nbf": now - 10,
                  "exp": now + 300, "jti": os.urandom(8).hex(),
                  "access": [{"type": kind, "name": name, "actions": actions.split(",")}] if scope else []}
        signing = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key], input=signing.encode(),
                             stdout=subprocess.PIPE, check=True).stdout
        return f"{signing}.{_b64url(sig)}"

    async def _token(self, request: web.Request) -> web.Response:
        self.requests.append({"query": dict(request.query),
                              "authorization": request.headers.get("Authorization", "")})
        token = self._jwt(request.query.get("scope", ""))
        return web.json_response({"token": token, "access_token": token, "expires_in": 300})

    async def start(self) -> "TokenServer":
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
                        "-keyout", self.key, "-out", self.cert, "-days", "1", "-subj", "/CN=pyctl-token"],
                       check=True, capture_output=True)
        app = web.Application()
        app.router.add_get("/token", self._token)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
