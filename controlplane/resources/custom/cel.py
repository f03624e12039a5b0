"""x-kubernetes-validations: CEL rules of a CRD schema, compiled once, run on every write.

Built on common-expression-language (`cel`, Python bindings of a Rust CEL interpreter): a
rule evaluates in about 30 µs here, where cel-python's tree-walking interpreter took 2 ms. A
rule is compiled when its CRD version's schema is, and checked there, so that a CRD using
something this server cannot evaluate is refused when it is created, never silently accepted:

* functions: CEL's standard ones and macros (size, has, matches, startsWith, endsWith,
  contains, int/uint/double/string/bool/bytes/type/dyn, timestamp, duration, the getX
  accessors, all, exists, exists_one, map, filter, `in`), and of Kubernetes' libraries the
  strings, lists, sets and math extensions in `_EXTENSIONS` (lowerAscii, upperAscii, trim,
  split, join, replace, indexOf, lastIndexOf, substring, charAt, reverse, isSorted, sum, min,
  max, sets.contains/equivalent/intersects, math.greatest/least/...). Anything else, among
  them Kubernetes' quantity, url, ip, cidr, regex find/findAll, format and authorizer
  libraries, is refused: `compilation failed: ERROR: <input>:1:1: undeclared reference to
  'quantity' (in container '')`; so is the optional syntax (`self.?x`), as a syntax error;
* variables: `self`, `oldSelf` and comprehension variables;
* fields: `self.x.y` chains must name properties of the schema (`undefined field 'y'`),
  unless the schema leaves the object open (additionalProperties, preserve-unknown-fields);
* `oldSelf` (transition rules) only where an old value can be correlated (not under the
  items of a list that is not a map or set list).

Values reach CEL typed by the schema: a `number` field is a double even when written `1`, a
`date-time` string a timestamp, a `duration` string a duration. Cost estimation and the
runtime cost budget are not implemented: rules run to completion.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

import cel
from cel import stdlib

from ..validation import Cause, duplicate, forbidden, invalid, required



class Node(Protocol):
    """What the rules need of a compiled schema node (structural.Node)."""

    @property
    def type(self) -> str: ...
    @property
    def type_name(self) -> str: ...
    @property
    def properties(self) -> Mapping[str, "Node"]: ...
    @property
    def additional(self) -> "Node | None": ...
    @property
    def items(self) -> "Node | None": ...
    @property
    def preserve_unknown(self) -> bool: ...
    @property
    def list_type(self) -> str: ...
    @property
    def map_keys(self) -> tuple[str, ...]: ...
    @property
    def raw(self) -> Mapping[str, Any]: ...
    @property
    def rules(self) -> "tuple[CompiledRule, ...]": ...
    @property
    def rules_below(self) -> bool: ...

_MACROS = {"has", "all", "exists", "exists_one", "map", "filter"}
_STANDARD = {"size", "matches", "startsWith", "endsWith", "contains", "int", "uint", "double",
             "string", "bool", "bytes", "type", "dyn", "timestamp", "duration", "getDate",
             "getDayOfMonth", "getDayOfWeek", "getDayOfYear", "getFullYear", "getHours",
             "getMilliseconds", "getMinutes", "getMonth", "getSeconds", "in"}
_COMPREHENSION = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_STRING_LITERAL = re.compile(r"""[rRbB]*("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')""")
_CHAIN = re.compile(r"\b(self|oldSelf)((?:\s*\.\s*[A-Za-z_]\w*)+)(\s*\()?")
_REASONS = ("FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate")


