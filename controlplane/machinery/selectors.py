"""Label and field selectors, as the Kubernetes API server understands them.

This module owns three things:

* the ``labelSelector`` query-string grammar (``a=b,c!=d,e in (x,y),!f``) and the
  object form used in specs (``{matchLabels, matchExpressions}``), both turned into
  one :class:`LabelSelector` that matches a labels dict;
* the ``fieldSelector`` grammar (``a=b,c!=d``) and, per resource, which field labels
  exist and where their values live in an object (:class:`FieldSelector`);
* the error texts, copied from apimachinery so that a client sees the same 400
  message it would get from kube-apiserver.

Semantics follow ``k8s.io/apimachinery/pkg/labels`` and ``pkg/fields`` and the
per-kind field-label conversion funcs in ``k8s.io/kubernetes``; pure functions,
no I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

__all__ = [
    "SelectorError",
    "LabelRequirement",
    "LabelSelector",
    "parse_label_selector",
    "label_selector_from_spec",
    "selector_to_string",
    "FieldRequirement",
    "FieldSelector",
    "parse_field_selector",
]


class SelectorError(ValueError):
    """A selector the API server would refuse with 400 BadRequest; str() is the message."""


# ---------------------------------------------------------------------------------------
# Label key / value syntax (apimachinery util/validation), with upstream's exact wording.

_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', "
                       "and must start and end with an alphanumeric character")
_LABEL_VALUE_FMT = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, "
                    "'-', '_' or '.', and must start and end with an alphanumeric character")
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                          "characters, '-' or '.', and must start and end with an alphanumeric character")

_QUALIFIED_NAME_RE = re.compile(_QUALIFIED_NAME_FMT)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    # Upstream joins examples as "'a', " + " or " + "'b', " -- hence the double space.
    return msg + " (e.g. " + " or ".join(f"'{e}', " for e in examples) + \
        f"regex used for validation is '{fmt}')"


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


def _label_key_errors(key: str) -> list[str]:
    errs: list[str] = []
    parts = key.split("/")
    if len(parts) > 2:
        return ["a qualified name " + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT,
                                                   "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            if len(prefix.encode()) > 253:
                errs.append("prefix part " + _max_len(253))
            if not _DNS1123_SUBDOMAIN_RE.fullmatch(prefix):
                errs.append("prefix part " + _regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT,
                                                          "example.com"))
    if not name:
        errs.append("name part must be non-empty")
    elif len(name.encode()) > 63:
        errs.append("name part " + _max_len(63))
    if not _QUALIFIED_NAME_RE.fullmatch(name):
        errs.append("name part " + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT,
                                                "MyName", "my.name", "123-abc"))
    return errs


def _label_value_errors(value: str) -> list[str]:
    errs: list[str] = []
    if len(value.encode()) > 63:
        errs.append(_max_len(63))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(_regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _go_quote(s: str) -> str:
    """Go's %q for the strings that occur here."""
    return json.dumps(s, ensure_ascii=False)


def _go_string_slice(values: list[str]) -> str:
    """Go's %#v of a []string built with append([]string(nil), ...)."""
    return "[]string{" + ", ".join(_go_quote(v) for v in values) + "}" if values else "[]string(nil)"


def _invalid(path: str, bad: str, detail: str) -> str:
    """field.Invalid(...).Error()."""
    return f"{path}: Invalid value: {bad}: {detail}"


def _aggregate(errors: list[str]) -> str:
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


# ---------------------------------------------------------------------------------------
# Label selectors

_SET_OPS = ("in", "notin")
_EXACT_OPS = ("=", "==", "!=")
_UNARY_OPS = ("exists", "!")
_ORDER_OPS = ("gt", "lt")
_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"  # how parse errors list them


