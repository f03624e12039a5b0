"""A CRD version's structural schema, compiled once: validation, pruning and defaulting.

`compile_schema(openAPIV3Schema)` turns the schema into a tree of `Node`s (one per schema
node, value validations and CEL rules compiled in place); the CRD's kinds keep it for every
write. On a write, as kube-apiserver handles a custom resource:

* `default` fills `default:` values of absent (or null, non-nullable) fields, then drops the
  nulls of non-nullable fields that have no default;
* `unknown` names the fields the schema does not know (fieldValidation Strict/Warn), and
  `prune` removes them (x-kubernetes-preserve-unknown-fields keeps them);
* `validate` checks types, formats, enums, bounds, patterns, required fields, list types
  (set, map with its keys) and the embedded resources, with kube-apiserver's messages
  (`spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer:
  "string"`), then the x-kubernetes-validations (CEL, `cel.py`) when nothing blocks them.

What a schema must look like to be structural is checked on the CRD itself (`crdcheck.py`).
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import re2

from ..schema import json_type
from ..validation import (Cause, GoLiteral, duplicate, go_value, invalid, not_supported, required,
                          too_long, type_invalid)
from . import formats
from .cel import CompiledRule, CompileError, compile_rules, rule_causes

MISSING: Any = object()
# What every object carries besides its schema's properties (and an embedded resource too).
TYPE_META = ("apiVersion", "kind")
BLOCKED = ("some validation rules were not checked because the object was invalid; correct the "
           "existing errors to complete validation")

ValueCheck = Callable[[Any, str, list[Cause]], None]
_RE2 = re2.Options()
_RE2.log_errors = False  # a bad pattern is the CRD author's error, reported to them, not logged


@dataclass(eq=False)
class Node:
    """One schema node, ready to walk values with."""

    type: str = ""
    nullable: bool = False
    properties: dict[str, Node] = field(default_factory=dict)
    additional: Node | None = None  # additionalProperties: a map of these
    items: Node | None = None
    preserve_unknown: bool = False
    int_or_string: bool = False
    embedded: bool = False
    list_type: str = ""
    map_keys: tuple[str, ...] = ()
    map_type: str = ""
    default: Any = MISSING
    required: tuple[str, ...] = ()
    checks: tuple[ValueCheck, ...] = ()  # value validations: enum, bounds, format, junctors
    rules: tuple[CompiledRule, ...] = ()  # x-kubernetes-validations
    rules_below: bool = False  # this node or one under it has rules
    raw: dict[str, Any] = field(default_factory=dict, repr=False)  # the schema as written

    @property
    def type_name(self) -> str:
        """What kube's messages call this node's type."""
        return self.type or ("int-or-string" if self.int_or_string else "")

    def children(self) -> list[Node]:
        out = list(self.properties.values())
        out += [n for n in (self.additional, self.items) if n is not None]
        return out


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# ---------------------------------------------------------------------------------------------
# Compiling

def _num(v: Any) -> str:
    """A bound as Go's %v prints a float64."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    return str(v)


def _value_checks(s: dict[str, Any]) -> list[ValueCheck]:
    """The schema's value validations, each a function of (value, path, causes)."""
    checks: list[ValueCheck] = []
    if isinstance(s.get("enum"), list):
        allowed = s["enum"]
        shown = [v if isinstance(v, str) else json.dumps(v) for v in allowed]

        def enum(v: Any, path: str, out: list[Cause]) -> None:
            if not any(_json_equal(v, a) for a in allowed):
                out.append(not_supported(path, v, shown))
        checks.append(enum)
    fmt = formats.checker(s["format"]) if isinstance(s.get("format"), str) else None
    if fmt is not None:
        name = s["format"]

        def format_(v: Any, path: str, out: list[Cause]) -> None:
            if isinstance(v, str) and not fmt(v):
                out.append(type_invalid_value(path, v, name))
        checks.append(format_)
    checks += _string_checks(s) + _number_checks(s) + _size_checks(s)
    return checks


