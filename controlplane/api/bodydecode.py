"""Request bodies (JSON or YAML bytes) to Python values, safe against hostile nesting.

Every handler and check after decoding walks objects recursively, and Python's recursion
stops near 1,000 levels (a 500 RecursionError); PyYAML's pure-Python parser also spends about
a second of the single event loop on 10,000 nested flow lists before it gets there. So:

* nesting deeper than MAX_DEPTH objects/lists is refused with TooDeep (a 400), found cheaply:
  orjson and libyaml give up on their own past ~1,000 levels in a millisecond, and what they
  did parse is measured without recursion before anything else touches it;
* YAML whose aliases expand without bound (a "billion laughs") is refused, not expanded;
* bodies over OFFLOAD_BYTES are decoded in a worker thread, so a big body never holds up the
  event loop (and the other clients' requests) while it is parsed.

Kubernetes allows 10,000 levels for JSON; no object of a kind pyctl serves comes near 100
(a Deployment with affinity and managedFields is about 15), so 100 loses nothing real.
"""

from __future__ import annotations

import asyncio
from typing import Any

import yaml

from ..machinery import jsonio

MAX_DEPTH = 100
OFFLOAD_BYTES = 32 * 1024
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: C speed, and a depth limit


class Refused(ValueError):
    """A body refused for its shape, not its syntax."""


class TooDeep(Refused):
    def __init__(self) -> None:
        super().__init__(f"it nests objects and lists more than {MAX_DEPTH} levels deep "
                         f"(the limit is {MAX_DEPTH})")


class TooManyAliases(Refused):
    def __init__(self) -> None:
        super().__init__("its YAML aliases expand to far more than the document itself "
                         "(a \"billion laughs\" document)")


async def decode(raw: bytes, *, yaml_ok: bool) -> Any:
    """The value of a JSON body, or of a YAML one when `yaml_ok` (JSON is YAML too).

    Raises TooDeep, ValueError (bad JSON) or yaml.YAMLError (bad YAML)."""
    if len(raw) > OFFLOAD_BYTES:
        return await asyncio.get_running_loop().run_in_executor(None, decode_now, raw, yaml_ok)
    return decode_now(raw, yaml_ok)


def decode_now(raw: bytes, yaml_ok: bool) -> Any:
    if not yaml_ok or raw.lstrip()[:1] in (b"{", b"["):
        try:
            value = jsonio.loads(raw)
        except RecursionError:  # json's parser, after orjson gave up on the depth
            raise TooDeep() from None
        except ValueError:
            if not yaml_ok:
                raise
            return _yaml(raw)
        # One container per level at least: few brackets means shallow, with no walk.
        if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH:
            check_depth(value)
        return value
    return _yaml(raw)


def check_depth(value: Any) -> None:
    """Raise TooDeep when `value` nests dicts/lists deeper than MAX_DEPTH (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > MAX_DEPTH:
            raise TooDeep()
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))


def _yaml(raw: bytes) -> Any:
    loader = _Loader(raw)
    try:
        node = loader.get_single_node()  # libyaml stops at its own nesting limit (1,000)
        if node is None:
            return None
        _check_node_depth(node, budget=len(raw) + 10_000)
        return loader.construct_document(node)
    except RecursionError:  # the pure-Python composer, without libyaml
        raise TooDeep() from None
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(exc):
            raise TooDeep() from None
        raise
    finally:
        loader.dispose()


def _check_node_depth(node: yaml.Node, budget: int) -> None:
    """Depth of the node graph; aliases make it a graph, walked as the tree it expands to,
    within `budget` visits (without aliases there are fewer nodes than bytes)."""
    stack = [(node, 1)]
    while stack:
        budget -= 1
        if budget < 0:
            raise TooManyAliases()
        item, depth = stack.pop()
        if isinstance(item, yaml.SequenceNode):
            children = item.value
        elif isinstance(item, yaml.MappingNode):
            children = [n for pair in item.value for n in pair]
        else:
            continue
        if depth > MAX_DEPTH:
            raise TooDeep()
        stack.extend((c, depth + 1) for c in children)
