"""kubectl's JSONPath templates: `{.items[*].metadata.name}`, `{range .items[*]}...{end}`.

Supported: fields (with `\\.` escapes), `..field`, `*`, `[n]`, `[a:b:c]`, `[a,b]`, `['key']`,
filters `[?(@.x == "y")]` (==, !=, <, <=, >, >=, or existence), unions `{.a,.b}`, string
literals `{"\\n"}` and `range`/`end`. Missing keys print nothing, as in `kubectl get`.
Shared by pyctl's `-o jsonpath` / `custom-columns` and the API server's CRD printer columns.
"""

from __future__ import annotations

import json
import operator
import re
from dataclasses import dataclass
from typing import Any, Iterator


class JSONPathError(ValueError):
    pass


@dataclass
class _Text:
    text: str


@dataclass
class _Expr:
    paths: list[list[tuple[str, Any]]]


@dataclass
class _Literal:
    text: str


@dataclass
class _Range:
    path: list[tuple[str, Any]]
    body: list[Any]


_OPERATORS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
              ">": operator.gt, ">=": operator.ge}
_FILTER = re.compile(r"^\s*(@[^=!<>\s]*)\s*(?:(==|!=|<=|>=|<|>)\s*(.+?))?\s*$")


def _split_top(text: str, sep: str) -> list[str]:
    """Split on `sep` outside brackets and quotes."""
    parts, depth, quote, cur = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    parts.append(cur)
    return parts