def _string_checks(s: dict[str, Any]) -> list[ValueCheck]:
    checks: list[ValueCheck] = []
    if isinstance(s.get("maxLength"), int):
        most = s["maxLength"]

        def max_length(v: Any, path: str, out: list[Cause]) -> None:
            if isinstance(v, str) and len(v) > most:
                out.append(too_long(path, most))
        checks.append(max_length)
    if isinstance(s.get("minLength"), int):
        least = s["minLength"]

        def min_length(v: Any, path: str, out: list[Cause]) -> None:
            if isinstance(v, str) and len(v) < least:
                out.append(invalid(path, v, f"{path} in body should be at least {least} chars long"))
        checks.append(min_length)
    if isinstance(s.get("pattern"), str):
        source = s["pattern"]
        rx = re2.compile(source, _RE2)  # Go's regexp is RE2: the same syntax and meaning

        def pattern(v: Any, path: str, out: list[Cause]) -> None:
            if isinstance(v, str) and not rx.search(v):
                out.append(invalid(path, v, f"{path} in body should match '{source}'"))
        checks.append(pattern)
    return checks


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _number_checks(s: dict[str, Any]) -> list[ValueCheck]:
    checks: list[ValueCheck] = []
    if _is_number(s.get("minimum")):
        low, strict = s["minimum"], bool(s.get("exclusiveMinimum"))
        word = "greater than" if strict else "greater than or equal to"

        def minimum(v: Any, path: str, out: list[Cause]) -> None:
            if _is_number(v) and (v <= low if strict else v < low):
                out.append(invalid(path, v, f"{path} in body should be {word} {_num(low)}"))
        checks.append(minimum)
    if _is_number(s.get("maximum")):
        high, strict_max = s["maximum"], bool(s.get("exclusiveMaximum"))
        word_max = "less than" if strict_max else "less than or equal to"

        def maximum(v: Any, path: str, out: list[Cause]) -> None:
            if _is_number(v) and (v >= high if strict_max else v > high):
                out.append(invalid(path, v, f"{path} in body should be {word_max} {_num(high)}"))
        checks.append(maximum)
    if _is_number(s.get("multipleOf")) and s["multipleOf"] > 0:
        factor = s["multipleOf"]

        def multiple_of(v: Any, path: str, out: list[Cause]) -> None:
            if _is_number(v) and not math.isclose(v / factor, round(v / factor), abs_tol=1e-9):
                out.append(invalid(path, v, f"{path} in body should be a multiple of {_num(factor)}"))
        checks.append(multiple_of)
    return checks


def _size_check(bound: int, of: type, most: bool, things: str) -> ValueCheck:
    def check(v: Any, path: str, out: list[Cause]) -> None:
        if not isinstance(v, of) or not isinstance(v, (list, dict)):
            return
        size = len(v)
        if most and size > bound:
            out.append(too_many(path, size, bound))
        elif not most and size < bound:
            out.append(invalid(path, v, f"{path} in body should have at least {bound} {things}"))
    return check


def _size_checks(s: dict[str, Any]) -> list[ValueCheck]:
    """maxItems / minItems / maxProperties / minProperties."""
    return [_size_check(s[key], of, most, things)
            for key, of, most, things in (("maxItems", list, True, "items"), ("minItems", list, False, "items"),
                                          ("maxProperties", dict, True, "properties"),
                                          ("minProperties", dict, False, "properties"))
            if isinstance(s.get(key), int)]


def _junctor_checks(s: dict[str, Any], where: str) -> list[ValueCheck]:
    """allOf / anyOf / oneOf / not: value validations only, in a structural schema."""
    checks: list[ValueCheck] = []
    for key in ("allOf", "anyOf", "oneOf"):
        subs = s.get(key)
        if not isinstance(subs, list) or not subs:
            continue
        nodes = [_compile(sub, _join(where, f"{key}[{i}]"), rules=False) for i, sub in enumerate(subs)]
        checks.append(_junctor(key, nodes))
    if isinstance(s.get("not"), dict):
        negated = _compile(s["not"], _join(where, "not"), rules=False)

        def not_(v: Any, path: str, out: list[Cause]) -> None:
            if not _errors(negated, v, path):
                out.append(invalid(path, v, f"{path} in body must not validate the schema (not)"))
        checks.append(not_)
    return checks


def _junctor(key: str, nodes: list[Node]) -> ValueCheck:
    def check(v: Any, path: str, out: list[Cause]) -> None:
        results = [_errors(n, v, path) for n in nodes]
        if key == "allOf":
            for errs in results:
                out.extend(errs)
            return
        passed = sum(1 for errs in results if not errs)
        if key == "anyOf" and not passed:
            out.append(invalid(path, v, f"{path} in body must validate at least one schema (anyOf)"))
            out.extend(results[0])
        elif key == "oneOf" and passed != 1:
            out.append(invalid(path, v, f"{path} in body must validate one and only one schema (oneOf)"))
    return check


def _errors(node: Node, v: Any, path: str) -> list[Cause]:
    found: list[Cause] = []
    _validate(node, v, path, found)
    return found


def compile_schema(schema: dict[str, Any]) -> Node:
    """The compiled tree of a structural openAPIV3Schema (checked beforehand by crdcheck).

    Raises CompileError (a CEL rule, a pattern) naming the field relative to the schema."""
    return _compile(schema, "", rules=True)


def _compile(s: Any, where: str, *, rules: bool, correlatable: bool = True) -> Node:
    if not isinstance(s, dict):
        return Node(preserve_unknown=True)
    node = Node(
        type=s["type"] if isinstance(s.get("type"), str) else "",
        nullable=s.get("nullable") is True,
        preserve_unknown=s.get("x-kubernetes-preserve-unknown-fields") is True,
        int_or_string=s.get("x-kubernetes-int-or-string") is True,
        embedded=s.get("x-kubernetes-embedded-resource") is True,
        list_type=s.get("x-kubernetes-list-type") or "",
        map_keys=tuple(s.get("x-kubernetes-list-map-keys") or ()),
        map_type=s.get("x-kubernetes-map-type") or "",
        default=copy.deepcopy(s["default"]) if "default" in s else MISSING,
        required=tuple(r for r in s.get("required") or () if isinstance(r, str)),
        raw=s,
    )
    props = s.get("properties")
    if isinstance(props, dict):
        node.properties = {k: _compile(v, _join(where, f"properties[{k}]"), rules=rules,
                                       correlatable=correlatable) for k, v in props.items()}
    extra = s.get("additionalProperties")
    if isinstance(extra, dict):
        node.additional = _compile(extra, _join(where, "additionalProperties"), rules=rules,
                                   correlatable=correlatable)
    elif extra is True:
        node.additional = Node(preserve_unknown=True)
    if isinstance(s.get("items"), dict):
        node.items = _compile(s["items"], _join(where, "items"), rules=rules,
                              correlatable=correlatable and node.list_type in ("map", "set"))
    try:
        node.checks = tuple(_value_checks(s) + _junctor_checks(s, where))
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise CompileError(_join(where, "pattern"), s.get("pattern"),
                           f"must be a valid regular expression, but isn't: {detail}") from None
    if rules and isinstance(s.get("x-kubernetes-validations"), list):
        node.rules = compile_rules(s["x-kubernetes-validations"], node, where, correlatable)
    node.rules_below = bool(node.rules) or any(c.rules_below for c in node.children())
    return node


# ---------------------------------------------------------------------------------------------
# Messages

def type_invalid_value(path: str, value: Any, expected: str) -> Cause:
    """A value that is not of a format: kube-openapi reports it as a type error of the value."""
    c = type_invalid(path, "x", expected)
    shown = go_value(value)
    c["message"] = f"Invalid value: {shown}: {path} in body must be of type {expected}: {shown}"
    return c


def too_many(path: str, actual: int, most: int) -> Cause:
    return {"reason": "FieldValueTooMany", "field": path,
            "message": f"Too many: {actual}: must have at most {most} items"}


def _go_map(value: dict[str, Any]) -> GoLiteral:
    """A map[string]interface{} as Go's %#v prints it (a duplicate list-map key)."""
    parts = ", ".join(f"{json.dumps(k)}:{_go_any(value[k])}" for k in sorted(value))
    return GoLiteral("map[string]interface {}{" + parts + "}")


def _go_any(v: Any) -> str:
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "interface {}(nil)"
    return str(v)


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


# ---------------------------------------------------------------------------------------------
# Validation

_TYPE_OK: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": _is_number,
}


def _type_ok(node: Node, v: Any) -> bool:
    if node.int_or_string:
        return isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool))
    test = _TYPE_OK.get(node.type)
    return test is None or test(v)


def _validate(node: Node, v: Any, path: str, out: list[Cause]) -> None:
    if v is None:
        if not node.nullable and (node.type or node.int_or_string):
            out.append(type_invalid(path, "null", node.type or "string"))
        return
    if not _type_ok(node, v):
        out.append(type_invalid(path, json_type(v), node.type or "integer,string"))
        return
    for check in node.checks:
        check(v, path, out)
    if isinstance(v, dict):
        _validate_object(node, v, path, out)
    elif isinstance(v, list):
        _validate_array(node, v, path, out)


def _validate_object(node: Node, v: dict[str, Any], path: str, out: list[Cause]) -> None:
    for name in node.required:
        if name not in v:
            out.append(required(_join(path, name)))
    props, extra = node.properties, node.additional
    for key, value in v.items():
        sub = props.get(key)
        if sub is not None:
            _validate(sub, value, _join(path, key), out)
        elif extra is not None:
            _validate(extra, value, _join(path, key), out)
    if node.embedded:
        for name in TYPE_META:
            if not isinstance(v.get(name), str) or not v[name]:
                out.append(required(_join(path, name), "must not be empty"))


