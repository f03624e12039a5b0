"""Reading and filling fields of raw API objects, defensively.

Objects arrive as decoded JSON that may hold anything: a field of the wrong type was
already reported by the schema check, so defaulting and per-kind rules treat it as absent.
"""

from __future__ import annotations

from typing import Any

from ..machinery.types import Obj


def as_dict(v: Any) -> Obj:
    """`v` if it is an object, else an empty one (not stored anywhere)."""
    return v if isinstance(v, dict) else {}


def dict_or_none(v: Any) -> Obj | None:
    """`v` if it is an object, else None (for code that writes into what it finds)."""
    return v if isinstance(v, dict) else None


def as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def as_str(v: Any) -> str:
    return v if isinstance(v, str) else ""


def as_int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def dicts(v: Any) -> list[Obj]:
    """The objects in a list (others skipped)."""
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


def at(obj: Any, *keys: str) -> Any:
    """obj[k1][k2]... or None when any step is missing or not an object."""
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def fill(obj: Obj, key: str, value: Any) -> None:
    """Set `key` when the client left it out (absent, null, or Go's zero "" for strings)."""
    if obj.get(key) in (None, ""):
        obj[key] = value


def fill_positive(obj: Obj, key: str, value: int) -> None:
    """Set an int32 counter left at Go's zero (0 means "not set" for probe counters)."""
    if obj.get(key) in (None, 0):
        obj[key] = value


def child(obj: Obj | None, key: str) -> Obj | None:
    """obj[key] as a dict, created empty when absent; None when it holds something else."""
    if obj is None:
        return None
    if obj.get(key) is None:
        obj[key] = {}
    return obj[key] if isinstance(obj[key], dict) else None


def normalized(v: Any) -> Any:
    """Kubernetes' semantic equality: null, [] and {} are the same as an absent field."""
    if isinstance(v, dict):
        return {k: normalized(x) for k, x in v.items() if x not in (None, [], {})}
    if isinstance(v, list):
        return [normalized(x) for x in v]
    return v
