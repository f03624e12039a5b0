"""The vocabulary of validation: how a problem with a field is named, and the format checks.

This module owns
  * the `Cause` shape (a metav1.StatusCause) and the Kubernetes field-error vocabulary
    (`Invalid value: -1: must be ...`, `Required value`, `Unsupported value: ...`),
    including Go-style rendering of bad values, so messages read exactly like kube-apiserver's;
  * the format checks shared by many rules (DNS names, label keys/values, ports, IPs, quantities).

The schema check is `schema.py`; the rules a schema cannot express live with each kind
(`kinds/`), the ones many kinds share in `rules.py`; `kind.Kind.check_write` runs them all.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, TypedDict

from ..machinery.quantity import parse_quantity  # noqa: F401  (rules and callers use it from here)


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


QUANTITY_MSG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
