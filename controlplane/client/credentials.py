"""How an in-process client proves who it is to a secured API server: TLS trust and identity.

`Credentials` holds the cluster CA to trust, and a bearer token and/or a client certificate.
Components receive only an API URL (`run_components(api_url, ...)`), so the process keeps one
registry from API URL to credentials — as a kubeconfig maps a server to its user — and an
`ApiClient` built without explicit credentials uses the ones registered for its URL.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass


@dataclass(frozen=True)
class Credentials:
    ca_file: str | None = None
    """PEM bundle of CAs to trust for the server's certificate (None: the system's)."""
    ca_data: str | None = None
    """The same as PEM text."""
    token: str | None = None
    """Sent as `Authorization: Bearer <token>`."""
    cert_file: str | None = None
    """A client certificate (PEM) and its key: the user is its CN, the groups its O."""
    key_file: str | None = None
    insecure: bool = False
    """Skip verifying the server's certificate (tests and debugging only)."""

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_file, cadata=self.ca_data)
        # As Go's crypto/x509: any certificate in the trust bundle is an anchor, so a server's
        # own certificate may be trusted directly (the API server's loopback clients do).
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


_REGISTERED: dict[str, Credentials] = {}


def _norm(url: str) -> str:
    return url.rstrip("/")


def register(api_url: str, credentials: Credentials) -> None:
    """Every ApiClient of this process for `api_url` uses `credentials` unless given others."""
    _REGISTERED[_norm(api_url)] = credentials


def unregister(api_url: str) -> None:
    _REGISTERED.pop(_norm(api_url), None)


def for_url(api_url: str) -> Credentials | None:
    return _REGISTERED.get(_norm(api_url))
