"""IntOrString values that scale: `maxSurge: 25%`, `minAvailable: 2` (apimachinery's intstr)."""

from __future__ import annotations

import math
from typing import Any


def scaled_value(value: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int as is, a percentage of `total`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if not text.endswith("%"):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"invalid int-or-percent value {text!r}") from None
    pct = int(text[:-1])
    exact = pct * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)
