"""Validation of API objects on every write: the entry points the API server calls.

This module owns
  * the `Cause` shape (a metav1.StatusCause) and the Kubernetes field-error vocabulary
    (`Invalid value: -1: must be ...`, `Required value`, `Unsupported value: ...`),
    including Go-style rendering of bad values, so messages read exactly like kube-apiserver's;
  * the format checks shared by many rules (DNS names, label keys/values, ports, IPs, quantities);
  * the schema check against kubernetes-validate's JSON schemas, with one validator built per
    kind and cached (this runs on every write), and the translation of jsonschema errors into
    Causes with Kubernetes field paths (`spec.template.spec.containers[0].image`);
  * `validate(obj, old)` and `unknown_fields(obj)`, and `check_write(obj, old)`, which answers
    both for a write with one schema pass.

Most writes are clean, so a compiled yes/no (`schema_compiled`) answers first; only when it
says no does jsonschema walk the object to name the problems.

The rules a schema cannot express (names, selectors, immutability, ...) live per kind in
`validation_rules`.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any, TypedDict

import jsonschema
from jsonschema.protocols import Validator
from referencing import Registry, Resource

from . import schema_compiled

__all__ = ["Cause", "validate", "unknown_fields", "check_write", "schema_validator"]


class Cause(TypedDict):
    """One metav1.StatusCause of a 422 Invalid response."""

    reason: str
    message: str
    field: str


INVALID = "FieldValueInvalid"
REQUIRED = "FieldValueRequired"
NOT_SUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"
TYPE_INVALID = "FieldValueTypeInvalid"
TOO_LONG = "FieldValueTooLong"
NOT_FOUND = "FieldValueNotFound"


# --- Go-style rendering of bad values (field.Error.ErrorBody) -------------------------------

class GoLiteral(str):
    """A value already rendered the way Go's %#v prints it (structs, typed nils)."""


def go_quote(s: str) -> str:
    # Go's %q and JSON agree for everything a manifest realistically contains.
    return json.dumps(s, ensure_ascii=False)


def go_string_list(values: list[Any] | None) -> GoLiteral:
    if values is None:
        return GoLiteral("[]string(nil)")
    return GoLiteral("[]string{" + ", ".join(go_quote(str(v)) for v in values) + "}")


def go_string_map(m: dict[str, Any] | None) -> GoLiteral:
    if m is None:
        return GoLiteral("map[string]string(nil)")
    # fmt sorts map keys, so the output is stable.
    items = ", ".join(f"{go_quote(k)}:{go_quote(str(m[k]))}" for k in sorted(m))
    return GoLiteral("map[string]string{" + items + "}")


def go_value(value: Any) -> str:
    if isinstance(value, GoLiteral):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return go_string_map(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return go_string_list(value)
    return json.dumps(value, sort_keys=True)


def _cause(reason: str, field: str, message: str) -> Cause:
    return {"reason": reason, "message": message, "field": field}


def invalid(field: str, value: Any, detail: str) -> Cause:
    return _cause(INVALID, field, f"Invalid value: {go_value(value)}: {detail}")


def required(field: str, detail: str = "") -> Cause:
    return _cause(REQUIRED, field, "Required value" + (f": {detail}" if detail else ""))


def not_supported(field: str, value: Any, supported: list[str]) -> Cause:
    quoted = ", ".join(go_quote(s) for s in supported)
    return _cause(NOT_SUPPORTED, field, f"Unsupported value: {go_value(value)}: supported values: {quoted}")


def duplicate(field: str, value: Any, detail: str = "") -> Cause:
    return _cause(DUPLICATE, field, f"Duplicate value: {go_value(value)}" + (f": {detail}" if detail else ""))


def forbidden(field: str, detail: str) -> Cause:
    return _cause(FORBIDDEN, field, f"Forbidden: {detail}")


def too_long(field: str, max_bytes: int) -> Cause:
    return _cause(TOO_LONG, field, f"Too long: must have at most {max_bytes} bytes")


def not_found(field: str, value: Any) -> Cause:
    return _cause(NOT_FOUND, field, f"Not found: {go_value(value)}")


def type_invalid(field: str, actual: str, expected: str) -> Cause:
    # The wording kube-apiserver uses for schema type errors (kube-openapi InvalidType).
    return _cause(TYPE_INVALID, field,
                  f'Invalid value: "{actual}": {field} in body must be of type {expected}: "{actual}"')


# --- format checks (k8s.io/apimachinery/pkg/util/validation); each returns messages -------

def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_FMT = _LABEL_FMT + r"(\." + _LABEL_FMT + ")*"
_DNS1035_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _QNAME_FMT + ")?"
_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_QNAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
              "with an alphanumeric character")
_SUBDOMAIN_MSG = _regex_error(
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character", _SUBDOMAIN_FMT, "example.com")
# Compiled once: these run for every name, label and port of every write.
_SUBDOMAIN_RE, _LABEL_RE, _DNS1035_RE = re.compile(_SUBDOMAIN_FMT), re.compile(_LABEL_FMT), re.compile(_DNS1035_FMT)
_QNAME_RE, _LABEL_VALUE_RE = re.compile(_QNAME_FMT), re.compile(_LABEL_VALUE_FMT)
_CONFIG_KEY_RE, _PORT_NAME_RE, _LETTER_RE = re.compile(_CONFIG_KEY_FMT), re.compile("[-a-z0-9]+"), re.compile("[a-z]")
IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
PORT_RANGE_MSG = "must be between 1 and 65535, inclusive"
NEGATIVE_MSG = "must be greater than or equal to 0"


def dns1123_subdomain(value: str) -> list[str]:
    errs = [_max_len(253)] if len(value) > 253 else []
    if not _SUBDOMAIN_RE.fullmatch(value):
        errs.append(_SUBDOMAIN_MSG)
    return errs


def dns1123_label(value: str) -> list[str]:
    errs = [_max_len(63)] if len(value) > 63 else []
    if not _LABEL_RE.fullmatch(value):
        if _SUBDOMAIN_RE.fullmatch(value):
            errs.append("must not contain dots")
        else:
            errs.append(_regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                "and must start and end with an alphanumeric character", _LABEL_FMT, "my-name", "123-abc"))
    return errs


def dns1035_label(value: str) -> list[str]:
    errs = [_max_len(63)] if len(value) > 63 else []
    if not _DNS1035_RE.fullmatch(value):
        errs.append(_regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
            "alphabetic character, and end with an alphanumeric character", _DNS1035_FMT, "my-name", "abc-123"))
    return errs


