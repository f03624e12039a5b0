"""Encryption at rest for chosen resources (Secrets), as kube-apiserver's EncryptionConfiguration.

The operator's file (held outside etcd) lists, per resource, providers in order: the first
one encrypts every write, all of them are tried on read, so a key can be rotated by putting
a new key first, rewriting the objects, then dropping the old key. Supported providers:
`aesgcm` (AES-GCM with a 12-byte random nonce, the etcd key as associated data so a value
cannot be moved to another key) and `identity` (plain). Stored values carry kube's prefix
`k8s:enc:aesgcm:v1:<key name>:`, so `etcdctl get` shows which key sealed a value.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..writeonce import write_new
from . import keys

PREFIX = b"k8s:enc:"


class EncryptionConfigError(ValueError):
    """The encryption configuration file is unusable; the message says where."""


class DecryptError(Exception):
    """A stored value cannot be decrypted with any configured key."""


@dataclass(frozen=True)
class _AesGcm:
    name: str
    cipher: AESGCM

    @property
    def prefix(self) -> bytes:
        return PREFIX + b"aesgcm:v1:" + self.name.encode() + b":"

    def seal(self, key: str, plain: bytes) -> bytes:
        nonce = os.urandom(12)
        return self.prefix + nonce + self.cipher.encrypt(nonce, plain, key.encode())

    def open(self, key: str, stored: bytes) -> bytes:
        body = stored[len(self.prefix):]
        return self.cipher.decrypt(body[:12], body[12:], key.encode())


class Transformer:
    """Maps values of the configured resources to and from their stored form."""

    def __init__(self, by_resource: dict[str, list[_AesGcm | None]]) -> None:
        # None in a provider list is `identity`.
        self._by_resource = by_resource

    def _providers(self, key: str) -> list[_AesGcm | None] | None:
        resource = key[len(keys.ROOT):].split("/", 1)[0] if key.startswith(keys.ROOT) else ""
        return self._by_resource.get(resource)

    def to_storage(self, key: str, value: bytes) -> bytes:
        providers = self._providers(key)
        if not providers or providers[0] is None:
            return value
        return providers[0].seal(key, value)

    def from_storage(self, key: str, value: bytes) -> bytes:
        if not value.startswith(PREFIX):
            return value  # written before encryption was turned on, or identity
        for provider in self._providers(key) or []:
            if provider is not None and value.startswith(provider.prefix):
                try:
                    return provider.open(key, value)
                except InvalidTag:
                    raise DecryptError(f"{key}: the stored value does not decrypt with key "
                                       f"{provider.name!r} (tampered, or the key changed)") from None
        name = value[len(PREFIX):].split(b":", 3)[:3]
        raise DecryptError(f"{key}: sealed by {b':'.join(name).decode(errors='replace')}, "
                           "which is not in the encryption configuration")


def load(path: str | Path) -> Transformer:
    """Read a kube EncryptionConfiguration (apiserver.config.k8s.io/v1) file."""
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise EncryptionConfigError(f"{path}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("kind") != "EncryptionConfiguration":
        raise EncryptionConfigError(f"{path}: expected kind EncryptionConfiguration")
    by_resource: dict[str, list[_AesGcm | None]] = {}
    for i, rule in enumerate(doc.get("resources") or []):
        providers = [key for j, p in enumerate(rule.get("providers") or [])
                     for key in _provider(path, f"resources[{i}].providers[{j}]", p)]
        if not providers:
            raise EncryptionConfigError(f"{path}: resources[{i}].providers is empty")
        for resource in rule.get("resources") or []:
            by_resource[resource.split(".", 1)[0]] = providers
    return Transformer(by_resource)


def _provider(path: str | Path, where: str, spec: dict[str, Any]) -> list[_AesGcm | None]:
    """The keys of one provider entry, in order (identity is a single None)."""
    if "identity" in spec:
        return [None]
    if "aesgcm" not in spec:
        raise EncryptionConfigError(f"{path}: {where}: supported providers are aesgcm and identity")
    entries = (spec["aesgcm"] or {}).get("keys") or []
    if not entries:
        raise EncryptionConfigError(f"{path}: {where}.aesgcm.keys is empty")
    out: list[_AesGcm | None] = []
    for k, entry in enumerate(entries):
        field = f"{where}.aesgcm.keys[{k}]"
        if not entry.get("name"):
            raise EncryptionConfigError(f"{path}: {field}.name is required")
        try:
            secret = base64.b64decode(entry.get("secret") or "", validate=True)
        except binascii.Error as exc:
            raise EncryptionConfigError(f"{path}: {field}.secret: not base64 ({exc})") from None
        if len(secret) not in (16, 24, 32):
            raise EncryptionConfigError(f"{path}: {field}.secret: must be 16, 24 or 32 bytes, "
                                        f"got {len(secret)}")
        out.append(_AesGcm(str(entry["name"]), AESGCM(secret)))
    return out


def write_new_config(path: str | Path, resources: tuple[str, ...] = ("secrets",)) -> None:
    """A fresh configuration with one random 32-byte AES-GCM key (mode 0600), never overwriting."""
    text = yaml.safe_dump({
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
        "resources": [{"resources": list(resources), "providers": [
            {"aesgcm": {"keys": [{"name": "key1",
                                  "secret": base64.b64encode(os.urandom(32)).decode()}]}},
            {"identity": {}}]}]}, sort_keys=False)
    write_new(path, text.encode(), 0o600)