@dataclass(frozen=True)
class LabelRequirement:
    """One term: ``key op values``; ``op`` is one of in notin = == != exists ! gt lt."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op in ("in", "=", "=="):
            return present and value in self.values
        if self.op in ("notin", "!="):
            return not present or value not in self.values
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in _ORDER_OPS and present:
            try:
                have, want = int(value or ""), int(self.values[0])
            except ValueError:
                return False
            return have > want if self.op == "gt" else have < want
        return False

    def __str__(self) -> str:
        if self.op == "exists":
            return self.key
        if self.op == "!":
            return "!" + self.key
        joined = ",".join(sorted(self.values))
        if self.op in _SET_OPS:
            return f"{self.key} {self.op} ({joined})"
        return self.key + {"gt": ">", "lt": "<"}.get(self.op, self.op) + joined


def _new_requirement(key: str, op: str, values: list[str], key_path: str) -> LabelRequirement:
    """labels.NewRequirement: validate and build, or raise with upstream's aggregate text."""
    errs: list[str] = []
    if key_errors := _label_key_errors(key):
        errs.append(_invalid(key_path, _go_quote(key), "; ".join(key_errors)))
    if op in _SET_OPS and not values:
        errs.append(_invalid("values", _go_string_slice(values),
                             "for 'in', 'notin' operators, values set can't be empty"))
    elif op in _EXACT_OPS and len(values) != 1:
        errs.append(_invalid("values", _go_string_slice(values),
                             "exact-match compatibility requires one single value"))
    elif op in _UNARY_OPS and values:
        errs.append(_invalid("values", _go_string_slice(values),
                             "values set must be empty for exists and does not exist"))
    elif op in _ORDER_OPS:
        if len(values) != 1:
            errs.append(_invalid("values", _go_string_slice(values),
                                 "for 'Gt', 'Lt' operators, exactly one value is required"))
        for i, v in enumerate(values):
            if not re.fullmatch(r"[+-]?[0-9]+", v):
                errs.append(_invalid(f"values[{i}]", _go_quote(v),
                                     "for 'Gt', 'Lt' operators, the value must be an integer"))
    for i, v in enumerate(values):
        if msgs := _label_value_errors(v):
            errs.append(_invalid(f"values[{i}][{key}]", _go_quote(v), "; ".join(msgs)))
    if errs:
        raise SelectorError(_aggregate(errs))
    return LabelRequirement(key, op, tuple(values))


class LabelSelector:
    """An AND of requirements. ``LabelSelector.nothing()`` matches no object at all.

    ``str()`` is the canonical form kube-apiserver prints: terms sorted by key, set
    values sorted, e.g. ``app=web,tier in (back,front),!canary``.
    """

    def __init__(self, requirements: Iterable[LabelRequirement] = (), *, nothing: bool = False) -> None:
        self.requirements: tuple[LabelRequirement, ...] = tuple(
            sorted(requirements, key=lambda r: r.key))  # stable: equal keys keep their order
        self._nothing = nothing

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls()

    @classmethod
    def nothing(cls) -> LabelSelector:
        return cls(nothing=True)

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (a server can skip filtering)."""
        return not self._nothing and not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self._nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        return "LabelSelector.nothing()" if self._nothing else f"LabelSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, LabelSelector) and self._nothing == other._nothing
                and self.requirements == other.requirements)

    __hash__ = None  # type: ignore[assignment]


# Lexer tokens. Literal tokens are keyed by their text; identifiers and the end are not.
_IDENT, _END = "identifier", "end"
_TOKENS = {")": ")", ",": ",", "!": "!", "==": "==", "=": "=", ">": ">", "in": "in",
           "<": "<", "!=": "!=", "notin": "notin", "(": "("}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")


def _lex(s: str) -> list[tuple[str, str]]:
    """Tokens of a label selector, ending with (_END, "")."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(s)
    while True:
        while i < n and s[i] in _WHITESPACE:
            i += 1
        if i == n:
            out.append((_END, ""))
            return out
        if s[i] in _SPECIAL:
            # Longest run of special characters that is still an operator ("!=", "==").
            j = i + 1
            while j < n and s[j] in _SPECIAL and s[i:j + 1] in _TOKENS:
                j += 1
            out.append((_TOKENS[s[i:j]], s[i:j]))
        else:
            j = i
            while j < n and s[j] not in _SPECIAL and s[j] not in _WHITESPACE:
                j += 1
            word = s[i:j]
            out.append((_TOKENS.get(word, _IDENT), word))
        i = j


