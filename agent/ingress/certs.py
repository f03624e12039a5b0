"""TLS material for the ingress proxy: the default certificate, and checks of Ingress Secrets.

The default certificate answers TLS connections whose SNI name no Ingress Secret serves (as
ingress-nginx's "Kubernetes Ingress Controller Fake Certificate"): self-signed, made once per
node and kept in its state directory. A Secret whose certificate or key cannot be read, or
whose key does not belong to its certificate, is left out (HAProxy would refuse the whole
configuration for one bad file), and the agent says which and why.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DEFAULT_NAME = "pyctl ingress default certificate"


def self_signed(days: int = 3650) -> bytes:
    """A PEM bundle (certificate, then key) for the default certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DEFAULT_NAME)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("ingress.local")]), critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def problem(cert_pem: bytes, key_pem: bytes) -> str | None:
    """Why this certificate and key cannot be served; None when they can."""
    try:
        certs = x509.load_pem_x509_certificates(cert_pem)
    except ValueError as exc:
        return f"tls.crt is not a PEM certificate: {exc}"
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        return f"tls.key is not an unencrypted PEM private key: {exc}"
    ours = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    theirs = certs[0].public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    return None if ours == theirs else "tls.key does not belong to the certificate in tls.crt"
