"""The API server's TLS: a serving context that optionally verifies client certificates."""

from __future__ import annotations

import ssl


def serving_context(cert_file: str, key_file: str, client_ca_file: str | None = None) -> ssl.SSLContext:
    """TLS 1.2+ with the serving cert; with a client CA, certificates are asked for and verified
    when given (CERT_OPTIONAL), so token users without one still connect, as with kube-apiserver."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    if client_ca_file:
        ctx.load_verify_locations(cafile=client_ca_file)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx
