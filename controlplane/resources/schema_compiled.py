"""A kind's JSON schema compiled to nested Python closures that answer one question fast:
is this object clean, with no schema error and no unknown field?

Only that yes/no is decided here. The closures check the keywords kubernetes-validate's strict
schemas use (type, enum, properties, additionalProperties, required, items, $ref) with
jsonschema's draft 2020-12 meaning. "No" sends the caller to the jsonschema validator, which
names the problems, so a "no" is always safe and a "yes" must never be said of an object
jsonschema would fault: a schema keyword this module does not know compiles to "no"
(tests/unit/test_schema_compiled.py holds the two to the same answers).

Why: the schema pass runs on every write, and jsonschema's generic walk (a validator object
evolved per node, $ref looked up per visit) was the heaviest stage of the API server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

if TYPE_CHECKING:
    from referencing._core import Resolver  # not exported; used here only as a type

__all__ = ["Check", "compile_schema"]

Check = Callable[[Any], bool]

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
# Keywords that never fail validation. `format` joins them when no format checker is in use.
_ANNOTATIONS = frozenset({"description", "title", "$comment", "$schema", "$id", "$defs"})
_KNOWN = frozenset({"type", "enum", "properties", "additionalProperties", "required", "items", "$ref"})


def _accept(value: Any) -> bool:
    return True


def _reject(value: Any) -> bool:
    return False


# --- types, as jsonschema's draft 2020-12 type checker has them -------------------------------

def _is_integer(v: Any) -> bool:
    # bool is an int to Python but not to JSON schema; 1.0 is an integer to draft 6 and later.
    if isinstance(v, int):
        return not isinstance(v, bool)
    return isinstance(v, float) and v.is_integer()


def _is_number(v: Any) -> bool:
    # jsonschema takes any numbers.Number; other Number types (Decimal) are left to it.
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_TYPE_TESTS: dict[str, Check] = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": _is_integer,
    "number": _is_number,
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}
# The common shapes get one closure with no inner calls.
_SHAPES: dict[frozenset[str], Check] = {
    frozenset({"string", "null"}): lambda v: v is None or isinstance(v, str),
    frozenset({"string"}): lambda v: isinstance(v, str),
    frozenset({"boolean", "null"}): lambda v: v is None or isinstance(v, bool),
    frozenset({"integer", "null"}): lambda v: v is None or _is_integer(v),
}


def _type_test(types: Any) -> Check:
    names = [types] if isinstance(types, str) else types
    if not isinstance(names, list) or not all(n in _TYPE_TESTS for n in names):
        return _reject  # jsonschema raises UnknownType or rejects the schema
    shape = _SHAPES.get(frozenset(names))
    if shape is not None:
        return shape
    tests = tuple(_TYPE_TESTS[n] for n in names)
    if len(tests) == 1:
        return tests[0]

    def any_type(v: Any) -> bool:
        for test in tests:
            if test(v):
                return True
        return False
    return any_type


def _enum_test(values: Any) -> Check:
    if not isinstance(values, list) or not all(type(e) is str for e in values):
        # jsonschema's equality (1 == 1.0, True != 1, deep lists) is only needed for
        # non-string enums, which these schemas do not have.
        return _reject
    allowed = frozenset(values)
    # A str equals only a str in jsonschema's enum comparison.
    return lambda v: isinstance(v, str) and v in allowed


def _all_of(checks: list[Check]) -> Check:
    checks = [c for c in checks if c is not _accept]
    if not checks:
        return _accept
    if len(checks) == 1:
        return checks[0]
    if _reject in checks:
        return _reject
    parts = tuple(checks)

    def every(v: Any) -> bool:
        for check in parts:
            if not check(v):
                return False
        return True
    return every


def _object_check(type_ok: Check | None, props: dict[str, Check], extra: Check | None,
                  required: tuple[str, ...]) -> Check:
    """properties + additionalProperties + required (which look only at dicts) and the type."""
    dict_ok = type_ok is None or type_ok({})
    other_ok = type_ok or _accept
    prop = props.get

    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return other_ok(v)
        if not dict_ok:
            return False
        # Walking the object's keys (few) instead of the schema's properties (many) visits
        # the same pairs: each key is checked by its property's schema or else by `extra`.
        for key, value in v.items():
            sub = prop(key)
            if sub is None:
                if extra is None:
                    continue
                sub = extra
            if not sub(value):
                return False
        for name in required:
            if name not in v:
                return False
        return True
    return check


def _array_check(type_ok: Check | None, item: Check) -> Check:
    list_ok = type_ok is None or type_ok([])
    other_ok = type_ok or _accept

    def check(v: Any) -> bool:
        if not isinstance(v, list):
            return other_ok(v)
        if not list_ok:
            return False
        for x in v:
            if not item(x):
                return False
        return True
    return check


class _Compiler:
    def __init__(self, formats_asserted: bool) -> None:
        self._annotations = _ANNOTATIONS if formats_asserted else _ANNOTATIONS | {"format"}
        # $ref target -> its check. Keyed by the target's identity: in these schemas only whole
        # documents carry an $id, so one target always resolves its own refs the same way.
        # The target is kept alive alongside so its id cannot be reused.
        self._refs: dict[int, tuple[Any, Check]] = {}

    def node(self, schema: Any, resolver: Resolver) -> Check:
        if schema is True:
            return _accept
        if not isinstance(schema, dict):
            return _reject  # False, or not a schema at all
        if any(k not in _KNOWN and k not in self._annotations and not k.startswith("x-kubernetes-")
               for k in schema):
            return _reject
        if schema.get("$schema", DRAFT_2020_12) != DRAFT_2020_12:
            return _reject  # another dialect: jsonschema would switch its rules
        if "$id" in schema:  # as jsonschema's descend does
            resolver = resolver.in_subresource(DRAFT202012.create_resource(schema))
        type_ok = _type_test(schema["type"]) if "type" in schema else None
        checks: list[Check] = []
        if "properties" in schema or "additionalProperties" in schema or "required" in schema:
            props = schema.get("properties", {})
            required = schema.get("required", [])
            if not isinstance(props, dict) or not isinstance(required, list):
                return _reject
            extra = self.node(schema["additionalProperties"], resolver) \
                if "additionalProperties" in schema else None
            checks.append(_object_check(type_ok, {k: self.node(s, resolver) for k, s in props.items()},
                                        extra, tuple(required)))
            type_ok = None  # checked by the object check
        if "items" in schema:
            if not isinstance(schema["items"], (dict, bool)):
                return _reject
            checks.append(_array_check(type_ok, self.node(schema["items"], resolver)))
            type_ok = None
        if type_ok is not None:
            checks.append(type_ok)
        if "enum" in schema:
            checks.append(_enum_test(schema["enum"]))
        if "$ref" in schema:
            checks.append(self.ref(schema["$ref"], resolver))
        return _all_of(checks)

    def ref(self, ref: Any, resolver: Resolver) -> Check:
        if not isinstance(ref, str):
            return _reject
        try:
            resolved = resolver.lookup(ref)
        except Unresolvable:
            return _reject
        key = id(resolved.contents)
        if key in self._refs:
            return self._refs[key][1]
        # A recursive schema (JSONSchemaProps) meets itself while compiling: hand out a
        # forwarder until the real check exists.
        done: list[Check] = []
        self._refs[key] = (resolved.contents, lambda v: done[0](v))
        check = self.node(resolved.contents, resolved.resolver)
        done.append(check)
        self._refs[key] = (resolved.contents, check)
        return check


def compile_schema(schema: Any, registry: Registry, *, formats_asserted: bool = False) -> Check:
    """A check that is True only when jsonschema would find nothing wrong with a value.

    `registry` resolves the schema's $refs; `formats_asserted` says the validator the check
    stands in for was given a format checker (then `format` is a keyword not understood here).
    """
    if not isinstance(schema, dict) or schema.get("$schema") != DRAFT_2020_12:
        return _reject
    resolver = registry.resolver_with_root(DRAFT202012.create_resource(schema))
    return _Compiler(formats_asserted).node(schema, resolver)
