"""YAML in and out the way Kubernetes tools do it.

In: YAML 1.1 as sigs.k8s.io/yaml reads it, except that timestamps stay strings (they
become JSON strings in Kubernetes too) and every key becomes a string. Each document
comes with the line it starts on, for error messages.
Out: what `kubectl -o yaml` prints: sorted keys, `""`-quoted strings that would
otherwise read as another type, `|` blocks for multi-line strings.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

import yaml

_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SafeDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_STR = "tag:yaml.org,2002:str"
# go-yaml reads these as booleans and numbers where PyYAML does not: quote them too.
_GO_IMPLICIT = re.compile(r"[yYnN]|[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?")

YAMLError = yaml.YAMLError


class Loader(_SafeLoader):  # type: ignore[misc]
    """Safe loading without timestamp conversion."""


Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
    for first, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
}


def _stringify_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_key(k): _stringify_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify_keys(v) for v in value]
    return value


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return "null" if key is None else str(key)


def load_all(text: str) -> Iterator[tuple[Any, int]]:
    """Each document and the 1-based line it starts on; raises YAMLError with a mark."""
    loader = Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            line = node.start_mark.line + 1 if node is not None else 0
            yield _stringify_keys(loader.construct_document(node)), line
    finally:
        loader.dispose()


def load(text: str) -> Any:
    return _stringify_keys(yaml.load(text, Loader=Loader))  # noqa: S506 - a safe loader


class Dumper(_SafeDumper):  # type: ignore[misc]
    """kubectl's YAML style."""


def _represent_str(dumper: Any, value: str) -> Any:
    if "\n" in value:
        return dumper.represent_scalar(_STR, value, style="|")
    if value == "" or _GO_IMPLICIT.fullmatch(value) or dumper.resolve(yaml.ScalarNode, value, (True, False)) != _STR:
        # "true", "123", "null", "" must stay strings: go-yaml double-quotes them.
        return dumper.represent_scalar(_STR, value, style='"')
    return dumper.represent_scalar(_STR, value)


Dumper.add_representer(str, _represent_str)


def dump(obj: Any) -> str:
    return yaml.dump(obj, Dumper=Dumper, default_flow_style=False, sort_keys=True,
                     allow_unicode=True, width=80)
