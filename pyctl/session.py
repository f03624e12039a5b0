"""What one run of pyctl shares between its parts: flags, configuration, client, discovery, streams.

Everything is built on first use, so `pyctl version --client` or `pyctl config view` never
touch the network, and a command pays only for what it needs.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from .client import ApiClient
from .config import Connection, KubeConfig, config_path
from .resources import Discovery, Resource


class Session:
    def __init__(self, args: argparse.Namespace, out: TextIO | None = None,
                 err: TextIO | None = None, stdin: TextIO | None = None) -> None:
        self.args = args
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.stdin = stdin or sys.stdin
        self._config: KubeConfig | None = None
        self._connection: Connection | None = None
        self._client: ApiClient | None = None
        self._discovery: Discovery | None = None

    # -- configuration -------------------------------------------------------------------------

    @property
    def config(self) -> KubeConfig:
        if self._config is None:
            self._config = KubeConfig.load(config_path(getattr(self.args, "kubeconfig", None)))
        return self._config

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            self._connection = self.config.connection(getattr(self.args, "server", None),
                                                      getattr(self.args, "context", None))
        return self._connection

    @property
    def client(self) -> ApiClient:
        if self._client is None:
            timeout = getattr(self.args, "request_timeout", None)
            self._client = ApiClient(self.connection, timeout=timeout or None,
                                     verbosity=getattr(self.args, "v", 0) or 0, log=self.err,
                                     warn=self.warn)
        return self._client

    @property
    def discovery(self) -> Discovery:
        if self._discovery is None:
            self._discovery = Discovery(self.client)
        return self._discovery

    @property
    def explicit_namespace(self) -> bool:
        return bool(getattr(self.args, "namespace", None))

    @property
    def namespace(self) -> str:
        """`-n`, else the context's namespace, else `default`."""
        return getattr(self.args, "namespace", None) or self.connection.namespace or "default"

    def namespace_for(self, resource: Resource, all_namespaces: bool = False) -> str | None:
        if not resource.namespaced or all_namespaces:
            return None
        return self.namespace

    # -- output ------------------------------------------------------------------------------------

    def print(self, text: str = "", end: str = "\n") -> None:
        self.out.write(text + end)
        self.out.flush()

    def write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def warn(self, message: str) -> None:
        self.err.write(f"Warning: {message}\n")
        self.err.flush()

    def error(self, text: str) -> None:
        self.err.write(text.rstrip("\n") + "\n")
        self.err.flush()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
