"""Node certificates: what the gateway signs for a joined node, and who a peer certificate names.

A node's certificate says CN=`system:node:<name>`, O=`system:nodes` (Kubernetes' node
identity), carries the node name as its DNS SAN (the API server checks it when it dials the
agent), and serves both as the agent's client cert (to the gateway) and as its serving cert
(logs, exec). Only the public key comes from the node's CSR: the key never leaves the node,
and the subject is ours, whatever the CSR asked for.

The API server dials agents with its own client cert, CN=`kube-apiserver-kubelet-client`,
O=`system:masters` (kubeadm's name for it), kept in the PKI directory beside the others.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .pki import Issued, PkiPaths, _ensure_pair, _name, _san, issue, load_ca

NODE_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
KUBELET_CLIENT = "kube-apiserver-kubelet-client"
"""The CN agents accept on their own server: the API server's client cert for dialing them."""
DEFAULT_LIFETIME = 365 * 24 * 3600.0


class CsrError(ValueError):
    pass


def load_csr(csr_pem: bytes) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise CsrError(f"csr_pem is not a PEM certificate request: {exc}") from None
    if not csr.is_signature_valid:
        raise CsrError("csr_pem: the request's signature does not match its key")
    return csr


def sign_node(ca: Issued, node: str, csr_pem: bytes, lifetime: float = DEFAULT_LIFETIME) -> bytes:
    """A PEM node certificate for `node` over the CSR's public key, valid `lifetime` seconds."""
    csr = load_csr(csr_pem)
    ca_cert = x509.load_pem_x509_certificate(ca.cert)
    ca_key: Any = serialization.load_pem_private_key(ca.key, password=None)
    now = dt.datetime.now(dt.timezone.utc)
    # Back-dated for lagging clocks, but by little when the lifetime is short (tests): the agent
    # renews at two thirds of not_before..not_after.
    back = dt.timedelta(seconds=min(300.0, lifetime / 10))
    cert = (x509.CertificateBuilder()
            .subject_name(_name(NODE_PREFIX + node, (NODES_GROUP,))).issuer_name(ca_cert.subject)
            .public_key(csr.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - back).not_valid_after(now + dt.timedelta(seconds=lifetime))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH,
                                                  ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(_san((node,)), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def _subject(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(oid)]


def verified_peer(cert_pem: bytes, ca_pem: bytes, now: dt.datetime | None = None) -> x509.Certificate:
    """The peer certificate if `ca_pem` issued it and it is valid now; else ValueError."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    ca = x509.load_pem_x509_certificate(ca_pem)
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, Exception) as exc:  # InvalidSignature is not a ValueError
        raise ValueError(f"the certificate is not issued by the cluster CA: {exc or type(exc).__name__}")
    now = now or dt.datetime.now(dt.timezone.utc)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise ValueError(f"the certificate is not valid now (valid {cert.not_valid_before_utc} "
                         f"to {cert.not_valid_after_utc})")
    return cert


def node_name(cert: x509.Certificate) -> str:
    """The node a certificate names (CN system:node:<name>, O system:nodes); ValueError otherwise."""
    cns = _subject(cert, NameOID.COMMON_NAME)
    if len(cns) != 1 or not cns[0].startswith(NODE_PREFIX) or NODES_GROUP not in _subject(
            cert, NameOID.ORGANIZATION_NAME):
        raise ValueError(f"the certificate ({cert.subject.rfc4514_string()}) is not a node's "
                         f"(CN={NODE_PREFIX}<name>, O={NODES_GROUP})")
    return cns[0][len(NODE_PREFIX):]


def common_name(cert: x509.Certificate) -> str:
    cns = _subject(cert, NameOID.COMMON_NAME)
    return cns[0] if cns else ""


def ensure_kubelet_client(paths: PkiPaths) -> tuple[Path, Path]:
    """The API server's client cert for agents (created where missing), as (cert, key) paths."""
    cert, key = paths.pair("apiserver-kubelet-client")
    _ensure_pair(cert, key, lambda: issue(load_ca(paths), KUBELET_CLIENT, groups=("system:masters",)))
    return cert, key
