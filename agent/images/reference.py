"""Image references with Docker's naming rules.

`busybox` is `docker.io/library/busybox:latest`; the first path component is a registry
host only if it has a `.` or `:` or is `localhost` (as in docker/distribution's reference
package). A reference may carry a tag, a digest, or both (the digest wins for pulls).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_REGISTRY = "docker.io"
DEFAULT_TAG = "latest"

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_HOST = re.compile(r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9-]+)*(?::[0-9]+)?"
                   r"|\[[0-9a-fA-F:]+\](?::[0-9]+)?")
_LOOPBACK = {"localhost", "127.0.0.1", "[::1]"}


class InvalidReference(ValueError):
    """The string is not a valid image reference (kubelet's InvalidImageName)."""


@dataclass(frozen=True)
class Reference:
    registry: str
    """Registry host[:port] as written, `docker.io` when none was given."""
    repository: str
    """Repository path inside the registry, e.g. `library/busybox`."""
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """`registry/repository`, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def ref(self) -> str:
        """What to ask the registry for: the digest if pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def host(self) -> str:
        """The host the API is served from (Docker Hub's API lives elsewhere than its name)."""
        return "registry-1.docker.io" if self.registry == DEFAULT_REGISTRY else self.registry

    @property
    def scheme(self) -> str:
        """Plain HTTP only for loopback registries; everything else is HTTPS."""
        hostname = self.registry.rsplit(":", 1)[0] if not self.registry.startswith("[") \
            else self.registry.split("]")[0] + "]"
        return "http" if hostname in _LOOPBACK else "https"

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s


def check_digest(digest: str) -> str:
    """Return `digest` if it is `sha256:<64 hex>`; digests become file names and URL paths,
    so anything else (another algorithm, `../`) is refused."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise ValueError(f"unsupported or malformed digest {digest!r}")
    return digest


def parse_reference(text: str) -> Reference:
    """Parse `[host[:port]/]path[:tag][@sha256:hex]`, filling Docker's defaults."""
    s = text.strip()
    if not s:
        raise InvalidReference("empty image reference")
    digest = None
    if "@" in s:
        s, digest = s.split("@", 1)
        if not _DIGEST.fullmatch(digest):
            raise InvalidReference(f"invalid digest in image reference {text!r}")
    tag = None
    last = s.rsplit("/", 1)[-1]
    if ":" in last:  # a colon after the last slash is a tag; before it, a port
        s, tag = s.rsplit(":", 1)
        if not _TAG.fullmatch(tag):
            raise InvalidReference(f"invalid tag in image reference {text!r}")
    first, _, rest = s.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        if not _HOST.fullmatch(first):
            raise InvalidReference(f"invalid registry host in image reference {text!r}")
        registry, path = first, rest
    else:
        registry, path = DEFAULT_REGISTRY, s
    if registry in (DEFAULT_REGISTRY, "index.docker.io"):
        registry = DEFAULT_REGISTRY
        if "/" not in path:
            path = f"library/{path}"
    if len(path) > 255 or not all(_COMPONENT.fullmatch(c) for c in path.split("/")):
        raise InvalidReference(
            f"invalid reference format: repository name must be lowercase: {text!r}"
            if path.lower() != path else f"invalid reference format: {text!r}")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(registry, path, tag, digest)
