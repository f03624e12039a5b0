"""Small helpers over ObjectMeta shared by the API server and the controllers."""

from __future__ import annotations

import copy
import datetime as dt
import os
import random
import time
from typing import Any

# Kubernetes' generateName alphabet: no vowels (no words) and no look-alike characters.
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
"""The annotation client-side `apply` keeps the applied manifest in."""


_RFC3339 = "%Y-%m-%dT%H:%M:%SZ"
_second: tuple[int, str] = (0, "")  # the current second, formatted once


def now_rfc3339(at: dt.datetime | None = None) -> str:
    """`at` (default: now) in the API's whole-second UTC form. Now is formatted once a second:
    every write stamps it (creationTimestamp, managedFields) and strftime costs 2 us a call."""
    global _second
    if at is not None:
        return at.strftime(_RFC3339)
    now = int(time.time())
    if now != _second[0]:
        _second = (now, time.strftime(_RFC3339, time.gmtime(now)))
    return _second[1]


def parse_time(value: str | None) -> dt.datetime | None:
    """An RFC 3339 timestamp from the API (`Z` or an offset, with or without a fraction);
    None when absent or malformed."""
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def new_uid() -> str:
    """A random (version 4) UUID in its text form, as str(uuid.uuid4()) gives it at under half
    the cost: every create draws one."""
    b = bytearray(os.urandom(16))
    b[6] = b[6] & 0x0F | 0x40  # version 4
    b[8] = b[8] & 0x3F | 0x80  # the RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def random_suffix(n: int = 5) -> str:
    return "".join(random.choice(_ALPHABET) for _ in range(n))


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.setdefault("metadata", {})


def spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    """Everything but metadata and status: what a change of bumps `generation`."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "kind", "apiVersion")}


# JSON's scalar types: immutable, so a copy may share them.
_SCALARS = frozenset((str, int, float, bool, type(None)))


def deep_copy(obj: Any) -> Any:
    """A deep copy of API data: ~5x faster than copy.deepcopy for plain JSON (dicts, lists,
    scalars), which is what every object on the write path is; anything else (a tuple, a dict
    subclass) goes to copy.deepcopy."""
    kind = type(obj)
    if kind is dict:
        return {k: v if type(v) in _SCALARS else deep_copy(v) for k, v in obj.items()}
    if kind is list:
        return [v if type(v) in _SCALARS else deep_copy(v) for v in obj]
    if kind in _SCALARS:
        return obj
    return copy.deepcopy(obj)


def is_controlled_by(obj: dict[str, Any], owner_uid: str) -> bool:
    return any(ref.get("controller") and ref.get("uid") == owner_uid
               for ref in obj.get("metadata", {}).get("ownerReferences") or [])
