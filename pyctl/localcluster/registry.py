"""A local OCI registry: Debian's `docker-registry` (CNCF distribution) with filesystem
storage, as `pyctl cluster up` runs it for its nodes and the tests run it for theirs.

This module owns the registry's configuration file and knowing when it serves; who
starts the process (a detached daemon, a test's child) is the caller's business.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

BINARY = "/usr/bin/docker-registry"
# Never through an $http_proxy: the registry is on this machine.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def write_config(dir: Path, addr: str, auth: list[str] | None = None) -> Path:
    """`dir/config.yml` for a registry on `addr` (HOST:PORT) storing blobs in `dir/storage`;
    `auth` is the config's `auth:` section body, lines already indented."""
    lines = [
        "version: 0.1",
        "log:", "  level: info", "  formatter: text",
        "storage:", "  filesystem:", f"    rootdirectory: {dir}/storage",
        "  delete:", "    enabled: true",
        "http:", f"  addr: {addr}",
    ]
    if auth:
        lines += ["auth:", *auth]
    path = dir / "config.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def argv(config: Path) -> list[str]:
    return [BINARY, "serve", str(config)]


def serving(addr: str) -> bool:
    """True once `/v2/` answers (a 401 counts: with auth on, that is serving)."""
    try:
        _DIRECT.open(f"http://{addr}/v2/", timeout=1)
        return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
