"""Encryption at rest: sealing, key binding, rotation and configuration errors."""

from __future__ import annotations

import base64
import os
import stat

import pytest
import yaml

from controlplane.store import encryption

SECRET_KEY = "/registry/secrets/default/db"


def config(tmp_path, *keys: tuple[str, bytes], identity_first: bool = False, name: str = "enc.yaml"):
    providers = [{"aesgcm": {"keys": [{"name": n, "secret": base64.b64encode(k).decode()}
                                      for n, k in keys]}}]
    providers = [{"identity": {}}, *providers] if identity_first else [*providers, {"identity": {}}]
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"apiVersion": "apiserver.config.k8s.io/v1",
                                    "kind": "EncryptionConfiguration",
                                    "resources": [{"resources": ["secrets"], "providers": providers}]}))
    return path


def test_secrets_are_sealed_and_other_resources_are_not(tmp_path):
    t = encryption.load(config(tmp_path, ("key1", os.urandom(32))))
    sealed = t.to_storage(SECRET_KEY, b'{"data":{"password":"aHVudGVyMg=="}}')
    assert sealed.startswith(b"k8s:enc:aesgcm:v1:key1:") and b"aHVudGVyMg" not in sealed
    assert t.from_storage(SECRET_KEY, sealed) == b'{"data":{"password":"aHVudGVyMg=="}}'
    plain = b'{"data":{"a":"b"}}'
    assert t.to_storage("/registry/configmaps/default/c", plain) == plain


def test_a_sealed_value_does_not_open_under_another_key(tmp_path):
    t = encryption.load(config(tmp_path, ("key1", os.urandom(32))))
    sealed = t.to_storage(SECRET_KEY, b"x")
    with pytest.raises(encryption.DecryptError, match="does not decrypt"):
        t.from_storage("/registry/secrets/default/other", sealed)


def test_rotation_new_key_first_still_reads_the_old_one(tmp_path):
    old, new = os.urandom(32), os.urandom(32)
    before = encryption.load(config(tmp_path, ("key1", old), name="a.yaml"))
    sealed_old = before.to_storage(SECRET_KEY, b"v1")
    rotated = encryption.load(config(tmp_path, ("key2", new), ("key1", old), name="b.yaml"))
    assert rotated.from_storage(SECRET_KEY, sealed_old) == b"v1"
    assert rotated.to_storage(SECRET_KEY, b"v2").startswith(b"k8s:enc:aesgcm:v1:key2:")
    # Once key1 is dropped, what it sealed is reported, not returned as garbage.
    dropped = encryption.load(config(tmp_path, ("key2", new), name="c.yaml"))
    with pytest.raises(encryption.DecryptError, match="aesgcm:v1:key1"):
        dropped.from_storage(SECRET_KEY, sealed_old)


def test_identity_first_writes_plain_but_still_reads_sealed(tmp_path):
    k = os.urandom(32)
    sealed = encryption.load(config(tmp_path, ("key1", k), name="a.yaml")).to_storage(SECRET_KEY, b"s")
    t = encryption.load(config(tmp_path, ("key1", k), identity_first=True, name="b.yaml"))
    assert t.to_storage(SECRET_KEY, b"plain") == b"plain"
    assert t.from_storage(SECRET_KEY, sealed) == b"s"


@pytest.mark.parametrize("doc, message", [
    ({"kind": "Something"}, "expected kind EncryptionConfiguration"),
    ({"kind": "EncryptionConfiguration", "resources": [{"resources": ["secrets"], "providers": []}]},
     "providers is empty"),
    ({"kind": "EncryptionConfiguration", "resources": [{"resources": ["secrets"], "providers": [
        {"aesgcm": {"keys": [{"name": "k", "secret": base64.b64encode(b"short").decode()}]}}]}]},
     "must be 16, 24 or 32 bytes, got 5"),
    ({"kind": "EncryptionConfiguration", "resources": [{"resources": ["secrets"], "providers": [
        {"aesgcm": {"keys": [{"name": "k", "secret": "***"}]}}]}]}, "not base64"),
    ({"kind": "EncryptionConfiguration", "resources": [{"resources": ["secrets"], "providers": [
        {"kms": {}}]}]}, "supported providers are aesgcm and identity"),
])
def test_bad_configuration_is_refused_with_the_place(tmp_path, doc, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(encryption.EncryptionConfigError, match=message):
        encryption.load(path)


def test_a_new_config_is_private_and_never_overwritten(tmp_path):
    path = tmp_path / "enc.yaml"
    encryption.write_new_config(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    t = encryption.load(path)
    assert t.to_storage(SECRET_KEY, b"x").startswith(b"k8s:enc:aesgcm:v1:key1:")
    with pytest.raises(FileExistsError):
        encryption.write_new_config(path)
