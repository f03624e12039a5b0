"""Authentication: turning a request's credentials into a UserInfo.

Four authenticators, tried in order, the first that recognises the request wins:
  * client certificates verified against the client CA during the TLS handshake
    (CN = user name, each O = a group: Kubernetes' convention);
  * bearer tokens from a static token file (kube-apiserver's `--token-auth-file` CSV:
    `token,user,uid,"group1,group2"`);
  * the loopback token: a random secret made at API start for in-process components;
  * ServiceAccount JWTs (satokens.py): signature, expiry and audience, then kube's bound-token
    checks against the API server's own objects: the ServiceAccount, and the Pod or Secret the
    token is bound to, still exist with the uids the token names.
A request with none of these is anonymous (None); a bearer token nobody knows is an error.
"""

from __future__ import annotations

import csv
import hmac
import io
import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from . import satokens
from .user import LOOPBACK_USER, MASTERS, UserInfo


class InvalidToken(Exception):
    """The request carried a bearer token no authenticator accepts."""


Lookup = Callable[[str, str, str], "dict[str, Any] | None"]
"""(resource, namespace, name) -> the object as the API server holds it, or None."""
DELETED_GRACE = 60.0
"""A bound object being deleted keeps its tokens valid this long past its deletionTimestamp (kube's)."""


def _deleted_long_ago(obj: dict[str, Any], now: float) -> bool:
    stamp = (obj.get("metadata") or {}).get("deletionTimestamp")
    if not stamp:
        return False
    try:
        when = dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return True
    return when < now - DELETED_GRACE


@dataclass
class ServiceAccountTokens:
    """ServiceAccount JWTs: `verifier` checks the token, `lookup` the objects it names."""

    verifier: satokens.Verifier
    audiences: tuple[str, ...]
    """What a token must be for (one of them): kube-apiserver's --api-audiences."""
    lookup: Lookup

    def user(self, token: str, audiences: tuple[str, ...] | None = None) -> UserInfo:
        """The ServiceAccount a token speaks for; satokens.TokenError says why not."""
        claims = self.verifier.verify(token, audiences or self.audiences)
        ns, now = claims.namespace, time.time()
        account = self._live("serviceaccounts", ns, claims.account, now, "service account")
        if claims.pod is not None:
            self._live("pods", ns, claims.pod, now, "pod")
        if claims.secret is not None:
            self._live("secrets", ns, claims.secret, now, "secret")
        if claims.node is not None and claims.pod is None:  # a pod's token names its node for information
            self._live("nodes", "", claims.node, now, "node")
        uid = str((account.get("metadata") or {}).get("uid") or "")
        return UserInfo(claims.username, uid, satokens.groups(ns))

    def _live(self, resource: str, namespace: str, ref: satokens.Ref, now: float, what: str) -> dict[str, Any]:
        obj = self.lookup(resource, namespace, ref.name)
        where = f"{namespace}/{ref.name}" if namespace else ref.name
        if obj is None:
            raise satokens.TokenError(f"{what} {where} referenced by the token no longer exists")
        uid = (obj.get("metadata") or {}).get("uid", "")
        if ref.uid and uid != ref.uid:
            raise satokens.TokenError(f"{what} UID ({uid}) does not match claim ({ref.uid})")
        if _deleted_long_ago(obj, now):
            raise satokens.TokenError(f"{what} {where} referenced by the token has been deleted")
        return obj


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
    request without credentials is refused. The loopback token and ServiceAccount tokens alone
    do not enable it, so a server without user authentication still serves everyone, as
    system:anonymous; a ServiceAccount token that fails its checks is refused all the same.
    """

    tokens: dict[str, UserInfo] = field(default_factory=dict)
    client_certs: bool = False
    loopback_token: str | None = None
    service_accounts: ServiceAccountTokens | None = None

    @property
    def enabled(self) -> bool:
        # ServiceAccount tokens are how workloads log in, not users: alone they leave an otherwise
        # open server open (a bad one is still refused: see _by_token).
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
        user = self.tokens.get(token)
        if user is None and self.service_accounts is not None and self.service_accounts.verifier.ours(token):
            try:
                user = self.service_accounts.user(token)
            except satokens.TokenError:
                raise InvalidToken() from None
        return user

    def review(self, token: str, audiences: tuple[str, ...] = ()) -> tuple[UserInfo | None, tuple[str, ...], str]:
        """A TokenReview: (the user or None, the audiences it was checked for, the error)."""
        sa = self.service_accounts
        if sa is not None and sa.verifier.ours(token):
            wanted = audiences or sa.audiences
            try:
                account = sa.user(token, wanted)
            except satokens.TokenError as exc:
                return None, (), str(exc)
            claimed = sa.verifier.verify(token, wanted).audiences
            return account.with_authenticated(), tuple(a for a in wanted if a in claimed), ""
        user = None if self.loopback_token and hmac.compare_digest(token, self.loopback_token) \
            else self.tokens.get(token)  # the loopback identity is never handed out in a review
        if user is None:
            return None, (), "[invalid bearer token, token lookup failed]"
        return user.with_authenticated(), audiences, ""
