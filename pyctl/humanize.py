"""Small formatting rules kubectl users read every day: ages, timestamps, label sets."""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from controlplane.machinery.meta import parse_time


def human_duration(seconds: float) -> str:
    """kubectl's approximation of a duration: `45s`, `3m20s`, `2h5m`, `6d3h`, `2y30d`."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def since(value: str | None, now: dt.datetime | None = None) -> str:
    """The age of a timestamp, or `<unknown>` when there is none."""
    at = parse_time(value)
    if at is None:
        return "<unknown>"
    now = now or dt.datetime.now(dt.timezone.utc)
    return human_duration((now - at).total_seconds())


def rfc1123z(value: str | None) -> str:
    """A timestamp as describe prints it, in local time: `Mon, 02 Jan 2006 15:04:05 -0700`."""
    at = parse_time(value)
    if at is None:
        # Go prints the zero time for an unset timestamp.
        return "Mon, 01 Jan 0001 00:00:00 +0000"
    return at.astimezone().strftime("%a, %d %b %Y %H:%M:%S %z")


def format_labels(labels: Mapping[str, Any] | None) -> str:
    """`a=1,b=2` sorted by key, or `<none>`."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def format_selector(selector: Mapping[str, Any] | None, empty: str = "<none>") -> str:
    """A metav1.LabelSelector as text: `app=web,tier in (a,b),!canary`."""
    if not selector:
        return empty
    parts = [(k, f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        text = {"In": f"{key} in ({','.join(sorted(values))})",
                "NotIn": f"{key} notin ({','.join(sorted(values))})",
                "Exists": key, "DoesNotExist": f"!{key}"}.get(op)
        if text is not None:
            parts.append((key, text))
    # Requirements are printed in key order, as labels.Selector.String() does.
    return ",".join(text for _, text in sorted(parts)) if parts else empty
