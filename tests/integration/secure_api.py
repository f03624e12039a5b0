"""A secured API server for tests: cluster PKI, HTTPS, static tokens and RBAC, on loopback.

Users (tokens are `<name>-token`): `admin` (system:masters), `viewer`, `editor` and `bob`
with no roles until a test binds them. `kubeconfig(user)` writes one kubectl and pyctl read.
"""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web

from controlplane.api.app import build_app
from controlplane.api.config import ApiConfig
from controlplane.auth.pki import PkiPaths, issue, load_ca
from controlplane.api.serving import Secured, secure
from controlplane.client import credentials

from ..cluster import Etcd, free_port

TOKENS = {"admin": "admin-token", "viewer": "viewer-token", "editor": "editor-token", "bob": "bob-token"}
TOKEN_FILE = """\
admin-token,admin,uid-admin,"system:masters"
viewer-token,viewer,uid-viewer
editor-token,editor,uid-editor,"editors,other"
bob-token,bob,uid-bob
"""


class SecureApiServer:
    def __init__(self, etcd: Etcd, tmp: Path, authorization_mode: str = "RBAC") -> None:
        self.etcd, self.tmp, self.port = etcd, tmp, free_port()
        (tmp / "tokens.csv").write_text(TOKEN_FILE)
        config = ApiConfig(etcd_servers=(etcd.url,), compaction_interval=3600,
                           token_auth_file=str(tmp / "tokens.csv"), authorization_mode=authorization_mode)
        self.secured: Secured = secure(config, str(tmp / "pki"))
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def pki(self) -> PkiPaths:
        assert self.secured.pki is not None
        return self.secured.pki

    async def start(self) -> "SecureApiServer":
        self._runner = web.AppRunner(build_app(self.secured.config), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self.secured.ssl).start()
        credentials.register(self.url, self.secured.loopback)
        return self

    async def stop(self) -> None:
        credentials.unregister(self.url)
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    def client_cert(self, user: str, groups: tuple[str, ...] = ()) -> tuple[Path, Path]:
        issued = issue(load_ca(self.pki), user, groups=groups)
        cert, key = self.tmp / f"{user}.crt", self.tmp / f"{user}.key"
        cert.write_bytes(issued.cert)
        key.write_bytes(issued.key)
        return cert, key

    def ssl_context(self, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        if cert:
            ctx.load_cert_chain(str(cert[0]), str(cert[1]))
        return ctx

    def session(self, user: str | None = None, token: str | None = None,
                cert: tuple[Path, Path] | None = None) -> aiohttp.ClientSession:
        """A session trusting the cluster CA, as `user` (by token) or with a client cert."""
        token = token or (TOKENS[user] if user else None)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return aiohttp.ClientSession(self.url, headers=headers,
                                     connector=aiohttp.TCPConnector(ssl=self.ssl_context(cert)))

    def kubeconfig(self, user: str, path: Path, ca_data: bytes | None = None) -> Path:
        ca = base64.b64encode(ca_data or self.pki.ca_cert.read_bytes()).decode()
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "secure",
            "clusters": [{"name": "secure", "cluster": {"server": self.url,
                                                       "certificate-authority-data": ca}}],
            "users": [{"name": user, "user": {"token": TOKENS[user]}}],
            "contexts": [{"name": "secure", "context": {"cluster": "secure", "user": user,
                                                       "namespace": "default"}}]}))
        return path


@pytest.fixture
async def secure_api(etcd, tmp_path):
    """A started SecureApiServer with RBAC (import it into a test module to use it)."""
    server = await SecureApiServer(etcd, tmp_path).start()
    yield server
    await server.stop()


@pytest.fixture
async def admin(secure_api):
    """A session as `admin` (system:masters) on `secure_api`."""
    async with secure_api.session("admin") as s:
        yield s


async def call(session: aiohttp.ClientSession, method: str, path: str, body=None) -> tuple[int, dict]:
    async with session.request(method, path, json=body) as resp:
        return resp.status, await resp.json(content_type=None)


def binding(name: str, role: str, user: str = "", group: str = "", namespace: str = "default",
            cluster: bool = False) -> tuple[str, dict]:
    """(collection path, RoleBinding or ClusterRoleBinding) granting ClusterRole `role`."""
    kind = "ClusterRoleBinding" if cluster else "RoleBinding"
    subject = {"apiGroup": "rbac.authorization.k8s.io", "kind": "User" if user else "Group",
               "name": user or group}
    obj = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {"name": name},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
           "subjects": [subject]}
    base = "/apis/rbac.authorization.k8s.io/v1"
    path = f"{base}/clusterrolebindings" if cluster else f"{base}/namespaces/{namespace}/rolebindings"
    return path, obj