def qualified_name(value: str) -> list[str]:
    """Label keys, annotation keys, finalizers, taint keys."""
    parts = value.split("/")
    if len(parts) > 2:
        return ["a valid label key " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    errs: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        if not parts[0]:
            errs.append("prefix part must be non-empty")
        else:
            errs += ["prefix part " + m for m in dns1123_subdomain(parts[0])]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + _max_len(63))
    if not _QNAME_RE.fullmatch(name):
        errs.append("name part " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def label_value(value: str) -> list[str]:
    errs = [_max_len(63)] if len(value) > 63 else []
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(_regex_error(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character", _LABEL_VALUE_FMT,
            "MyValue", "my_value", "12345"))
    return errs


def config_key(value: str) -> list[str]:
    errs = [_max_len(253)] if len(value) > 253 else []
    if not _CONFIG_KEY_RE.fullmatch(value):
        errs.append(_regex_error("a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                                 _CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    if value in (".", ".."):
        errs.append(f"must not be '{value}'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def port_name(value: str) -> list[str]:
    errs = [_max_len(15)] if len(value) > 15 else []
    if not _PORT_NAME_RE.fullmatch(value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _LETTER_RE.search(value):
        errs.append("must contain at least one letter (a-z)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if value.startswith("-") or value.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


_QUANTITY = re.compile(r"([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?")
_SUFFIX = {"": 0, "n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
QUANTITY_MSG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def parse_quantity(value: Any) -> Decimal | None:
    """The numeric value of a resource.Quantity ("500m", "1Gi", 2), or None if malformed."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Decimal(str(value))
    m = _QUANTITY.fullmatch(value) if isinstance(value, str) else None
    if not m:
        return None
    try:
        number, suffix = Decimal(m.group(1)), m.group(2) or ""
    except InvalidOperation:
        return None
    if suffix.endswith("i"):
        return number * (1024 ** ("KMGTPE".index(suffix[0]) + 1))
    if suffix[:1] in ("e", "E"):
        return number.scaleb(int(suffix[1:]))
    return number.scaleb(_SUFFIX[suffix])


# --- the schema check -----------------------------------------------------------------------

_TYPE_META = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_API_VERSION = re.compile(r"(?:[a-z0-9.-]+/)?v[0-9]+(?:(?:alpha|beta)[0-9]+)?")


@functools.lru_cache(maxsize=1)
def _schema_root() -> Any:
    base = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    versions = []
    for entry in base.iterdir():
        m = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)-local-strict", entry.name)
        if m:
            versions.append((tuple(int(g) for g in m.groups()), entry))
    return max(versions, key=lambda v: v[0])[1]


@functools.lru_cache(maxsize=1)
def _definitions() -> Registry:
    defs = json.loads((_schema_root() / "_definitions.json").read_text())
    # The generated oneOf[string|null, integer|null] rejects null (it matches both branches);
    # Kubernetes decodes null as "unset", so accept it and report wrong types plainly.
    d = defs["$defs"]
    d["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"type": ["integer", "string", "null"]}
    d["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {"type": ["string", "number", "null"]}
    return Registry().with_resource(defs["$id"], Resource.from_contents(defs))


@functools.lru_cache(maxsize=None)
def _kind_schema(api_version: str, kind: str) -> tuple[dict[str, Any], Registry] | None:
    """One kind's strict schema and the registry its $refs resolve in; None if no schema knows it."""
    if not _TYPE_META.fullmatch(kind) or not _API_VERSION.fullmatch(api_version):
        return None
    # kubernetes-validate's file naming: apps/v1 -> apps-v1, discovery.k8s.io/v1 -> discovery-v1.
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _schema_root() / f"{kind.lower()}-{group_version}.json"
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    return schema, _definitions().with_resource(schema["$id"], Resource.from_contents(schema))


@functools.lru_cache(maxsize=None)
def schema_validator(api_version: str, kind: str) -> Validator | None:
    """The strict-schema validator for one kind, built once; None if no schema knows the kind."""
    found = _kind_schema(api_version, kind)
    if found is None:
        return None
    schema, registry = found
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=registry)


@functools.lru_cache(maxsize=None)
def _clean_check(api_version: str, kind: str) -> schema_compiled.Check | None:
    """The compiled yes/no standing in for `schema_validator`'s full pass on clean objects."""
    validator, found = schema_validator(api_version, kind), _kind_schema(api_version, kind)
    if validator is None or found is None:
        return None
    return schema_compiled.compile_schema(found[0], found[1],
                                          formats_asserted=validator.format_checker is not None)


def _kube_path(error: jsonschema.ValidationError) -> str:
    """Instance path in kube's field.Path syntax: `a.b[0].c`, map keys as `labels[app]`."""
    instance = list(error.absolute_path)
    tokens = list(error.absolute_schema_path)
    out, at, i = "", 0, 0
    while i < len(tokens) and at < len(instance):
        token = tokens[i]
        if token == "properties":
            out += ("." if out else "") + str(instance[at])
            at, i = at + 1, i + 2
            continue
        if token in ("additionalProperties", "items"):
            out += f"[{instance[at]}]"
            at += 1
        i += 1
    return out


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
               (dict, "object"), (list, "array"))


def _json_type(value: Any) -> str:
    return next((name for t, name in _JSON_TYPES if isinstance(value, t)), "null")


def _schema_check(validator: Validator, obj: dict[str, Any]) -> tuple[list[Cause], list[str]]:
    """One pass over the schema: the violations as Causes, and the paths of unknown fields."""
    causes: list[Cause] = []
    unknown: list[str] = []
    for err in validator.iter_errors(obj):
        path = _kube_path(err)
        if err.validator == "additionalProperties" and err.validator_value is False:
            known = err.schema.get("properties", {}) if isinstance(err.schema, dict) else {}
            unknown += [_join(path, key) for key in err.instance if key not in known]
        elif err.validator == "required":
            causes += [required(_join(path, p)) for p in err.validator_value if p not in err.instance]
        elif err.validator == "type" and err.instance is None:
            causes.append(required(path))  # null for a required scalar decodes to its zero value
        elif err.validator == "type":
            types = [err.validator_value] if isinstance(err.validator_value, str) else err.validator_value
            causes.append(type_invalid(path, _json_type(err.instance), ",".join(t for t in types if t != "null")))
        elif err.validator == "enum":
            causes.append(not_supported(path, err.instance, [str(v) for v in err.validator_value]))
        else:
            causes.append(invalid(path, err.instance, err.message))
    return causes, unknown


def _type_meta_causes(api_version: Any, kind: Any) -> list[Cause]:
    causes = []
    if not isinstance(api_version, str) or not api_version:
        causes.append(required("apiVersion"))
    if not isinstance(kind, str) or not kind:
        causes.append(required("kind"))
    if not causes and schema_validator(api_version, kind) is None:
        causes.append(invalid("kind", kind, f'no kind "{kind}" is registered for version "{api_version}"'))
    return causes


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith((p + ".", p + "[")) for p in prefixes)


def _schema_pass(obj: Any) -> tuple[list[Cause], list[str], bool]:
    """One pass of `obj` over its kind's schema: the Causes, the unknown-field paths, and
    whether the kind is known (so its per-kind rules apply)."""
    if not isinstance(obj, dict):
        return [type_invalid("", _json_type(obj), "object")], [], False
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    causes = _type_meta_causes(api_version, kind)
    if causes:
        return causes, [], False
    validator = schema_validator(api_version, kind)
    assert validator is not None  # checked by _type_meta_causes
    clean = _clean_check(api_version, kind)
    try:
        if clean is not None and clean(obj):
            return [], [], True  # nothing jsonschema would report: skip its walk
    except RecursionError:
        pass  # nested deeper than the closures go; jsonschema decides
    causes, unknown = _schema_check(validator, obj)
    return causes, unknown, True


def _with_rules(causes: list[Cause], obj: dict[str, Any], old: Any) -> list[Cause]:
    """The schema's causes and the per-kind rules' causes, each problem once."""
    from controlplane.resources import validation_rules  # imports this module's vocabulary

    # A field of the wrong type reads as absent to the rules; its type error is the one to report.
    mistyped = tuple(c["field"] for c in causes if c["reason"] == TYPE_INVALID)
    causes = causes + [c for c in validation_rules.check(obj, old if isinstance(old, dict) else None)
                       if not _under(c["field"], mistyped)]
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for c in causes:  # rules and schema may both see a missing field; report it once
        key = (c["field"], c["reason"], c["message"])
        if key not in seen:
            seen.add(key)
            unique.append(c)
    return unique


def validate(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[Cause]:
    """Every problem with `obj` (an update of `old` when given), one Cause each; [] when valid.

    Fields that `apply_defaults` fills are accepted when absent, so objects may be validated
    before or after defaulting. Unknown fields are not reported here (see `unknown_fields`).
    """
    causes, _, known_kind = _schema_pass(obj)
    return _with_rules(causes, obj, old) if known_kind else causes


def unknown_fields(obj: dict[str, Any]) -> list[str]:
    """Dotted paths of fields the schema does not know, e.g. `spec.template.spec.containers[0].imagee`.

    Map keys (labels, annotations, data) are never unknown. [] for kinds without a schema.
    """
    return _schema_pass(obj)[1]


def check_write(obj: dict[str, Any], old: dict[str, Any] | None = None) -> tuple[list[str], list[Cause]]:
    """`unknown_fields(obj)` and, when there are none, `validate(obj, old)`, with one schema pass.

    With unknown fields the causes are not computed ([]): as Kubernetes decodes before it
    validates, the caller drops (or rejects) those fields first and then calls `validate`.
    """
    causes, unknown, known_kind = _schema_pass(obj)
    if unknown:
        return unknown, []
    return [], _with_rules(causes, obj, old) if known_kind else causes