def _validate_array(node: Node, v: list[Any], path: str, out: list[Cause]) -> None:
    item = node.items
    if item is not None:
        for i, x in enumerate(v):
            _validate(item, x, f"{path}[{i}]", out)
    if node.list_type == "set":
        for i, x in enumerate(v):
            if any(_json_equal(x, y) for y in v[:i]):
                out.append(duplicate(f"{path}[{i}]", x))
    elif node.list_type == "map" and node.map_keys:
        seen: list[dict[str, Any]] = []
        for i, x in enumerate(v):
            if not isinstance(x, dict):
                continue
            key = {k: _item_key(x, k, item) for k in node.map_keys}
            key = {k: kv for k, kv in key.items() if kv is not MISSING}
            if any(_json_equal(key, s) for s in seen):
                out.append(duplicate(f"{path}[{i}]", _go_map(key)))
            seen.append(key)


def _item_key(item: dict[str, Any], name: str, schema: Node | None) -> Any:
    if name in item:
        return item[name]
    sub = schema.properties.get(name) if schema is not None else None
    return sub.default if sub is not None else MISSING


def validate(node: Node, obj: Any, old: Any = None, path: str = "") -> list[Cause]:
    """Every problem of `obj` against the schema, and then its CEL rules (`old`: the stored
    object of an update, for transition rules) unless a type error keeps them from running.
    `path` names where `obj` is (a default's field); the root by default."""
    out: list[Cause] = []
    _validate(node, obj, path, out)
    if node.rules_below:
        if any(c["reason"] in ("FieldValueTypeInvalid", "FieldValueNotSupported") for c in out):
            out.append(invalid("<nil>", None, BLOCKED))
        else:
            out += rule_causes(node, obj, old)
    return out


# ---------------------------------------------------------------------------------------------
# Pruning

def _prune(node: Node, v: Any, path: str, found: list[str], drop: bool, meta: frozenset[str],
           top: bool = False) -> None:
    if isinstance(v, dict):
        resource = node.embedded or top  # apiVersion, kind and metadata need no schema
        if resource:
            _prune_meta(v, path, found, drop, meta)
        known = node.properties
        for key in list(v):
            if resource and key in ("apiVersion", "kind", "metadata"):
                continue  # ObjectMeta's fields, whatever the schema says of metadata
            sub = known.get(key)
            if sub is None:
                sub = node.additional
            if sub is not None:
                _prune(sub, v[key], _join(path, key), found, drop, meta)
            elif not node.preserve_unknown:
                found.append(_join(path, key))
                if drop:
                    del v[key]
    elif isinstance(v, list) and node.items is not None:
        for i, x in enumerate(v):
            _prune(node.items, x, f"{path}[{i}]", found, drop, meta)


def _prune_meta(obj: dict[str, Any], path: str, found: list[str], drop: bool, meta: frozenset[str]) -> None:
    """An object's metadata keeps ObjectMeta's fields only."""
    md = obj.get("metadata")
    if isinstance(md, dict):
        for key in [k for k in md if k not in meta]:
            found.append(_join(_join(path, "metadata"), key))
            if drop:
                del md[key]


def unknown(root: Node, obj: dict[str, Any], meta_fields: frozenset[str]) -> list[str]:
    """The paths of fields the schema does not know (and would prune), in object order."""
    found: list[str] = []
    _prune(root, obj, "", found, False, meta_fields, top=True)
    return found


def prune(root: Node, obj: dict[str, Any], meta_fields: frozenset[str]) -> None:
    """Remove, in place, every field the schema does not know."""
    _prune(root, obj, "", [], True, meta_fields, top=True)


# ---------------------------------------------------------------------------------------------
# Defaulting

def default(node: Node, v: Any) -> None:
    """Fill defaults in place, then drop nulls of non-nullable fields that have no default."""
    if isinstance(v, dict):
        for key, sub in node.properties.items():
            if sub.default is not MISSING and (key not in v or (v[key] is None and not sub.nullable)):
                v[key] = copy.deepcopy(sub.default)
        for key in list(v):
            sub_node = node.properties.get(key) or node.additional
            if sub_node is None:
                continue
            if v[key] is None and not sub_node.nullable and key in node.properties:
                del v[key]
                continue
            default(sub_node, v[key])
    elif isinstance(v, list) and node.items is not None:
        for x in v:
            default(node.items, x)
