"""Kubernetes protobuf request bodies, decoded into the dict their JSON form gives.

kubectl's typed commands (`create deployment|configmap|secret|...`, `expose`, `auth can-i`)
send `application/vnd.kubernetes.protobuf`; the rest of the API only ever sees the dict.

  wire.py           the wire format and the `k8s\\0` + runtime.Unknown envelope
  schema.py         table-driven message decoding, and the non-object types (Time, Quantity, ...)
  meta.py           meta/v1 tables (ObjectMeta, LabelSelector, ...)
  core.py, apps.py, batch.py, policy.py, rbac.py, authorization.py, authentication.py,
  networking.py, autoscaling.py     tables of the kinds accepted, by API group
  subresources.py   Eviction, Scale and Binding bodies
"""

from __future__ import annotations

from typing import Any

from . import (apps, authentication, authorization, autoscaling, batch, core, meta, networking, policy,
               rbac, subresources)
from .schema import Schema
from .wire import ProtoError, unwrap

__all__ = ["ProtoError", "UnsupportedKind", "decode_object", "decode_as"]

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"

SCHEMA = Schema()
meta.install(SCHEMA)
for _group in (core, apps, batch, policy, rbac, authorization, authentication, networking, subresources,
               autoscaling):
    SCHEMA.add(_group.MESSAGES)

# apiVersion -> kind -> message table name.
_KINDS: dict[str, dict[str, str]] = {
    "v1": {**core.KINDS, **subresources.KINDS["v1"]}, "apps/v1": apps.KINDS,
    "rbac.authorization.k8s.io/v1": rbac.KINDS, "authorization.k8s.io/v1": authorization.KINDS,
    "policy/v1": {**subresources.KINDS["policy/v1"], **policy.KINDS}, "batch/v1": batch.KINDS,
    "autoscaling/v1": {**subresources.KINDS["autoscaling/v1"], **autoscaling.KINDS["autoscaling/v1"]},
    "autoscaling/v2": autoscaling.KINDS["autoscaling/v2"],
    "networking.k8s.io/v1": networking.KINDS,
    "authentication.k8s.io/v1": authentication.KINDS,
}

# Kinds every group version carries (client-go sends DeleteOptions in the resource's version).
_ANY_VERSION = {"DeleteOptions": "DeleteOptions"}


class UnsupportedKind(ProtoError):
    """A well-formed envelope around a kind this server has no protobuf table for."""


def decode_as(api_version: str, kind: str, raw: bytes) -> dict[str, Any]:
    """The JSON form of `raw`, an encoded `kind` object; ProtoError naming the bad field."""
    message = _KINDS.get(api_version, {}).get(kind) or _ANY_VERSION.get(kind)
    if message is None:
        raise UnsupportedKind(f"{kind or '<no kind>'} in {api_version or '<no apiVersion>'} cannot be sent "
                              "as protobuf to this server; send it as JSON")
    return {"apiVersion": api_version, "kind": kind, **SCHEMA.decode(message, raw)}


def decode_object(body: bytes) -> dict[str, Any]:
    """The JSON form of a whole protobuf request body (magic, envelope and object)."""
    envelope = unwrap(body)
    return decode_as(envelope.api_version, envelope.kind, envelope.raw)
