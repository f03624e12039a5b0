"""Reading a SelfSubject{Access,Rules}Review sent as Kubernetes protobuf (`kubectl auth can-i` does).

The API otherwise speaks only JSON and answers protobuf bodies with 415, which client-go's
dynamic client handles by retrying with JSON; the typed client behind `auth can-i` does not.
The review is small, so its protobuf form is decoded here by hand from the wire format:
the `k8s\\0` magic, a runtime.Unknown envelope, and the fields of
`k8s.io/api/authorization/v1/generated.proto`. The answer is sent back as JSON, which
client-go decodes by the response's Content-Type.
"""

from __future__ import annotations

from typing import Any

MAGIC = b"k8s\x00"
_RESOURCE_FIELDS = {1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource",
                    6: "subresource", 7: "name"}
_NON_RESOURCE_FIELDS = {1: "path", 2: "verb"}


class ProtoError(ValueError):
    pass


def _varint(buf: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while at < len(buf) and shift < 64:
        byte = buf[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7
    raise ProtoError("truncated varint")


def fields(buf: bytes) -> list[tuple[int, Any]]:
    """(field number, value) pairs: ints for varints, bytes for length-delimited fields."""
    out: list[tuple[int, Any]] = []
    at = 0
    while at < len(buf):
        key, at = _varint(buf, at)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, at = _varint(buf, at)
        elif wire == 2:
            size, at = _varint(buf, at)
            if at + size > len(buf):
                raise ProtoError("truncated field")
            value, at = buf[at:at + size], at + size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            value, at = buf[at:at + width], at + width
        else:
            raise ProtoError(f"unsupported wire type {wire}")
        out.append((number, value))
    return out


def _strings(buf: bytes, names: dict[int, str]) -> dict[str, str]:
    return {names[n]: v.decode() for n, v in fields(buf) if n in names and isinstance(v, bytes)}


def _spec(body: bytes) -> bytes:
    """The encoded spec (field 2) inside the envelope; 1 is metadata, 3 status: nothing a review needs."""
    if not body.startswith(MAGIC):
        raise ProtoError("missing the k8s protobuf magic")
    raw = next((v for n, v in fields(body[len(MAGIC):]) if n == 2), b"")  # runtime.Unknown.raw
    return next((v for n, v in fields(raw) if n == 2 and isinstance(v, bytes)), b"")


def decode_review(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded SelfSubjectAccessReview; ProtoError if malformed."""
    spec: dict[str, Any] = {}
    for part, inner in fields(_spec(body)):
        if part == 1:
            spec["resourceAttributes"] = _strings(inner, _RESOURCE_FIELDS)
        elif part == 2:
            spec["nonResourceAttributes"] = _strings(inner, _NON_RESOURCE_FIELDS)
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "metadata": {}, "spec": spec}


def decode_rules_review(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded SelfSubjectRulesReview (its spec is a namespace)."""
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
            "metadata": {}, "spec": _strings(_spec(body), {1: "namespace"})}
