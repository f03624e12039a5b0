"""Schema-driven decoding: a table per message (field number -> JSON name and type) turns
the wire fields of a Kubernetes object into the same dict its JSON form decodes to.

Tables are written with the helpers below, e.g. `{1: f("name"), 11: mp("labels"),
2: rep("containers", "Container"), 1: embed("LocalObjectReference")}`; a type is a scalar
constant or the name of another message. Go's generated marshallers always write
non-pointer scalars, zero or not, so zero scalars are dropped (as JSON's omitempty does)
unless the field is a pointer in Go (`keep=True`, e.g. `replicas: 0`).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from .wire import LENGTH, VARINT, ProtoError, fields, packed_varints, signed

STR, BYTES, I32, I64, BOOL = "string", "bytes", "int32", "int64", "bool"
_SCALARS = {STR, BYTES, I32, I64, BOOL}
_ZERO: tuple[Any, ...] = ("", 0, False)


@dataclass(frozen=True)
class Field:
    name: str
    type: str = STR
    repeated: bool = False
    map_value: str | None = None  # set for map<string, map_value>
    embedded: bool = False        # Go struct embedding: the message's fields join the parent's
    keep: bool = False            # a Go pointer: a zero value is still a value


def f(name: str, type_: str = STR, keep: bool = False) -> Field:
    return Field(name, type_, keep=keep)


def rep(name: str, type_: str = STR) -> Field:
    return Field(name, type_, repeated=True)


def mp(name: str, value: str = STR) -> Field:
    return Field(name, STR, map_value=value)


def embed(type_: str) -> Field:
    return Field("", type_, embedded=True)


Table = dict[int, Field]


class Schema:
    """Message tables by name, plus converters for the few types whose JSON is not an object."""

    def __init__(self) -> None:
        self.messages: dict[str, Table] = {}
        self.special: dict[str, Callable[["Schema", bytes, str], Any]] = {}

    def add(self, messages: dict[str, Table]) -> None:
        self.messages.update(messages)

    def decode(self, message: str, buf: bytes, path: str = "") -> dict[str, Any]:
        table = self.messages.get(message)
        if table is None:
            raise ProtoError(f"no schema for message {message}")
        out: dict[str, Any] = {}
        for number, wire, value in fields(buf):
            field = table.get(number)
            if field is None:
                raise ProtoError(f"{message} (at {path or '<root>'}) has no field number {number} "
                                 f"(wire type {wire}): this server does not know that field")
            where = f"{path}.{field.name}" if path else field.name
            if field.embedded:
                out.update(self.decode(field.type, _length(value, wire, where), where))
            elif field.map_value is not None:
                key, item = self._entry(field, _length(value, wire, where), where)
                out.setdefault(field.name, {})[key] = item
            elif field.repeated:
                out.setdefault(field.name, []).extend(self._repeated(field.type, wire, value, where))
            else:
                decoded = self.value(field.type, wire, value, where)
                if decoded is None or (not field.keep and decoded in _ZERO):
                    out.pop(field.name, None)
                else:
                    out[field.name] = decoded
        return out

    def value(self, type_: str, wire: int, value: int | bytes, where: str) -> Any:
        if type_ in _SCALARS:
            return _scalar(type_, wire, value, where)
        raw = _length(value, wire, where)
        if type_ in self.special:
            return self.special[type_](self, raw, where)
        return self.decode(type_, raw, where)

    def _repeated(self, type_: str, wire: int, value: int | bytes, where: str) -> list[Any]:
        if type_ in (I32, I64, BOOL) and wire == LENGTH:  # a packed repeated scalar
            assert isinstance(value, bytes)
            return [_scalar(type_, VARINT, v, where) for v in packed_varints(value)]
        return [self.value(type_, wire, value, where)]

    def _entry(self, field: Field, raw: bytes, where: str) -> tuple[str, Any]:
        """A map entry is a message {key=1, value=2}; either may be absent (zero)."""
        assert field.map_value is not None
        key, item = "", None
        for number, wire, value in fields(raw):
            if number == 1:
                key = _scalar(STR, wire, value, f"{where} key")
            elif number == 2:
                item = self.value(field.map_value, wire, value, f"{where}[{key}]")
            else:
                raise ProtoError(f"map entry of {where} has no field number {number}")
        if item is None:
            item = "" if field.map_value in (STR, BYTES) else self.value(field.map_value, LENGTH, b"", where)
        return key, item


def _length(value: int | bytes, wire: int, where: str) -> bytes:
    if wire != LENGTH or not isinstance(value, bytes):
        raise ProtoError(f"{where}: expected a length-delimited value, got wire type {wire}")
    return value


def _scalar(type_: str, wire: int, value: int | bytes, where: str) -> Any:
    if type_ in (STR, BYTES):
        raw = _length(value, wire, where)
        if type_ == BYTES:
            return base64.b64encode(raw).decode()
        try:
            return raw.decode()
        except UnicodeDecodeError:
            raise ProtoError(f"{where}: string is not valid UTF-8") from None
    if wire != VARINT or not isinstance(value, int):
        raise ProtoError(f"{where}: expected a varint {type_}, got wire type {wire}")
    if type_ == BOOL:
        return bool(value)
    number = signed(value)
    if type_ == I32 and not -(1 << 31) <= number < 1 << 31:
        raise ProtoError(f"{where}: {number} does not fit an int32")
    return number


def _plain(raw: bytes, where: str, names: dict[int, str], what: str) -> dict[int, Any]:
    """The fields of a small fixed message, by number, checked against `names`."""
    out: dict[int, Any] = {}
    for number, wire, value in fields(raw):
        if number not in names:
            raise ProtoError(f"{what} (at {where}) has no field number {number}")
        out[number] = value
    return out


def time_(schema: Schema, raw: bytes, where: str) -> str | None:
    """metav1.Time {seconds=1, nanos=2} -> RFC 3339 (second precision, as its JSON); empty is null."""
    parts = _plain(raw, where, {1: "seconds", 2: "nanos"}, "Time")
    if not parts:
        return None
    seconds = _scalar(I64, VARINT, parts.get(1, 0), where)
    try:
        return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        raise ProtoError(f"{where}: time {seconds} is out of range") from None


def quantity(schema: Schema, raw: bytes, where: str) -> str:
    """resource.Quantity {string=1}."""
    parts = _plain(raw, where, {1: "string"}, "Quantity")
    return _scalar(STR, LENGTH, parts.get(1, b""), where)


def int_or_string(schema: Schema, raw: bytes, where: str) -> int | str:
    """intstr.IntOrString {type=1 (0 int, 1 string), intVal=2, strVal=3}."""
    parts = _plain(raw, where, {1: "type", 2: "intVal", 3: "strVal"}, "IntOrString")
    if parts.get(1, 0) == 1:
        return _scalar(STR, LENGTH, parts.get(3, b""), where)
    return _scalar(I32, VARINT, parts.get(2, 0), where)


def raw_json(schema: Schema, raw: bytes, where: str) -> Any:
    """FieldsV1 / RawExtension {raw=1}: the bytes are JSON already."""
    parts = _plain(raw, where, {1: "raw"}, "raw JSON holder")
    data = parts.get(1, b"")
    if not isinstance(data, bytes):
        raise ProtoError(f"{where}: raw must be length-delimited")
    try:
        return json.loads(data) if data else {}
    except ValueError as exc:
        raise ProtoError(f"{where}: raw is not JSON: {exc}") from None
