"""The cluster PKI directory: made once, never overwritten, certificates as Kubernetes expects."""

from __future__ import annotations

import ipaddress
import stat

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from controlplane.auth.pki import ensure_pki, issue, load_ca


def cert(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_first_start_makes_the_pki_and_later_starts_keep_it(tmp_path):
    paths = ensure_pki(tmp_path / "pki", ("api.example.test", "10.0.0.5"))
    for key in (paths.ca_key, paths.serving_key, paths.admin_key, paths.sa_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ca, serving, admin = cert(paths.ca_cert), cert(paths.serving_cert), cert(paths.admin_cert)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for leaf in (serving, admin):
        leaf.verify_directly_issued_by(ca)
    san = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    # Pods reach the API as the `kubernetes` Service: its names and default ClusterIP are named too.
    assert set(san.get_values_for_type(x509.DNSName)) == {
        "localhost", "api.example.test", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local"}
    assert set(san.get_values_for_type(x509.IPAddress)) == {ipaddress.ip_address("127.0.0.1"),
                                                           ipaddress.ip_address("10.0.0.5"),
                                                           ipaddress.ip_address("10.96.0.1")}
    # Kubernetes' convention: CN is the user, O the groups.
    assert admin.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "admin"
    assert admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    usage = admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]

    before = {p: p.read_bytes() for p in (paths.directory).iterdir()}
    ensure_pki(tmp_path / "pki", ("other.host",))
    assert {p: p.read_bytes() for p in paths.directory.iterdir()} == before

    paths.serving_key.unlink()  # half a pair is refused, not silently replaced
    with pytest.raises(ValueError, match="apiserver.crt and .*apiserver.key must both exist"):
        ensure_pki(tmp_path / "pki")


def test_issued_client_certificates_name_user_and_groups(tmp_path):
    paths = ensure_pki(tmp_path)
    issued = issue(load_ca(paths), "node:worker-1", groups=("system:nodes", "extra"))
    c = x509.load_pem_x509_certificate(issued.cert)
    c.verify_directly_issued_by(cert(paths.ca_cert))
    assert [a.value for a in c.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["system:nodes",
                                                                                               "extra"]