class _ParseError(Exception):
    pass


class _Parser:
    """Recursive descent over the token list, mirroring labels.Parser (same error texts)."""

    def __init__(self, s: str) -> None:
        self.items = _lex(s)
        self.pos = 0

    def _peek(self, values: bool = True) -> tuple[str, str]:
        tok, lit = self.items[self.pos]
        # In value position, "in" and "notin" are ordinary words (`x in (in)`).
        return (_IDENT, lit) if values and tok in _SET_OPS else (tok, lit)

    def _take(self, values: bool = True) -> tuple[str, str]:
        item = self._peek(values)
        self.pos += 1
        return item

    def parse(self) -> list[LabelRequirement]:
        reqs: list[LabelRequirement] = []
        while True:
            tok, lit = self._peek()
            if tok == _END:
                return reqs
            if tok not in (_IDENT, "!"):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                reqs.append(self._requirement())
            except (_ParseError, SelectorError) as e:
                raise SelectorError(f"unable to parse requirement: {e}") from None
            tok, lit = self._take()
            if tok == _END:
                return reqs
            if tok != ",":
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            tok, lit = self._peek()
            if tok not in (_IDENT, "!"):
                raise SelectorError(f"found '{lit}', expected: identifier after ','")

    def _requirement(self) -> LabelRequirement:
        negated = False
        tok, key = self._take()
        if tok == "!":
            negated = True
            tok, key = self._take()
        if tok != _IDENT:
            raise _ParseError(f"found '{key}', expected: identifier")
        if errs := _label_key_errors(key):
            # Upstream validates against a nil field path here, which prints as "<nil>".
            raise _ParseError(_invalid("<nil>", _go_quote(key), "; ".join(errs)))
        if negated:
            return _new_requirement(key, "!", [], "key")
        if self._peek()[0] in (_END, ","):
            return _new_requirement(key, "exists", [], "key")
        tok, lit = self._take(values=False)
        op = {"in": "in", "notin": "notin", "=": "=", "==": "==", "!=": "!=", ">": "gt", "<": "lt"}.get(tok)
        if op is None:
            raise _ParseError(f"found '{lit}', expected: {_BINARY_OPERATORS}")
        values = self._set_values() if op in _SET_OPS else self._exact_value()
        return _new_requirement(key, op, sorted(values), "key")

    def _set_values(self) -> set[str]:
        tok, lit = self._take()
        if tok != "(":
            raise _ParseError(f"found '{lit}' expected: '('")
        tok, lit = self._peek()
        if tok == ")":
            self._take()
            return {""}
        if tok not in (_IDENT, ","):
            raise _ParseError(f"found '{lit}', expected: ',', ')' or identifier")
        values: set[str] = set()
        while True:  # a possibly-empty, comma separated list: "(a,,b)" holds "" too
            tok, lit = self._take()
            if tok == _IDENT:
                values.add(lit)
                nxt, nlit = self._peek()
                if nxt == ")":
                    break
                if nxt != ",":
                    raise _ParseError(f"found '{nlit}', expected: ',' or ')'")
            elif tok == ",":
                if not values:
                    values.add("")
                nxt, _ = self._peek()
                if nxt in (")", ","):
                    values.add("")
                if nxt == ")":
                    break
            else:
                raise _ParseError(f"found '{lit}', expected: ',', or identifier")
        self._take()  # the ")" the loop stopped in front of
        return values

    def _exact_value(self) -> set[str]:
        if self._peek()[0] in (_END, ","):
            return {""}
        tok, lit = self._take()
        if tok != _IDENT:
            raise _ParseError(f"found '{lit}', expected: identifier")
        return {lit}


def parse_label_selector(s: str) -> LabelSelector:
    """Parse ``?labelSelector=``. The empty string selects everything."""
    return LabelSelector(_Parser(s).parse())


