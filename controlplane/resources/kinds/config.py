"""ConfigMaps and Secrets (v1): keys, sizes, base64 data, Secret types, immutability.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ...machinery.types import Obj
from ..fields import as_dict, as_str, fill, normalized
from ..info import ResourceInfo
from ..kind import Kind, UpdateRule
from ..tables import AGE, NAME, Column, Printer
from ..validation import Cause, config_key, forbidden, invalid, required, too_long

IMMUTABLE_WHEN_SET = "field is immutable when `immutable` is set"


def _unwrap_base64(data: Any) -> None:
    """Bytes fields (Secret data, ConfigMap binaryData) as Kubernetes stores them.

    Kubernetes decodes them to bytes (Go's decoder skips CR and LF, so line-wrapped base64 as
    openssl and the docs' TLS Secret example write it is fine) and encodes them back in one
    line: what goes in wrapped comes out unwrapped. A value that does not decode is left for
    validation to name."""
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        if isinstance(value, str) and ("\n" in value or "\r" in value):
            try:
                raw = base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
            except (binascii.Error, ValueError):
                continue
            data[key] = base64.b64encode(raw).decode()


def _default_config_map(obj: Obj) -> None:
    _unwrap_base64(obj.get("binaryData"))


def _default_secret(obj: Obj) -> None:
    fill(obj, "type", "Opaque")
    _unwrap_base64(obj.get("data"))
    # stringData is write-only: merged into data (base64), winning over the same key there.
    strings = obj.get("stringData")
    if isinstance(strings, dict) and all(isinstance(v, str) for v in strings.values()):
        data = as_dict(obj.get("data")) if isinstance(obj.get("data"), dict) else {}
        data.update({k: base64.b64encode(v.encode()).decode() for k, v in strings.items()})
        obj["data"] = data
        del obj["stringData"]


def _config_keys(data: Any, path: str) -> list[Cause]:
    return [invalid(f"{path}[{k}]", k, m) for k in as_dict(data) for m in config_key(k)]


def _decoded(data: Any, path: str) -> tuple[dict[str, bytes], list[Cause]]:
    """Base64 values of a data map; the API carries bytes as base64 strings."""
    values, out = {}, []
    for key, value in as_dict(data).items():
        try:
            values[key] = base64.b64decode(as_str(value), validate=True)
        except (binascii.Error, ValueError):
            out.append(invalid(f"{path}[{key}]", "<secret contents redacted>", "illegal base64 data"))
    return values, out


def _config_map_rules(obj: Obj) -> list[Cause]:
    data, binary = as_dict(obj.get("data")), as_dict(obj.get("binaryData"))
    out = _config_keys(data, "data") + _config_keys(binary, "binaryData")
    out += [invalid(f"data[{k}]", k, "duplicate of key present in binaryData") for k in data if k in binary]
    decoded, errs = _decoded(binary, "binaryData")
    if sum(len(as_str(v).encode()) for v in data.values()) + sum(map(len, decoded.values())) > 1024 * 1024:
        errs.append(too_long("", 1024 * 1024))
    return out + errs


SECRET_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": [".dockercfg"], "kubernetes.io/dockerconfigjson": [".dockerconfigjson"],
    "kubernetes.io/ssh-auth": ["ssh-privatekey"], "kubernetes.io/tls": ["tls.crt", "tls.key"]}


def _secret_rules(obj: Obj) -> list[Cause]:
    data, strings = as_dict(obj.get("data")), as_dict(obj.get("stringData"))
    decoded, out = _decoded(data, "data")
    out = _config_keys(data, "data") + _config_keys(strings, "data") + out
    if sum(map(len, decoded.values())) + sum(len(as_str(v).encode()) for v in strings.values()) > 1024 * 1024:
        out.append(too_long("data", 1024 * 1024))
    kind, keys = as_str(obj.get("type")), set(data) | set(strings)
    out += [required(f"data[{k}]") for k in SECRET_REQUIRED_KEYS.get(kind, []) if k not in keys]
    if kind == "kubernetes.io/basic-auth" and not keys & {"username", "password"}:
        out += [required("data[username]"), required("data[password]")]
    if kind == "kubernetes.io/service-account-token" and not as_str(
            as_dict(as_dict(obj.get("metadata")).get("annotations")).get("kubernetes.io/service-account.name")):
        out.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    return out


def _immutable_data(keys: tuple[str, ...]) -> UpdateRule:
    def rule(new: Obj, old: Obj) -> list[Cause]:
        if old.get("immutable") is not True:
            return []
        out = [] if new.get("immutable") is True else [forbidden("immutable", IMMUTABLE_WHEN_SET)]
        return out + [forbidden(k, IMMUTABLE_WHEN_SET)
                      for k in keys if normalized(new.get(k)) != normalized(old.get(k))]
    return rule


def _secret_type_update(new: Obj, old: Obj) -> list[Cause]:
    n, o = as_str(new.get("type")) or "Opaque", as_str(old.get("type")) or "Opaque"
    return [invalid("type", n, "field is immutable")] if n != o else []


CONFIG_MAP_PRINTER = Printer((
    NAME,
    Column("Data", lambda r: len(r.obj.get("data") or {}) + len(r.obj.get("binaryData") or {}),
           description="Data contains the configuration data."),
    AGE,
))

CONFIG_MAP = Kind(ResourceInfo("", "v1", "configmaps", "ConfigMap", "configmap", True, ("cm",)),
                  printer=CONFIG_MAP_PRINTER, default=_default_config_map,
                  rules=(_config_map_rules,), update_rules=(_immutable_data(("data", "binaryData")),))

SECRET_PRINTER = Printer((
    NAME,
    Column("Type", lambda r: r.obj.get("type", ""), description="Used to facilitate programmatic handling "
                                                                "of secret data."),
    Column("Data", lambda r: len(r.obj.get("data") or {}),
           description="Data contains the secret data."),
    AGE,
))

SECRET = Kind(ResourceInfo("", "v1", "secrets", "Secret", "secret", True),
              printer=SECRET_PRINTER,
              default=_default_secret, rules=(_secret_rules,),
              update_rules=(_secret_type_update, _immutable_data(("data",))))
