"""ServiceAccount tokens: the JWTs a TokenRequest mints and the checks of one presented back.

A token carries kube-apiserver's claims, so clients and tools that read them (TokenReview
users, `kubectl auth whoami`, OIDC-style verifiers) see what Kubernetes would write:

    {"iss": "https://kubernetes.default.svc.cluster.local", "sub": "system:serviceaccount:NS:NAME",
     "aud": [...], "exp": ..., "iat": ..., "nbf": ..., "jti": "<uuid>",
     "kubernetes.io": {"namespace": NS, "serviceaccount": {"name": NAME, "uid": ...},
                       "pod": {"name": ..., "uid": ...}, "node": {"name": ..., "uid": ...}}}

signed ES256 (the cluster's P-256 signing key, pki.py's sa.key) with `kid` = the unpadded
base64url SHA-256 of the public key's DER, as kube-apiserver names its keys. PyJWT does the
JOSE encoding and the signature, expiry, not-before and audience checks; what is left here
is which claims to write and which to require. Whether the bound objects still exist is the
API server's question (authn.py asks its cache): this module knows no server.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterable

import jwt
from cryptography.hazmat.primitives import serialization

DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"
ALGORITHM = "ES256"
LEEWAY = 60
"""Seconds of clock skew accepted on exp/nbf, kube-apiserver's jwt.DefaultLeeway."""
MIN_EXPIRATION = 600
"""TokenRequest refuses shorter lifetimes ("may not specify a duration less than 10 minutes")."""
DEFAULT_EXPIRATION = 3600
PREFIX = "system:serviceaccount:"
ALL_GROUP = "system:serviceaccounts"


class TokenError(Exception):
    """A token of this issuer that must be refused (bad signature, expired, wrong audience...)."""


@dataclass(frozen=True)
class Ref:
    """An object a token names: its ServiceAccount, or what it is bound to."""

    name: str
    uid: str = ""


@dataclass(frozen=True)
class Claims:
    namespace: str
    account: Ref
    audiences: tuple[str, ...]
    expires_at: int
    issued_at: int
    pod: Ref | None = None
    secret: Ref | None = None
    node: Ref | None = None

    @property
    def username(self) -> str:
        return username(self.namespace, self.account.name)


def username(namespace: str, account: str) -> str:
    return f"{PREFIX}{namespace}:{account}"


def groups(namespace: str) -> tuple[str, ...]:
    """The groups every ServiceAccount of `namespace` is in."""
    return (ALL_GROUP, f"{ALL_GROUP}:{namespace}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def key_id(public_key: Any) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _b64(hashlib.sha256(der).digest())


def _ref(obj: Any) -> Ref | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    return Ref(obj["name"], str(obj.get("uid") or ""))


class Signer:
    """Mints tokens with the cluster's signing key (a PEM private key, EC P-256)."""

    def __init__(self, key_pem: bytes, issuer: str = DEFAULT_ISSUER) -> None:
        self.key: Any = serialization.load_pem_private_key(key_pem, password=None)
        self.issuer = issuer
        self.kid = key_id(self.key.public_key())

    def mint(self, namespace: str, account: Ref, audiences: Iterable[str], expiration_seconds: int, *,
             pod: Ref | None = None, secret: Ref | None = None, node: Ref | None = None,
             now: float | None = None) -> tuple[str, int]:
        """(token, expiry as Unix seconds)."""
        issued = int(time.time() if now is None else now)
        expires = issued + int(expiration_seconds)
        private: dict[str, Any] = {"namespace": namespace,
                                   "serviceaccount": {"name": account.name, "uid": account.uid}}
        for key, ref in (("pod", pod), ("secret", secret), ("node", node)):
            if ref is not None:
                private[key] = {"name": ref.name, "uid": ref.uid}
        claims = {"iss": self.issuer, "sub": username(namespace, account.name), "aud": list(audiences),
                  "exp": expires, "iat": issued, "nbf": issued, "jti": str(uuid.uuid4()),
                  "kubernetes.io": private}
        return jwt.encode(claims, self.key, algorithm=ALGORITHM, headers={"kid": self.kid}), expires


def load_public_keys(pems: Iterable[bytes]) -> list[Any]:
    """Public keys from PEM files' contents: public keys, or private keys (their public half)."""
    out = []
    for pem in pems:
        for block in _pem_blocks(pem):
            if b"PRIVATE KEY" in block.split(b"\n", 1)[0]:
                out.append(serialization.load_pem_private_key(block, password=None).public_key())
            else:
                out.append(serialization.load_pem_public_key(block))
    return out


def _pem_blocks(pem: bytes) -> list[bytes]:
    blocks, current = [], []
    for line in pem.splitlines(keepends=True):
        if line.startswith(b"-----BEGIN"):
            current = [line]
        elif current:
            current.append(line)
            if line.startswith(b"-----END"):
                blocks.append(b"".join(current))
                current = []
    return blocks


class Verifier:
    """Checks tokens of `issuers` against `public_keys` and an audience list."""

    def __init__(self, public_keys: list[Any], issuers: tuple[str, ...] = (DEFAULT_ISSUER,)) -> None:
        self.keys = {key_id(k): k for k in public_keys}
        self.issuers = issuers

    def ours(self, token: str) -> bool:
        """Whether `token` is a JWT naming one of our issuers (else another authenticator's)."""
        if token.count(".") != 2:
            return False
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return False
        return claims.get("iss") in self.issuers

    def verify(self, token: str, audiences: tuple[str, ...]) -> Claims:
        """The token's claims; TokenError says why it is refused."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {exc}") from None
        keys = [self.keys[kid]] if kid in self.keys else list(self.keys.values())
        if not keys:
            raise TokenError("no key to verify service account tokens with")
        last: Exception | None = None
        for key in keys:
            try:
                raw = jwt.decode(token, key, algorithms=["ES256", "ES384", "RS256"], audience=list(audiences),
                                 issuer=list(self.issuers), leeway=LEEWAY,
                                 options={"require": ["exp", "iat", "sub", "aud"]})
                break
            except jwt.InvalidSignatureError as exc:
                last = exc
                continue
            except jwt.ExpiredSignatureError:
                raise TokenError("service account token has expired") from None
            except jwt.InvalidAudienceError:
                raise TokenError("token audiences do not match the API server's") from None
            except jwt.PyJWTError as exc:
                raise TokenError(f"invalid service account token: {exc}") from None
        else:
            raise TokenError(f"invalid service account token: {last or 'no matching key'}")
        private = raw.get("kubernetes.io")
        if not isinstance(private, dict):
            raise TokenError("service account token carries no kubernetes.io claims")
        account = _ref(private.get("serviceaccount"))
        namespace = private.get("namespace")
        if account is None or not isinstance(namespace, str) or raw.get("sub") != username(namespace, account.name):
            raise TokenError("service account token names no consistent namespace and service account")
        aud = raw.get("aud")
        return Claims(namespace=namespace, account=account,
                      audiences=tuple([aud] if isinstance(aud, str) else aud or []),
                      expires_at=int(raw["exp"]), issued_at=int(raw["iat"]),
                      pod=_ref(private.get("pod")), secret=_ref(private.get("secret")),
                      node=_ref(private.get("node")))