class CompileError(ValueError):
    """A rule that cannot be compiled; `field` is relative to the schema's root."""

    def __init__(self, field: str, value: Any, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field, self.value, self.detail = field, value, detail


def _is_sorted(values: Any) -> bool:
    items = list(values)
    return all(a <= b for a, b in zip(items, items[1:]))


def _extensions() -> dict[str, Callable[..., Any]]:
    """Kubernetes' string, list, set and math extensions the CEL library has, plus isSorted."""
    probe = cel.Context()
    stdlib.add_stdlib_to_context(probe)
    keep = {"charAt", "indexOf", "lastIndexOf", "lowerAscii", "upperAscii", "replace", "split",
            "substring", "trim", "join", "reverse", "sum", "min", "max", "sets.contains",
            "sets.equivalent", "sets.intersects"}
    found = {name: fn for name, fn in probe.functions.items() if name in keep or name.startswith("math.")}
    found["isSorted"] = _is_sorted
    return found


_EXTENSIONS = _extensions()
_KNOWN = _MACROS | _STANDARD | set(_EXTENSIONS)


# ---------------------------------------------------------------------------------------------
# Compiling and checking

@dataclass(eq=False)
class CompiledRule:
    rule: str
    program: Any  # cel.Program
    message: str
    message_program: Any | None
    reason: str
    field_path: str  # where failures are reported, relative to the rule's node ("" = the node)
    uses_old: bool


def _code(text: str) -> str:
    """The rule with its string literals blanked (same length), so names are found in code only."""
    return _STRING_LITERAL.sub(lambda m: m.group(0)[0] + " " * (len(m.group(0)) - 2) + m.group(0)[-1], text)


def _where(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"<input>:{line}:{column}"


def _undeclared(text: str, name: str) -> str:
    found = re.search(r"(?<![\w.])" + re.escape(name) + r"\b|\." + re.escape(name) + r"\b", _code(text))
    where = _where(text, found.start() + (1 if found and found.group(0).startswith(".") else 0)) \
        if found else "<input>:1:1"
    return f"compilation failed: ERROR: {where}: undeclared reference to '{name}' (in container '')"


def _parse(text: str, field: str) -> Any:
    try:
        return cel.compile(text)
    except ValueError as exc:
        detail = str(exc)
        first = detail[detail.find("ERROR: "):] if "ERROR: " in detail else detail
        first = first.splitlines()[0].strip()
        raise CompileError(field, text, f"compilation failed: {first}") from None


def _check_fields(root: Node, chain: list[str]) -> str | None:
    node: Node | None = root
    for name in chain:
        if node is None or node.preserve_unknown or node.type != "object":
            return None  # an open or non-object value: nothing to check statically
        if name in node.properties:
            node = node.properties[name]
        elif node.additional is not None:
            node = node.additional
        else:
            return name
    return None


def _check(program: Any, node: Node, field: str, text: str) -> bool:
    """Refuse what this server cannot evaluate; True when the rule uses oldSelf."""
    code = _code(text)
    bound = set(_COMPREHENSION.findall(code))
    variables = set(program.variables())
    unknown = [n for n in program.functions() if not n.startswith(("_", "@", "!")) and n not in _KNOWN]
    unknown += sorted(variables - bound - {"self", "oldSelf"})
    if unknown:  # the first in the text, as a compiler reports it
        first = min(unknown, key=lambda n: (code.find(n) if n in code else len(code), n))
        raise CompileError(field, text, _undeclared(text, first))
    for m in _CHAIN.finditer(code):
        names = [n.strip() for n in m.group(2).split(".") if n.strip()]
        if m.group(3):  # the last name is a method call (self.name.lowerAscii())
            names = names[:-1]
        missing = _check_fields(node, names)
        if missing is not None:
            at = code.find("." + missing, m.start()) + 1
            raise CompileError(field, text, f"compilation failed: ERROR: {_where(text, at)}: "
                                            f"undefined field '{missing}'")
    return "oldSelf" in variables


def compile_rules(rules: list[Any], node: Node, where: str, correlatable: bool = True) -> tuple[CompiledRule, ...]:
    """The rules of one schema node; CompileError names the first one that cannot run here."""
    out = []
    for i, rule in enumerate(rules):
        field = f"{where + '.' if where else ''}x-kubernetes-validations[{i}]"
        if not isinstance(rule, dict) or not isinstance(rule.get("rule"), str) or not rule["rule"].strip():
            raise CompileError(f"{field}.rule", rule.get("rule") if isinstance(rule, dict) else rule,
                               "rule is not specified")
        text = rule["rule"]
        program = _parse(text, f"{field}.rule")
        uses_old = _check(program, node, f"{field}.rule", text)
        if uses_old and not correlatable:
            raise CompileError(f"{field}.rule", text, "oldSelf cannot be used on the uncorrelatable portion "
                                                      "of the schema within " + (where or "the root"))
        message_program = None
        expression = rule.get("messageExpression")
        if isinstance(expression, str) and expression.strip():
            message_program = _parse(expression, f"{field}.messageExpression")
            _check(message_program, node, f"{field}.messageExpression", expression)
        reason = rule.get("reason") or "FieldValueInvalid"
        if reason not in _REASONS:
            raise CompileError(f"{field}.reason", reason, "Unsupported value: " + ", ".join(f'"{r}"' for r in _REASONS))
        field_path = rule.get("fieldPath") or ""
        out.append(CompiledRule(text, program, str(rule.get("message") or ""), message_program, reason,
                                field_path.lstrip(".") if isinstance(field_path, str) else "", uses_old))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Running

def _timestamp(value: str) -> Any:
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value


_DURATION = re.compile(r"(\d+(?:\.\d*)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(value: str) -> Any:
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value.lstrip("+-"):
        return value
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    return dt.timedelta(seconds=-seconds if value.startswith("-") else seconds)


def to_cel(value: Any, node: Node | None) -> Any:
    """A JSON value as CEL sees it, typed by its schema (a `number` field is a double)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return float(value) if node is not None and node.type == "number" else value
    if isinstance(value, str) and node is not None and node.raw.get("format") in ("date-time", "duration"):
        return _timestamp(value) if node.raw["format"] == "date-time" else _duration(value)
    if isinstance(value, dict):
        props = node.properties if node is not None else {}
        extra = node.additional if node is not None else None
        return {k: to_cel(v, props.get(k) or extra) for k, v in value.items()}
    if isinstance(value, list):
        items = node.items if node is not None else None
        return [to_cel(v, items) for v in value]
    return value


def _context() -> Any:
    ctx = cel.Context()
    for name, fn in _EXTENSIONS.items():
        ctx.add_function(name, fn)
    return ctx


_CTX: list[Any] = []  # one evaluation context, its functions registered once (single-threaded)


def _run(program: Any, activation: dict[str, Any]) -> Any:
    if not _CTX:
        _CTX.append(_context())
    ctx = _CTX[0]
    for name, value in activation.items():
        ctx.add_variable(name, value)
    return program.execute(ctx)


def _message(rule: CompiledRule, activation: dict[str, Any]) -> str:
    if rule.message_program is not None:
        try:
            text = _run(rule.message_program, activation)
            if isinstance(text, str) and text.strip() and "\n" not in text:
                return text
        except Exception:  # noqa: BLE001  (kube falls back to the message on any failure)
            pass
    return rule.message or f"failed rule: {rule.rule.strip()}"


def _failure(rule: CompiledRule, path: str, type_name: str, detail: str) -> Cause:
    where = path if not rule.field_path else (f"{path}.{rule.field_path}" if path else rule.field_path)
    if rule.reason == "FieldValueForbidden":
        return forbidden(where, detail)
    if rule.reason == "FieldValueRequired":
        return required(where, detail)
    if rule.reason == "FieldValueDuplicate":
        return duplicate(where, type_name, detail)
    return invalid(where, type_name, detail)


def _eval_error(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"no such key: {exc.args[0] if exc.args else ''}"
    text = str(exc)
    return text.split(". ", 1)[0] if isinstance(exc, TypeError) else text


_NO_OLD: Any = object()


def _evaluate(node: Node, value: Any, old: Any, path: str, out: list[Cause]) -> None:
    activation: dict[str, Any] | None = None
    for rule in node.rules:
        if rule.uses_old and old is _NO_OLD:
            continue  # a transition rule: nothing to compare with on create
        if activation is None:
            activation = {"self": to_cel(value, node)}
            if old is not _NO_OLD:
                activation["oldSelf"] = to_cel(old, node)
        try:
            result = _run(rule.program, activation)
        except Exception as exc:  # noqa: BLE001  (the library raises Python's errors for CEL's)
            out.append(invalid(path, node.type_name or "object", f"{rule.rule.strip()}: {_eval_error(exc)}"))
            continue
        if result is not True:
            out.append(_failure(rule, path, node.type_name or "object", _message(rule, activation)))


def _walk(node: Node, value: Any, old: Any, path: str, out: list[Cause]) -> None:
    if value is None or not node.rules_below:
        return
    if node.rules:
        _evaluate(node, value, old, path, out)
    if isinstance(value, dict):
        olds = old if isinstance(old, dict) else {}
        for key, sub in value.items():
            child = node.properties.get(key) or node.additional
            if child is not None:
                _walk(child, sub, olds.get(key, _NO_OLD), f"{path}.{key}" if path else key, out)
    elif isinstance(value, list) and node.items is not None:
        olds_by_key = _correlate(node, old)
        for i, item in enumerate(value):
            _walk(node.items, item, olds_by_key(item), f"{path}[{i}]", out)


def _correlate(node: Node, old: Any) -> Callable[[Any], Any]:
    """Finds an item's old self: by its keys in a map list, by value in a set; else none."""
    if not isinstance(old, list) or node.list_type not in ("map", "set"):
        return lambda item: _NO_OLD
    if node.list_type == "set":
        return lambda item: item if item in old else _NO_OLD
    keys = node.map_keys

    def by_keys(item: Any) -> Any:
        if not isinstance(item, dict):
            return _NO_OLD
        for o in old:
            if isinstance(o, dict) and all(o.get(k) == item.get(k) for k in keys):
                return o
        return _NO_OLD
    return by_keys


def rule_causes(root: Node, obj: Any, old: Any = None) -> list[Cause]:
    """The failures of every x-kubernetes-validations rule of `obj` (`old`: the stored object)."""
    out: list[Cause] = []
    _walk(root, obj, old if old is not None else _NO_OLD, "", out)
    return out
