"""The client configuration file, in kubeconfig format.

Which file: `--kubeconfig`, else `$PYCTL_CONFIG`, else `~/.pyctl/config`. It holds
clusters, users and contexts exactly as kubectl's does, so
`kubectl --kubeconfig ~/.pyctl/config` reaches the same cluster. This module owns reading,
editing and writing that file, and turning it (plus `--server`/`--context` overrides) into
the connection settings the HTTP client needs.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Any

from .errors import CommandError

DEFAULT_PATH = "~/.pyctl/config"
# Where `pyctl-controlplane` listens by default: with no configuration at all, try it.
DEFAULT_SERVER = "http://127.0.0.1:6443"


def config_path(explicit: str | None) -> str:
    path = explicit or os.environ.get("PYCTL_CONFIG") or DEFAULT_PATH
    return os.path.expanduser(path)


def _named(items: list[dict[str, Any]] | None, name: str) -> dict[str, Any] | None:
    for item in items or []:
        if item.get("name") == name:
            return item
    return None


@dataclass(frozen=True)
class Connection:
    """Everything needed to reach and authenticate to one API server."""

    server: str
    token: str | None = None
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    ca_data: str | None = None
    """Base64 PEM, as in `certificate-authority-data`."""
    insecure: bool = False
    cert_file: str | None = None
    cert_data: str | None = None
    key_file: str | None = None
    key_data: str | None = None
    namespace: str | None = None
    """The context's default namespace, if it sets one."""


class KubeConfig:
    """A kubeconfig document, loaded from (and saved back to) one file."""

    def __init__(self, path: str, data: dict[str, Any] | None = None) -> None:
        self.path = path
        self.data: dict[str, Any] = data if data is not None else {}
        for key in ("clusters", "users", "contexts"):
            if not isinstance(self.data.get(key), list):
                self.data[key] = []

    @classmethod
    def load(cls, path: str) -> "KubeConfig":
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return cls(path)
        except OSError as exc:
            raise CommandError(f"cannot read config file {path}: {exc.strerror}") from None
        from . import yamlio
        try:
            data = yamlio.load(text) if text.strip() else {}
        except yamlio.YAMLError as exc:
            raise CommandError(f"error loading config file \"{path}\": {exc}") from None
        if not isinstance(data, dict):
            raise CommandError(f"error loading config file \"{path}\": not a kubeconfig mapping")
        return cls(path, data)

    def save(self) -> None:
        from . import yamlio
        out = {"apiVersion": "v1", "kind": "Config", "preferences": {}, **self.data}
        out["current-context"] = out.get("current-context") or ""
        directory = os.path.dirname(self.path) or "."
        os.makedirs(directory, exist_ok=True)
        # Write then rename, so a crash never leaves half a config behind; 0600 as it may hold tokens.
        fd, tmp = tempfile.mkstemp(prefix=".config-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(yamlio.dump(out))
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    # -- reading -------------------------------------------------------------------------

    @property
    def current_context(self) -> str:
        return str(self.data.get("current-context") or "")

    def context(self, name: str) -> dict[str, Any] | None:
        entry = _named(self.data["contexts"], name)
        return entry.get("context") or {} if entry is not None else None

    def cluster(self, name: str) -> dict[str, Any] | None:
        entry = _named(self.data["clusters"], name)
        return entry.get("cluster") or {} if entry is not None else None

    def user(self, name: str) -> dict[str, Any] | None:
        entry = _named(self.data["users"], name)
        return entry.get("user") or {} if entry is not None else None

    def connection(self, server: str | None = None, context: str | None = None) -> Connection:
        """The settings of the chosen context, `--server` winning over the cluster's."""
        name = context or self.current_context
        ctx: dict[str, Any] = {}
        if name:
            found = self.context(name)
            if found is None:
                if context:
                    raise CommandError(f"context was not found for specified context: {name}")
            else:
                ctx = found
        cluster = self.cluster(ctx.get("cluster", "")) or {}
        user = self.user(ctx.get("user", "")) or {}
        return Connection(
            server=server or cluster.get("server") or DEFAULT_SERVER,
            token=user.get("token"), username=user.get("username"), password=user.get("password"),
            ca_file=cluster.get("certificate-authority"),
            ca_data=cluster.get("certificate-authority-data"),
            insecure=bool(cluster.get("insecure-skip-tls-verify")),
            cert_file=user.get("client-certificate"), cert_data=user.get("client-certificate-data"),
            key_file=user.get("client-key"), key_data=user.get("client-key-data"),
            namespace=ctx.get("namespace") or None)

    # -- editing (the `config` command) -------------------------------------------------------

    def _upsert(self, section: str, inner: str, name: str, fields: dict[str, Any]) -> bool:
        """Set (or with None, remove) fields of a named entry; True when it was created."""
        entry = _named(self.data[section], name)
        created = entry is None
        if entry is None:
            entry = {"name": name, inner: {}}
            self.data[section].append(entry)
        body = entry.setdefault(inner, {}) or {}
        entry[inner] = body
        for key, value in fields.items():
            if value is None:
                continue
            if value == "":
                body.pop(key, None)
            else:
                body[key] = value
        return created

    def set_context(self, name: str, **fields: Any) -> bool:
        return self._upsert("contexts", "context", name, fields)

    def set_cluster(self, name: str, **fields: Any) -> bool:
        return self._upsert("clusters", "cluster", name, fields)

    def set_user(self, name: str, **fields: Any) -> bool:
        return self._upsert("users", "user", name, fields)

    def use_context(self, name: str) -> None:
        if self.context(name) is None:
            raise CommandError(f'no context exists with the name: "{name}"')
        self.data["current-context"] = name
