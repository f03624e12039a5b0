"""x-kubernetes-validations: CEL rules of a CRD schema, compiled once, run on every write.

Built on cel-python (celpy). A rule is parsed when its CRD version's schema is compiled and
checked there, so that a CRD using something this server cannot evaluate is refused when it is
created, never silently accepted:

* functions: CEL's standard ones and macros (size, has, matches, startsWith, endsWith,
  contains, int/uint/double/string/bool/bytes/type/dyn, timestamp, duration, all, exists,
  exists_one, map, filter, `in`) and Kubernetes' string and list extensions listed in
  `_EXTENSIONS` (lowerAscii, upperAscii, trim, split, join, replace, indexOf, lastIndexOf,
  substring, charAt, isSorted, sum, min, max). Anything else, among them Kubernetes' other
  libraries (quantity, url, ip, cidr, regex find, format, authorizer, optionals `?.`), is
  refused with `compilation failed: ERROR: <input>:1:N: undeclared reference to 'quantity'`;
* identifiers: `self`, `oldSelf` and comprehension variables;
* fields: `self.x.y` chains must name properties of the schema (`undefined field 'y'`),
  unless the schema leaves the object open (additionalProperties, preserve-unknown-fields);
* `oldSelf` (transition rules) only where an old value can be correlated (not under the
  items of a list that is not a map or set list).

Cost estimation and the runtime cost budget are not implemented: rules run to completion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import celpy
from celpy import celtypes
from lark import Token, Tree

from ..validation import Cause, duplicate, forbidden, invalid, required

if TYPE_CHECKING:
    from .structural import Node

_MACROS = {"has", "all", "exists", "exists_one", "map", "filter"}
_COMPREHENSIONS = {"all", "exists", "exists_one", "map", "filter"}
_STANDARD = {"size", "matches", "startsWith", "endsWith", "contains", "int", "uint", "double",
             "string", "bool", "bytes", "type", "dyn", "timestamp", "duration", "getDate",
             "getDayOfMonth", "getDayOfWeek", "getDayOfYear", "getFullYear", "getHours",
             "getMilliseconds", "getMinutes", "getMonth", "getSeconds"}
_TYPE_NAMES = {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"}
_REASONS = ("FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate")


class CompileError(ValueError):
    """A rule that cannot be compiled; `field` is relative to the schema's root."""

    def __init__(self, field: str, value: Any, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field, self.value, self.detail = field, value, detail


# ---------------------------------------------------------------------------------------------
# Kubernetes' CEL string and list extensions

def _s(v: Any) -> str:
    return str(v)


def _index_of(v: Any, sub: Any, start: Any = 0) -> Any:
    if isinstance(v, celtypes.ListType):
        return celtypes.IntType(next((i for i, x in enumerate(v) if x == sub), -1))
    return celtypes.IntType(_s(v).find(_s(sub), int(start)))


def _last_index_of(v: Any, sub: Any, end: Any = None) -> Any:
    if isinstance(v, celtypes.ListType):
        return celtypes.IntType(max((i for i, x in enumerate(v) if x == sub), default=-1))
    return celtypes.IntType(_s(v).rfind(_s(sub), 0, None if end is None else int(end) + len(_s(sub))))


def _split(v: Any, sep: Any, n: Any = -1) -> Any:
    parts = _s(v).split(_s(sep), int(n) - 1) if int(n) > 0 else ([] if int(n) == 0 else _s(v).split(_s(sep)))
    return celtypes.ListType([celtypes.StringType(p) for p in parts])


def _replace(v: Any, old: Any, new: Any, n: Any = -1) -> Any:
    return celtypes.StringType(_s(v).replace(_s(old), _s(new), int(n)))


def _substring(v: Any, start: Any, end: Any = None) -> Any:
    return celtypes.StringType(_s(v)[int(start):None if end is None else int(end)])


def _join(v: Any, sep: Any = "") -> Any:
    return celtypes.StringType(_s(sep).join(_s(x) for x in v))


def _numeric(values: Any, pick: Callable[[Any], Any]) -> Any:
    if not values:
        raise ValueError("min/max of an empty list")
    return pick(values)


_EXTENSIONS: dict[str, Callable[..., Any]] = {
    "lowerAscii": lambda v: celtypes.StringType(_s(v).lower()),
    "upperAscii": lambda v: celtypes.StringType(_s(v).upper()),
    "trim": lambda v: celtypes.StringType(_s(v).strip()),
    "split": _split,
    "join": _join,
    "replace": _replace,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "substring": _substring,
    "charAt": lambda v, i: celtypes.StringType(_s(v)[int(i):int(i) + 1]),
    "isSorted": lambda v: celtypes.BoolType(all(a <= b for a, b in zip(v, list(v)[1:]))),
    "sum": lambda v: sum(v, celtypes.DoubleType(0) if any(isinstance(x, celtypes.DoubleType) for x in v)
                          else celtypes.IntType(0)),
    "min": lambda v: _numeric(v, min),
    "max": lambda v: _numeric(v, max),
}
_KNOWN = _MACROS | _STANDARD | set(_EXTENSIONS)
_ENV = celpy.Environment()


# ---------------------------------------------------------------------------------------------
# Compiling and checking

@dataclass(frozen=True)
class CompiledRule:
    rule: str
    program: Any  # celpy Runner
    message: str
    message_program: Any | None
    reason: str
    field_path: str  # where failures are reported, relative to the rule's node ("" = the node)
    uses_old: bool


def _parse(text: str, field: str) -> Tree:
    try:
        return _ENV.compile(text)
    except celpy.CELParseError as exc:
        where = f"<input>:{exc.line or 1}:{exc.column or 1}" if hasattr(exc, "line") else "<input>"
        raise CompileError(field, text, f"compilation failed: ERROR: {where}: Syntax error: "
                                        f"{str(exc).splitlines()[0].strip()}") from None


def _position(tree: Tree) -> str:
    meta = getattr(tree, "meta", None)
    line, column = getattr(meta, "line", 1) or 1, getattr(meta, "column", 1) or 1
    return f"<input>:{line}:{column}"


def _undeclared(tree: Tree, name: str) -> str:
    return f"compilation failed: ERROR: {_position(tree)}: undeclared reference to '{name}' (in container '')"


def _bound_variables(tree: Tree) -> set[str]:
    """The comprehension variables a rule declares (`x` of `self.items.all(x, ...)`)."""
    names: set[str] = set()
    for node in tree.iter_subtrees():
        if node.data == "member_dot_arg" and len(node.children) == 3 and str(node.children[1]) in _COMPREHENSIONS:
            args = node.children[2]
            first = args.children[0] if isinstance(args, Tree) and args.children else None
            for t in first.iter_subtrees() if isinstance(first, Tree) else ():
                if t.data == "ident":
                    names.add(str(t.children[0]))
    return names


def _field_chain(tree: Tree) -> tuple[str, list[str]] | None:
    """(`self`, [a, b]) for a member chain `self.a.b`; None for anything else."""
    names: list[str] = []
    while tree.data == "member_dot":
        names.append(str(tree.children[1]))
        inner = tree.children[0]
        if not isinstance(inner, Tree) or inner.data != "member" or not inner.children:
            return None
        tree = inner.children[0]
        if isinstance(tree, Tree) and tree.data == "primary" and tree.children:
            tree = tree.children[0]
    if isinstance(tree, Tree) and tree.data == "ident":
        return str(tree.children[0]), list(reversed(names))
    return None


def _check_fields(root: Node, chain: list[str], tree: Tree) -> str | None:
    node: Node | None = root
    for name in chain:
        if node is None or node.preserve_unknown or node.type != "object":
            return None  # an open or non-object value: nothing to check statically
        if name in node.properties:
            node = node.properties[name]
        elif node.additional is not None:
            node = node.additional
        else:
            return f"compilation failed: ERROR: {_position(tree)}: undefined field '{name}'"
    return None


def _check(tree: Tree, node: Node, field: str, text: str) -> bool:
    """Refuse what this server cannot evaluate; True when the rule uses oldSelf."""
    bound = _bound_variables(tree)
    uses_old = False
    for sub in tree.iter_subtrees():
        if sub.data == "ident_arg":
            name = str(sub.children[0])
            if name not in _KNOWN:
                raise CompileError(field, text, _undeclared(sub, name))
        elif sub.data == "member_dot_arg":
            name = str(sub.children[1])
            if name not in _KNOWN:
                raise CompileError(field, text, _undeclared(sub, name))
        elif sub.data in ("dot_ident", "dot_ident_arg"):
            raise CompileError(field, text, _undeclared(sub, "." + str(sub.children[0])))
        elif sub.data == "ident":
            name = str(sub.children[0])
            if name == "oldSelf":
                uses_old = True
            elif name != "self" and name not in bound and name not in _TYPE_NAMES:
                raise CompileError(field, text, _undeclared(sub, name))
        elif sub.data == "member_dot":
            chain = _field_chain(sub)
            if chain is not None and chain[0] in ("self", "oldSelf"):
                problem = _check_fields(node, chain[1], sub)
                if problem:
                    raise CompileError(field, text, problem)
    return uses_old


def compile_rules(rules: list[Any], node: Node, where: str, correlatable: bool = True) -> tuple[CompiledRule, ...]:
    """The rules of one schema node; CompileError names the first one that cannot run here."""
    out = []
    for i, rule in enumerate(rules):
        field = f"{where + '.' if where else ''}x-kubernetes-validations[{i}]"
        if not isinstance(rule, dict) or not isinstance(rule.get("rule"), str) or not rule["rule"].strip():
            raise CompileError(f"{field}.rule", rule.get("rule") if isinstance(rule, dict) else rule,
                               "rule is not specified")
        text = rule["rule"]
        tree = _parse(text, f"{field}.rule")
        uses_old = _check(tree, node, f"{field}.rule", text)
        if uses_old and not correlatable:
            raise CompileError(f"{field}.rule", text, "oldSelf cannot be used on the uncorrelatable portion "
                                                      "of the schema within " + (where or "the root"))
        message_program = None
        expression = rule.get("messageExpression")
        if isinstance(expression, str) and expression.strip():
            mtree = _parse(expression, f"{field}.messageExpression")
            _check(mtree, node, f"{field}.messageExpression", expression)
            message_program = _ENV.program(mtree, functions=_EXTENSIONS)
        reason = rule.get("reason") or "FieldValueInvalid"
        if reason not in _REASONS:
            raise CompileError(f"{field}.reason", reason, "Unsupported value: " + ", ".join(f'"{r}"' for r in _REASONS))
        field_path = rule.get("fieldPath") or ""
        out.append(CompiledRule(text, _ENV.program(tree, functions=_EXTENSIONS), str(rule.get("message") or ""),
                                message_program, reason, field_path.lstrip(".") if isinstance(field_path, str) else "",
                                uses_old))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Running

def to_cel(value: Any, node: Node | None) -> Any:
    """A JSON value as CEL sees it, typed by its schema (a `number` field is a double)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int):
        return celtypes.DoubleType(value) if node is not None and node.type == "number" else celtypes.IntType(value)
    if isinstance(value, float):
        return celtypes.DoubleType(value)
    if isinstance(value, str):
        return celtypes.StringType(value)
    if isinstance(value, dict):
        props = node.properties if node is not None else {}
        extra = node.additional if node is not None else None
        return celtypes.MapType({celtypes.StringType(k): to_cel(v, props.get(k) or extra) for k, v in value.items()})
    if isinstance(value, list):
        items = node.items if node is not None else None
        return celtypes.ListType([to_cel(v, items) for v in value])
    return celpy.json_to_cel(value)


def _message(rule: CompiledRule, activation: dict[str, Any]) -> str:
    if rule.message_program is not None:
        try:
            text = rule.message_program.evaluate(activation)
            if isinstance(text, str) and text.strip() and "\n" not in text:
                return str(text)
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
            result = rule.program.evaluate(activation)
        except Exception as exc:  # noqa: BLE001  (celpy raises its own errors and Python's)
            out.append(invalid(path, node.type_name or "object", f"{rule.rule.strip()}: {_eval_error(exc)}"))
            continue
        if result is not True and not (isinstance(result, celtypes.BoolType) and bool(result)):
            out.append(_failure(rule, path, node.type_name or "object", _message(rule, activation)))


def _eval_error(exc: Exception) -> str:
    text = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    if text.startswith("no such member in mapping: "):
        return "no such key: " + text.split(": ", 1)[1].strip("'")
    return text


_NO_OLD: Any = object()


def _walk(node: Node, value: Any, old: Any, path: str, out: list[Cause]) -> None:
    if value is None or not node.rules_below:
        return
    if node.rules:
        _evaluate(node, value, old, path, out)
    if isinstance(value, dict):
        olds = old if isinstance(old, dict) else {}
        for key, sub in value.items():
            child = node.properties.get(key)
            child_path = f"{path}.{key}" if path else key
            if child is None:
                child = node.additional
            if child is not None:
                _walk(child, sub, olds.get(key, _NO_OLD), child_path, out)
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
