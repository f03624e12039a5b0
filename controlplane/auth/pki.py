"""The cluster PKI: one CA and the certificates it issues, as files in a directory.

Layout of the directory (an operator backs it up as a whole; keys are 0600):

    ca.crt  ca.key                the cluster CA
    apiserver.crt  apiserver.key  the API server's serving certificate
    admin.crt  admin.key          the admin's client certificate (CN=admin, O=system:masters)
    sa.key  sa.pub                the ServiceAccount token signing key and its public half
                                  (kubeadm's names): every API server of the cluster signs and
                                  checks tokens with it, so it is backed up with the CA

Client certificates follow Kubernetes' convention: the subject's CN is the user name and each
O is a group. `ensure_pki` creates what is missing and never overwrites a file, so a restart
keeps every credential already handed out.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..writeonce import write_new

CA_YEARS = 10
LEAF_YEARS = 1
# The names pods reach the API by (the `kubernetes` Service, kube's in-cluster names) and that
# Service's ClusterIP in the default range; the API server adds the one of its own range.
IN_CLUSTER_HOSTS = ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                    "kubernetes.default.svc.cluster.local", "10.96.0.1")
DEFAULT_HOSTS = ("127.0.0.1", "localhost") + IN_CLUSTER_HOSTS


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, PEM-encoded."""

    cert: bytes
    key: bytes


class PkiPaths:
    """Where `ensure_pki` keeps each file: `<name>.crt` and `<name>.key` per pair."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.ca_cert, self.ca_key = self.pair("ca")
        self.serving_cert, self.serving_key = self.pair("apiserver")
        self.admin_cert, self.admin_key = self.pair("admin")
        self.sa_key, self.sa_pub = self.directory / "sa.key", self.directory / "sa.pub"

    def pair(self, name: str) -> tuple[Path, Path]:
        return self.directory / f"{name}.crt", self.directory / f"{name}.key"


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256: what kubeadm uses for new clusters; small, fast, and every TLS stack speaks it.
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(cn: str, orgs: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    return x509.Name(attrs + [x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _validity(builder: x509.CertificateBuilder, years: int) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.timezone.utc)
    # Back-dated a little: a client whose clock lags must not see a not-yet-valid certificate.
    return builder.not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(
        now + dt.timedelta(days=365 * years))


def new_ca(common_name: str = "pyctl-ca") -> Issued:
    key = _new_key()
    name = _name(common_name)
    builder = _validity(x509.CertificateBuilder(), CA_YEARS).subject_name(name).issuer_name(name)
    cert = (builder.public_key(key.public_key()).serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _san(hosts: tuple[str, ...]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):  # keep order, drop repeats
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def issue(ca: Issued, common_name: str, *, groups: tuple[str, ...] = (),
          hosts: tuple[str, ...] = (), server: bool = False) -> Issued:
    """A leaf certificate signed by `ca`: a client cert (CN=user, O=groups), or with
    `server=True` a serving cert whose SANs are `hosts`."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert)
    ca_key: Any = serialization.load_pem_private_key(ca.key, password=None)  # any signing key type
    key = _new_key()
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (_validity(x509.CertificateBuilder(), LEAF_YEARS)
               .subject_name(_name(common_name, groups)).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False))
    if hosts:
        builder = builder.add_extension(_san(hosts), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def missing_sans(cert_pem: bytes, hosts: tuple[str, ...]) -> list[str]:
    """The `hosts` a serving certificate does not name (made before they were needed)."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return list(hosts)
    named = {str(n) for n in san.get_values_for_type(x509.IPAddress)} | set(san.get_values_for_type(x509.DNSName))
    return [h for h in dict.fromkeys(hosts) if h not in named]


def _ensure_pair(cert_path: Path, key_path: Path, make) -> Issued:
    if cert_path.exists() and key_path.exists():
        return Issued(cert_path.read_bytes(), key_path.read_bytes())
    if cert_path.exists() or key_path.exists():
        raise ValueError(f"{cert_path} and {key_path} must both exist or both be missing; "
                         "restore the missing one from backup or remove the other")
    pair: Issued = make()
    write_new(key_path, pair.key, 0o600)
    write_new(cert_path, pair.cert, 0o644)
    return pair


def _ensure_signing_key(key_path: Path, pub_path: Path) -> None:
    """The ServiceAccount signing key (P-256, tokens are ES256) and its public key, made once."""
    if key_path.exists():
        if not pub_path.exists():  # the public half is derived: remake it rather than refuse
            key: Any = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            write_new(pub_path, _public_pem(key), 0o644)
        return
    if pub_path.exists():
        raise ValueError(f"{pub_path} exists without {key_path}: restore the key from backup (tokens "
                         "signed with it stop working without it) or remove the public key")
    new = _new_key()
    write_new(key_path, _key_pem(new), 0o600)
    write_new(pub_path, _public_pem(new), 0o644)


def _public_pem(key: Any) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def load_ca(paths: PkiPaths) -> Issued:
    return Issued(paths.ca_cert.read_bytes(), paths.ca_key.read_bytes())


def ensure_pki(directory: str | Path, hosts: tuple[str, ...] = ()) -> PkiPaths:
    """Create the CA, the serving cert (SANs: 127.0.0.1, localhost and `hosts`), the admin's
    client cert and the ServiceAccount signing key where missing; existing files are kept."""
    paths = PkiPaths(Path(directory))
    paths.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca = _ensure_pair(paths.ca_cert, paths.ca_key, new_ca)
    _ensure_pair(paths.serving_cert, paths.serving_key,
                 lambda: issue(ca, "pyctl-apiserver", hosts=DEFAULT_HOSTS + tuple(hosts), server=True))
    _ensure_pair(paths.admin_cert, paths.admin_key,
                 lambda: issue(ca, "admin", groups=("system:masters",)))
    _ensure_signing_key(paths.sa_key, paths.sa_pub)
    return paths
