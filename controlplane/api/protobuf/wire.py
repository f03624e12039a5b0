"""The protobuf wire format, and the envelope Kubernetes wraps every protobuf object in.

Only what decoding a request body needs: keys, varints, length-delimited payloads, and
the `k8s\\0` magic followed by a runtime.Unknown {typeMeta{apiVersion=1, kind=2}=1, raw=2,
contentEncoding=3, contentType=4} (k8s.io/apimachinery/pkg/runtime/generated.proto).
"""

from __future__ import annotations

from dataclasses import dataclass

MAGIC = b"k8s\x00"
VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


class ProtoError(ValueError):
    """The body is not a well-formed protobuf message of the expected shape."""


def varint(buf: bytes, at: int) -> tuple[int, int]:
    """The varint starting at `at`, and the offset just past it."""
    value, shift = 0, 0
    while at < len(buf) and shift < 70:
        byte = buf[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7
    raise ProtoError("truncated varint")


def fields(buf: bytes) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, value): ints for varints, bytes for the other wire types."""
    out: list[tuple[int, int, int | bytes]] = []
    at = 0
    while at < len(buf):
        key, at = varint(buf, at)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if number == 0:
            raise ProtoError("field number 0 is not allowed")
        if wire == VARINT:
            value, at = varint(buf, at)
        elif wire == LENGTH:
            size, at = varint(buf, at)
            if at + size > len(buf):
                raise ProtoError(f"field {number} is truncated: {size} bytes announced, "
                                 f"{len(buf) - at} left")
            value, at = buf[at:at + size], at + size
        elif wire in (FIXED64, FIXED32):
            width = 8 if wire == FIXED64 else 4
            if at + width > len(buf):
                raise ProtoError(f"field {number} is truncated")
            value, at = buf[at:at + width], at + width
        else:  # 3 and 4 are the deprecated groups, which Kubernetes never sends
            raise ProtoError(f"field {number} has unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def packed_varints(buf: bytes) -> list[int]:
    out, at = [], 0
    while at < len(buf):
        value, at = varint(buf, at)
        out.append(value)
    return out


def signed(value: int) -> int:
    """int32/int64 are sent as 64-bit two's complement: -1 is ten bytes of 0xff..."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


@dataclass(frozen=True)
class Envelope:
    api_version: str
    kind: str
    raw: bytes


def _text(value: int | bytes, what: str) -> str:
    if not isinstance(value, bytes):
        raise ProtoError(f"{what} must be length-delimited")
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise ProtoError(f"{what} is not valid UTF-8") from None


def unwrap(body: bytes) -> Envelope:
    """The object inside the magic + runtime.Unknown envelope."""
    if not body.startswith(MAGIC):
        raise ProtoError("missing the k8s protobuf magic prefix")
    api_version = kind = ""
    raw = b""
    for number, _, value in fields(body[len(MAGIC):]):
        if number == 1:
            for inner, _, text in fields(_bytes(value, "runtime.Unknown.typeMeta")):
                if inner == 1:
                    api_version = _text(text, "typeMeta.apiVersion")
                elif inner == 2:
                    kind = _text(text, "typeMeta.kind")
                else:
                    raise ProtoError(f"runtime.TypeMeta has no field number {inner}")
        elif number == 2:
            raw = _bytes(value, "runtime.Unknown.raw")
        elif number in (3, 4):
            # contentEncoding / contentType: anything but empty means raw is not plain protobuf.
            if _text(value, "runtime.Unknown field"):
                raise ProtoError(f"runtime.Unknown field {number} (content encoding/type) "
                                 f"{_text(value, 'value')!r} is not supported")
        else:
            raise ProtoError(f"runtime.Unknown has no field number {number}")
    return Envelope(api_version, kind, raw)


def _bytes(value: int | bytes, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise ProtoError(f"{what} must be length-delimited")
    return value
