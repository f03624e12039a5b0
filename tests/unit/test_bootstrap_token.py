"""Bootstrap tokens and the CA hash: kubeadm's formats, and the checks a joining token must pass."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from controlplane.auth import bootstrap_token as bt
from controlplane.auth.pki import new_ca

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)


def test_generated_tokens_have_kubeadms_form_and_differ():
    tokens = {bt.generate() for _ in range(20)}
    assert len(tokens) == 20
    for t in tokens:
        assert bt.TOKEN_RE.match(t), t
        assert bt.parse(t) == tuple(t.split("."))


@pytest.mark.parametrize("bad", ["", "abcdef", "abcdef.0123456789abcde", "ABCDEF.0123456789abcdef",
                                 "abcdef:0123456789abcdef", "abcdef.0123456789abcdef0", " abcdef.0123456789abcdef"])
def test_malformed_tokens_are_refused_with_the_expected_form(bad):
    with pytest.raises(bt.TokenError, match=r"malformed: expected the form \[a-z0-9\]\{6\}\.\[a-z0-9\]\{16\}"):
        bt.parse(bad)


def test_secret_is_kubeadms_and_checks_pass_until_expiry():
    token = "abcdef.0123456789abcdef"
    secret = bt.secret_for(token, 3600, "rack 4", now=NOW)
    assert secret["metadata"] == {"name": "bootstrap-token-abcdef", "namespace": "kube-system"}
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data == {"token-id": "abcdef", "token-secret": "0123456789abcdef", "description": "rack 4",
                    "usage-bootstrap-authentication": "true", "expiration": "2026-01-01T13:00:00Z"}
    assert bt.check(token, secret, now=NOW + dt.timedelta(minutes=59)) == "abcdef"
    with pytest.raises(bt.TokenError, match="token abcdef expired at 2026-01-01T13:00:00Z"):
        bt.check(token, secret, now=NOW + dt.timedelta(hours=1))
    assert "expiration" not in bt.fields(bt.secret_for(token, 0))  # --ttl 0: forever


def test_wrong_secret_missing_token_and_wrong_usage_are_refused():
    token = "abcdef.0123456789abcdef"
    secret = bt.secret_for(token, 3600, now=NOW)
    with pytest.raises(bt.TokenError, match="wrong secret"):
        bt.check("abcdef.aaaaaaaaaaaaaaaa", secret, now=NOW)
    with pytest.raises(bt.TokenError, match="not known to the cluster"):
        bt.check(token, None, now=NOW)
    secret["data"]["usage-bootstrap-authentication"] = base64.b64encode(b"false").decode()
    with pytest.raises(bt.TokenError, match="usage-bootstrap-authentication"):
        bt.check(token, secret, now=NOW)


def test_ca_cert_hash_is_sha256_of_the_subject_public_key_info():
    ca = new_ca()
    spki = x509.load_pem_x509_certificate(ca.cert).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert bt.ca_cert_hash(ca.cert) == "sha256:" + hashlib.sha256(spki).hexdigest()
    assert bt.parse_hash(bt.ca_cert_hash(ca.cert).upper().replace("SHA256", "sha256")) == bt.ca_cert_hash(ca.cert)
    for bad in ("deadbeef", "md5:" + "0" * 64, "sha256:" + "0" * 63):
        with pytest.raises(ValueError, match="expected sha256:<64 hex digits>"):
            bt.parse_hash(bad)


def test_the_agent_and_the_control_plane_agree_on_the_identity_conventions():
    from agent import credentials as agent_side
    from controlplane.auth import nodecert

    ca = new_ca().cert
    assert agent_side.ca_cert_hash(ca) == bt.ca_cert_hash(ca)
    assert (agent_side.NODE_PREFIX, agent_side.NODES_GROUP, agent_side.KUBELET_CLIENT) == (
        nodecert.NODE_PREFIX, nodecert.NODES_GROUP, nodecert.KUBELET_CLIENT)
    assert agent_side.TOKEN_RE.pattern == bt.TOKEN_RE.pattern.replace("(", "").replace(")", "")
    assert agent_side.join_flag_error(bt.generate(), bt.ca_cert_hash(ca)) == ""
    assert "malformed" in agent_side.join_flag_error("abc.def", "")
    assert "expected sha256:<64 hex digits>" in agent_side.join_flag_error(bt.generate(), "sha256:00")