def parse_path(text: str) -> list[tuple[str, Any]]:
    """Steps of one path: ("field", name) ("recurse", name) ("index", spec) ("filter", ...)."""
    text = text.strip()
    if text.startswith(("$", "@")):
        text = text[1:]
    steps: list[tuple[str, Any]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == ".":
            recurse = text.startswith("..", i)
            i += 2 if recurse else 1
            name = ""
            while i < len(text) and text[i] not in ".[":
                if text[i] == "\\" and i + 1 < len(text):
                    i += 1
                name += text[i]
                i += 1
            if recurse:
                steps.append(("recurse", name))
            elif name == "*":
                steps.append(("wildcard", None))
            elif name:
                steps.append(("field", name))
        elif ch == "[":
            end, depth, quote = i + 1, 1, ""
            while end < len(text) and depth:
                c = text[end]
                if quote:
                    quote = "" if c == quote else quote
                elif c in "'\"":
                    quote = c
                elif c == "[":
                    depth += 1
                elif c == "]":
                    depth -= 1
                end += 1
            if depth:
                raise JSONPathError(f"unterminated array in {text!r}")
            steps.append(_bracket(text[i + 1:end - 1].strip()))
            i = end
        else:
            # A bare name at the start, as in relaxed paths (`metadata.name`).
            end = i
            while end < len(text) and text[end] not in ".[":
                end += 1
            steps.append(("field", text[i:end]))
            i = end
    return steps


def _bracket(inner: str) -> tuple[str, Any]:
    if inner == "*":
        return ("wildcard", None)
    if inner.startswith("?"):
        body = inner[1:].strip()
        if not (body.startswith("(") and body.endswith(")")):
            raise JSONPathError(f"invalid filter [{inner}]")
        m = _FILTER.match(body[1:-1])
        if not m:
            raise JSONPathError(f"invalid filter [{inner}]")
        left, op, right = m.groups()
        return ("filter", (parse_path(left), op, _literal(right) if right is not None else None))
    if inner[:1] in "'\"":
        return ("keys", [k.strip()[1:-1] for k in _split_top(inner, ",")])
    if ":" in inner:
        parts = [p.strip() for p in inner.split(":")]
        try:
            nums = [int(p) if p else None for p in parts] + [None] * (3 - len(parts))
        except ValueError:
            raise JSONPathError(f"invalid array slice [{inner}]") from None
        return ("slice", tuple(nums[:3]))
    try:
        return ("indexes", [int(p) for p in inner.split(",")])
    except ValueError:
        raise JSONPathError(f"invalid array index [{inner}]") from None


def _literal(text: str) -> Any:
    text = text.strip()
    if text[:1] in "'\"" and text[-1:] == text[:1]:
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        return text


def _step(values: list[Any], step: tuple[str, Any]) -> list[Any]:
    op, arg = step
    out: list[Any] = []
    for v in values:
        if op == "field":
            if isinstance(v, dict) and arg in v:
                out.append(v[arg])
        elif op == "keys":
            if isinstance(v, dict):
                out.extend(v[k] for k in arg if k in v)
        elif op == "wildcard":
            if isinstance(v, dict):
                out.extend(v[k] for k in sorted(v))
            elif isinstance(v, list):
                out.extend(v)
        elif op == "indexes":
            if isinstance(v, list):
                out.extend(v[i] for i in arg if -len(v) <= i < len(v))
        elif op == "slice":
            if isinstance(v, list):
                out.extend(v[slice(*arg)])
        elif op == "recurse":
            out.extend(_descend(v, arg))
        elif op == "filter":
            items = v if isinstance(v, list) else [v]
            out.extend(item for item in items if _keep(item, *arg))
    return out


def _descend(value: Any, name: str) -> Iterator[Any]:
    if isinstance(value, dict):
        if name in value:
            yield value[name]
        for k in sorted(value):
            yield from _descend(value[k], name)
    elif isinstance(value, list):
        for item in value:
            yield from _descend(item, name)


def _keep(item: Any, path: list[tuple[str, Any]], op: str | None, right: Any) -> bool:
    found = evaluate(path, item)
    if op is None:
        return bool(found)
    if not found:
        return False
    try:
        return bool(_OPERATORS[op](found[0], right))
    except TypeError:
        return False


def evaluate(path: list[tuple[str, Any]], data: Any) -> list[Any]:
    values = [data]
    for step in path:
        values = _step(values, step)
    return values


def text_of(value: Any) -> str:
    """How a result prints: strings bare, everything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Template:
    """A parsed template; `render(data)` gives the text kubectl would print."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.nodes = self._parse(source)

    def _parse(self, source: str) -> list[Any]:
        stack: list[list[Any]] = [[]]
        ranges: list[_Range] = []
        i = 0
        while i < len(source):
            start = source.find("{", i)
            if start < 0:
                stack[-1].append(_Text(source[i:]))
                break
            if start > i:
                stack[-1].append(_Text(source[i:start]))
            end = _closing(source, start)
            action = source[start + 1:end].strip()
            i = end + 1
            if re.match(r"range(?=[\s.@$\[])", action):
                node = _Range(parse_path(action[5:]), [])
                stack[-1].append(node)
                ranges.append(node)
                stack.append(node.body)
            elif action == "end":
                if not ranges:
                    raise JSONPathError(f"error parsing jsonpath {source}, not in range, nothing to end")
                ranges.pop()
                stack.pop()
            elif action[:1] in "'\"" and action[-1:] == action[:1] and len(action) > 1:
                stack[-1].append(_Literal(_unescape(action[1:-1])))
            else:
                stack[-1].append(_Expr([parse_path(p) for p in _split_top(action, ",")]))
        if ranges:
            raise JSONPathError(f"error parsing jsonpath {source}, unclosed range")
        return stack[0]

    def render(self, data: Any) -> str:
        out: list[str] = []
        self._render(self.nodes, data, data, out)
        return "".join(out)

    def _render(self, nodes: list[Any], root: Any, current: Any, out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, (_Text, _Literal)):
                out.append(node.text)
            elif isinstance(node, _Expr):
                results = [r for p in node.paths for r in evaluate(p, current)]
                out.append(" ".join(text_of(r) for r in results))
            else:
                for item in _flatten_range(evaluate(node.path, current)):
                    self._render(node.body, root, item, out)


def _flatten_range(values: list[Any]) -> list[Any]:
    # `{range .items}` and `{range .items[*]}` both iterate over the items.
    if len(values) == 1 and isinstance(values[0], list):
        return values[0]
    return values


def _closing(source: str, start: int) -> int:
    quote = ""
    for i in range(start + 1, len(source)):
        ch = source[i]
        if quote:
            if ch == "\\":
                continue
            quote = "" if ch == quote and source[i - 1] != "\\" else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "}":
            return i
    raise JSONPathError(f"error parsing jsonpath {source}, unclosed action")


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), text)


def relaxed(expression: str) -> str:
    """`.metadata.name` or `metadata.name` as kubectl's sort-by/custom-columns accept them."""
    expression = expression.strip()
    if expression.startswith("{") and expression.endswith("}"):
        return expression
    if not expression.startswith("."):
        expression = "." + expression
    return "{" + expression + "}"