_SPEC_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def label_selector_from_spec(spec: Mapping | None) -> LabelSelector:
    """metav1.LabelSelectorAsSelector for ``{matchLabels, matchExpressions}``.

    ``None`` (no selector at all) matches NOTHING; ``{}`` (a selector with no terms)
    matches EVERYTHING -- the same asymmetry as upstream, which is why a Service
    without a selector gets no endpoints while ``podSelector: {}`` picks all pods.
    """
    if spec is None:
        return LabelSelector.nothing()
    match_labels = spec.get("matchLabels") or {}
    expressions = spec.get("matchExpressions") or []
    reqs = [_new_requirement(k, "=", [v], "key") for k, v in match_labels.items()]
    for expr in expressions:
        operator = expr.get("operator", "")
        op = _SPEC_OPERATORS.get(operator)
        if op is None:
            raise SelectorError(f"{_go_quote(operator)} is not a valid label selector operator")
        reqs.append(_new_requirement(expr.get("key", ""), op, list(expr.get("values") or []), "key"))
    return LabelSelector(reqs)


def selector_to_string(spec: Mapping | None) -> str:
    """The canonical string of an object-form selector: what Scale ``status.selector`` shows.

    ``{"matchLabels": {"app": "myapp"}}`` -> ``"app=myapp"``; ``None`` and ``{}`` -> ``""``.
    Raises SelectorError for a selector that does not validate.
    """
    return str(label_selector_from_spec(spec))


# ---------------------------------------------------------------------------------------
# Field selectors

_Getter = Callable[[Mapping], str]


def _at(*path: str) -> _Getter:
    def get(obj: Mapping) -> str:
        cur: object = obj
        for key in path:
            cur = cur.get(key) if isinstance(cur, Mapping) else None
        return "" if cur is None else str(cur)
    return get


def _flag(*path: str) -> _Getter:
    """A boolean field; absent reads "false" as in upstream's ToSelectableFields."""
    inner = _at(*path)
    return lambda obj: "true" if inner(obj).lower() == "true" else "false"


def _pod_ip(pod: Mapping) -> str:
    ips = (pod.get("status") or {}).get("podIPs") or []
    return (ips[0].get("ip") or "") if ips else _at("status", "podIP")(pod)


def _event_source(ev: Mapping) -> str:
    return _at("source", "component")(ev) or _at("reportingComponent")(ev)


def _never_set(_: Mapping) -> str:
    return ""  # accepted by the conversion func but absent from ToSelectableFields


@dataclass(frozen=True)
class _FieldLabels:
    """One kind's field-label contract: accepted labels -> value getter, plus aliases."""

    getters: Mapping[str, _Getter]
    aliases: Mapping[str, str] = field(default_factory=dict)
    # Kinds without their own conversion func use DefaultMetaV1FieldSelectorConversion,
    # whose rejection text differs from the per-kind "field label not supported".
    generic: bool = False

    def reject(self, label: str) -> SelectorError:
        if self.generic:
            return SelectorError(f'{_go_quote(label)} is not a known field selector: '
                                 f'only "metadata.name", "metadata.namespace"')
        return SelectorError(f"field label not supported: {label}")


_NAME = {"metadata.name": _at("metadata", "name")}
_META = {**_NAME, "metadata.namespace": _at("metadata", "namespace")}

