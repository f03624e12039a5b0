"""Authentication: turning a request's credentials into a UserInfo.

Three authenticators, tried in order, the first that recognises the request wins:
  * client certificates verified against the client CA during the TLS handshake
    (CN = user name, each O = a group: Kubernetes' convention);
  * bearer tokens from a static token file (kube-apiserver's `--token-auth-file` CSV:
    `token,user,uid,"group1,group2"`);
  * the loopback token: a random secret made at API start for in-process components.
A request with none of these is anonymous (None); a bearer token nobody knows is an error.
"""

from __future__ import annotations

import csv
import hmac
import io
from dataclasses import dataclass, field
from typing import Any

from .user import LOOPBACK_USER, MASTERS, UserInfo


class InvalidToken(Exception):
    """The request carried a bearer token no authenticator accepts."""


def parse_token_file(text: str, source: str = "token file") -> dict[str, UserInfo]:
    """Token -> user from the static token CSV; ValueError names the bad line."""
    tokens: dict[str, UserInfo] = {}
    for lineno, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) < 3:
            raise ValueError(f"{source}:{lineno}: expected token,user,uid[,\"group1,group2\"], "
                             f"got {len(row)} field(s)")
        token, user, uid = (c.strip() for c in row[:3])
        if not token or not user:
            raise ValueError(f"{source}:{lineno}: token and user must not be empty")
        if token in tokens:
            raise ValueError(f"{source}:{lineno}: duplicate token for user {user!r}")
        groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
        tokens[token] = UserInfo(user, uid, groups)
    return tokens


def load_token_file(path: str) -> dict[str, UserInfo]:
    with open(path, encoding="utf-8") as f:
        return parse_token_file(f.read(), path)


def user_from_peercert(peercert: dict[str, Any] | None) -> UserInfo | None:
    """The user named by a verified client certificate (ssl.getpeercert() form)."""
    if not peercert:
        return None
    cn, orgs = "", []
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                cn = value
            elif key == "organizationName":
                orgs.append(value)
    return UserInfo(cn, "", tuple(orgs)) if cn else None


def bearer_token(authorization: str) -> str | None:
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


@dataclass
class Authenticator:
    """The configured authenticators.

    `enabled` is True when users have a way to log in (tokens or client certificates): then a
    request without credentials is refused. The loopback token alone does not enable it, so
    a server without user authentication still serves everyone, as system:anonymous.
    """

    tokens: dict[str, UserInfo] = field(default_factory=dict)
    client_certs: bool = False
    loopback_token: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.tokens or self.client_certs)

    def authenticate(self, peercert: dict[str, Any] | None, authorization: str) -> UserInfo | None:
        """The user, or None for a request without credentials; InvalidToken for a bearer
        token nobody issued (when user authentication is enabled)."""
        user = user_from_peercert(peercert) if self.client_certs else None
        if user is None and authorization:
            token = bearer_token(authorization)
            if token is not None:
                user = self._by_token(token)
                if user is None and self.enabled:
                    raise InvalidToken()
        return user.with_authenticated() if user is not None else None

    def _by_token(self, token: str) -> UserInfo | None:
        if self.loopback_token and hmac.compare_digest(token, self.loopback_token):
            return UserInfo(LOOPBACK_USER, "", (MASTERS,))
        return self.tokens.get(token)
