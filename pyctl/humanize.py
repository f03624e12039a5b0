"""Small formatting rules kubectl users read every day: ages, timestamps, label sets."""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from controlplane.machinery.duration import human_duration  # noqa: F401  (pyctl's commands use it from here)
from controlplane.machinery.meta import parse_time


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
