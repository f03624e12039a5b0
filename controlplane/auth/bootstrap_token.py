"""Bootstrap (join) tokens, as kubeadm makes them: `<id>.<secret>`, kept as a Secret.

A token is `[a-z0-9]{6}.[a-z0-9]{16}`; its Secret is `kube-system/bootstrap-token-<id>` of type
`bootstrap.kubernetes.io/token` with the fields token-id, token-secret, expiration (RFC 3339),
description and usage-bootstrap-authentication. This module owns the format, the Secret's
body and the check a joining node's token must pass; it does no I/O.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

NAMESPACE = "kube-system"
SECRET_TYPE = "bootstrap.kubernetes.io/token"
PREFIX = "bootstrap-token-"
TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


class TokenError(ValueError):
    """The token cannot be used; the message says why, for the joining operator."""


def generate() -> str:
    pick = lambda n: "".join(secrets.choice(_ALPHABET) for _ in range(n))  # noqa: E731
    return f"{pick(6)}.{pick(16)}"


def parse(token: str) -> tuple[str, str]:
    """(id, secret) of a well-formed token."""
    m = TOKEN_RE.match(token or "")
    if m is None:
        raise TokenError("the token is malformed: expected the form [a-z0-9]{6}.[a-z0-9]{16} "
                         "(see `pyctl token create`)")
    return m.group(1), m.group(2)


def secret_name(token_id: str) -> str:
    return PREFIX + token_id


def _rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def secret_for(token: str, ttl_seconds: float, description: str = "",
               now: dt.datetime | None = None) -> dict[str, Any]:
    """The Secret that makes `token` valid; ttl 0 means it never expires (as kubeadm's --ttl 0)."""
    token_id, token_secret = parse(token)
    data = {"token-id": token_id, "token-secret": token_secret,
            "usage-bootstrap-authentication": "true"}
    if ttl_seconds > 0:
        data["expiration"] = _rfc3339((now or dt.datetime.now(dt.timezone.utc))
                                      + dt.timedelta(seconds=ttl_seconds))
    if description:
        data["description"] = description
    return {"apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
            "metadata": {"name": secret_name(token_id), "namespace": NAMESPACE},
            # `data`, base64, as the API stores it: readers need no stringData merge.
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def fields(secret: dict[str, Any]) -> dict[str, str]:
    """The Secret's fields decoded (`data` is base64; `stringData` as written)."""
    out = {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.get("data") or {}).items()}
    out.update(secret.get("stringData") or {})
    return out


def expiration(values: dict[str, str]) -> dt.datetime | None:
    text = values.get("expiration")
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise TokenError(f"the token's expiration {text!r} is not RFC 3339") from None


def check(token: str, secret: dict[str, Any] | None, now: dt.datetime | None = None) -> str:
    """The token id if `secret` (None: not found) makes `token` valid for joining; else TokenError."""
    token_id, token_secret = parse(token)
    if secret is None:
        raise TokenError(f"token {token_id} is not known to the cluster (deleted, or never created)")
    values = fields(secret)
    if secret.get("type") != SECRET_TYPE or values.get("token-id") != token_id:
        raise TokenError(f"token {token_id} is not known to the cluster (its Secret is not a bootstrap token)")
    if not hmac.compare_digest(values.get("token-secret", ""), token_secret):
        raise TokenError(f"token {token_id}: wrong secret")
    if values.get("usage-bootstrap-authentication") != "true":
        raise TokenError(f"token {token_id} may not be used to join nodes (usage-bootstrap-authentication)")
    expires = expiration(values)
    if expires is not None and expires <= (now or dt.datetime.now(dt.timezone.utc)):
        raise TokenError(f"token {token_id} expired at {values['expiration']}; create a new one with "
                         "`pyctl token create`")
    return token_id


def ca_cert_hash(ca_pem: bytes) -> str:
    """kubeadm's discovery hash: `sha256:` + hex SHA-256 of the CA's DER SubjectPublicKeyInfo."""
    cert = x509.load_pem_x509_certificate(ca_pem)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def parse_hash(value: str) -> str:
    """A --ca-cert-hash, normalised to `sha256:<64 lowercase hex>`."""
    algo, sep, digest = value.strip().partition(":")
    if not sep or algo.lower() != "sha256" or not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
        raise ValueError(f"--ca-cert-hash {value!r}: expected sha256:<64 hex digits>")
    return "sha256:" + digest.lower()