# Resources with a conversion func upstream (pkg/apis/core/v1/conversion.go). Cluster-scoped
# nodes and namespaces do not accept metadata.namespace there. Everything else, including
# the apps group, gets the generic metadata-only contract.
_FIELD_LABELS: dict[str, _FieldLabels] = {
    "pods": _FieldLabels({
        **_META,
        "spec.nodeName": _at("spec", "nodeName"),
        "spec.restartPolicy": _at("spec", "restartPolicy"),
        "spec.schedulerName": _at("spec", "schedulerName"),
        "spec.serviceAccountName": _at("spec", "serviceAccountName"),
        "spec.hostNetwork": _flag("spec", "hostNetwork"),
        "status.phase": _at("status", "phase"),
        "status.podIP": _pod_ip,
        "status.podIPs": _never_set,
        "status.nominatedNodeName": _at("status", "nominatedNodeName"),
    }, aliases={"spec.host": "spec.nodeName"}),  # old v1 clients
    "events": _FieldLabels({
        **_META,
        **{f"involvedObject.{f}": _at("involvedObject", f)
           for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")},
        "reason": _at("reason"),
        "reportingComponent": _at("reportingComponent"),
        "source": _event_source,
        "type": _at("type"),
    }),
    "nodes": _FieldLabels({**_NAME, "spec.unschedulable": _flag("spec", "unschedulable")}),
    "namespaces": _FieldLabels({**_NAME, "status.phase": _at("status", "phase")}),
    "secrets": _FieldLabels({**_META, "type": _at("type")}),
    "services": _FieldLabels({**_META, "spec.clusterIP": _at("spec", "clusterIP"),
                              "spec.type": _at("spec", "type")}),
    "replicationcontrollers": _FieldLabels({**_META, "status.replicas": _at("status", "replicas")}),
}
_GENERIC_FIELD_LABELS = _FieldLabels(_META, generic=True)


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    op: str  # "=" (also for "==") or "!="
    value: str

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
        return f"{self.field}{self.op}{escaped}"


class FieldSelector:
    """An AND of ``field=value`` / ``field!=value`` terms over one resource's field labels.

    A field that is absent from an object reads as ``""``, so ``involvedObject.namespace=``
    selects events about cluster-scoped objects.
    """

    def __init__(self, requirements: Iterable[FieldRequirement], labels: _FieldLabels) -> None:
        self.requirements = tuple(requirements)
        self._labels = labels

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: Mapping) -> bool:
        for req in self.requirements:
            have = self._labels.getters[req.field](obj)
            if (have == req.value) != (req.op == "="):
                return False
        return True

    def exact_name(self) -> str | None:
        """The name when a term pins ``metadata.name=X``: look up one key instead of scanning.

        The caller must still apply :meth:`matches` (other terms may exclude the object).
        """
        for req in self.requirements:
            if req.field == "metadata.name" and req.op == "=":
                return req.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        return f"FieldSelector({str(self)!r})"


def _split_terms(s: str) -> list[str]:
    """Split on commas not escaped by a backslash (the backslash stays in the term)."""
    terms, start, escaped = [], 0, False
    for i, c in enumerate(s):
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == ",":
            terms.append(s[start:i])
            start = i + 1
    terms.append(s[start:])
    return terms


def _unescape(value: str) -> str:
    out, escaped = [], False
    for c in value:
        if escaped:
            if c not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            escaped = False
        elif c == "\\":
            escaped = True
        elif c in ",=":
            # Go prints the rune with %v, i.e. as its code point number.
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(c)}")
        else:
            out.append(c)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def parse_field_selector(s: str, resource: str, selectable: Iterable[str] = ()) -> FieldSelector:
    """Parse ``?fieldSelector=`` for a resource (``pods``, ``events``; ``widgets.example.com``
    outside the core group). ``selectable``: more field labels, each the dotted path of a
    field (a CRD's selectableFields: ``spec.color``).

    Raises SelectorError for bad syntax or a field label the resource does not support.
    """
    labels = _FIELD_LABELS.get(resource, _GENERIC_FIELD_LABELS)
    extra = tuple(selectable)
    if extra:
        labels = _FieldLabels({**labels.getters, **{f: _at(*f.split(".")) for f in extra}}, labels.aliases)
    parsed: list[FieldRequirement] = []
    for term in sorted(_split_terms(s)) if s else []:
        if not term:
            continue
        for i in range(len(term)):  # the first operator occurrence splits; "!=" before "==" before "="
            op = next((o for o in ("!=", "==", "=") if term.startswith(o, i)), None)
            if op is not None:
                lhs, rhs = term[:i], term[i + len(op):]
                break
        else:
            raise SelectorError(f"invalid selector: '{s}'; can't understand '{term}'")
        parsed.append(FieldRequirement(lhs, "!=" if op == "!=" else "=", _unescape(rhs)))
    # Only after the whole string parses does each label go through the kind's conversion.
    reqs = []
    for req in parsed:
        label = labels.aliases.get(req.field, req.field)
        if label not in labels.getters:
            raise labels.reject(req.field)
        reqs.append(FieldRequirement(label, req.op, req.value))
    return FieldSelector(reqs, labels)
