"""From `pyctl-controlplane` flags to a secured API server: files, ssl context, loopback identity.

`--pki-dir` fills in whatever TLS flag is not given from the cluster PKI (creating it on
first start). The in-process components (scheduler, controllers, gateway) do not get
certificates of their own: like kube-apiserver's loopback client, they present a random token
made at each start, known only to this process, that maps to system:apiserver in
system:masters. Nothing to issue, rotate or leak to disk, and they need no RBAC objects.
"""

from __future__ import annotations

import secrets
import ssl
from dataclasses import dataclass, replace

from ..auth.nodecert import ensure_kubelet_client
from ..auth.pki import PkiPaths, ensure_pki
from ..auth.tls import serving_context
from ..client.credentials import Credentials
from .config import ApiConfig


@dataclass(frozen=True)
class Secured:
    config: ApiConfig
    """The ApiConfig with TLS files and the loopback token filled in."""
    ssl: ssl.SSLContext | None
    """The serving context; None means plain HTTP (no TLS configured)."""
    loopback: Credentials
    """What in-process components present to this API server."""
    pki: PkiPaths | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.ssl is not None else "http"


def secure(config: ApiConfig, pki_dir: str | None = None, hosts: tuple[str, ...] = ()) -> Secured:
    """Fill `config` from the PKI directory and make the loopback identity.

    Raises ValueError for half a TLS configuration (a cert without its key)."""
    pki = ensure_pki(pki_dir, hosts) if pki_dir else None
    if pki is not None:
        config = replace(config, tls_cert_file=config.tls_cert_file or str(pki.serving_cert),
                         tls_private_key_file=config.tls_private_key_file or str(pki.serving_key),
                         client_ca_file=config.client_ca_file or str(pki.ca_cert))
        cert, key = ensure_kubelet_client(pki)  # to dial node agents (logs, exec) with mutual TLS
        config = replace(config, service_account_signing_key_file=config.service_account_signing_key_file
                         or str(pki.sa_key))
        config = replace(config, kubelet_client_certificate=config.kubelet_client_certificate or str(cert),
                         kubelet_client_key=config.kubelet_client_key or str(key),
                         kubelet_certificate_authority=config.kubelet_certificate_authority or str(pki.ca_cert))
    if bool(config.tls_cert_file) != bool(config.tls_private_key_file):
        raise ValueError("--tls-cert-file and --tls-private-key-file must be given together")
    token = config.loopback_token or secrets.token_urlsafe(32)
    config = replace(config, loopback_token=token)
    if not config.tls_cert_file:
        if config.client_ca_file:
            raise ValueError("--client-ca-file needs TLS: give --tls-cert-file and --tls-private-key-file")
        return Secured(config, None, Credentials(token=token), pki)
    assert config.tls_private_key_file is not None
    context = serving_context(config.tls_cert_file, config.tls_private_key_file, config.client_ca_file)
    # Trust the serving cert itself (not its CA): a loopback client talks to this server only.
    loopback = Credentials(ca_file=config.tls_cert_file, token=token)
    return Secured(config, context, loopback, pki)
