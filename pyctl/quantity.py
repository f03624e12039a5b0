"""Kubernetes resource quantities (`250m`, `64Mi`, `1.5Gi`, `2e3`): parse, add, print canonically.

Describe sums requests over a node's pods and prints them as the API machinery does:
`1536Mi` for 1.5Gi, `500m` for 0.5, `1k` for 1000.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -3, "u": -2, "m": -1, "": 0, "k": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}
_PATTERN = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")


class Quantity:
    """A value in base units and the notation it was written in (binary, decimal or exponent)."""

    def __init__(self, value: Decimal = Decimal(0), fmt: str = "decimal") -> None:
        self.value = value
        self.fmt = fmt

    @classmethod
    def parse(cls, text: object) -> "Quantity":
        if isinstance(text, (int, float)):
            return cls(Decimal(str(text)))
        m = _PATTERN.match(str(text).strip())
        if not m:
            raise ValueError(f"quantities must match the regular expression: {text!r}")
        number, suffix = Decimal(m.group(1)), m.group(2) or ""
        try:
            if suffix in _BINARY:
                return cls(number * (Decimal(1024) ** _BINARY[suffix]), "binary")
            if suffix[:1] in "eE" and suffix:
                return cls(number.scaleb(int(suffix[1:])), "exponent")
            return cls(number.scaleb(3 * _DECIMAL[suffix]), "decimal")
        except InvalidOperation:
            raise ValueError(f"invalid quantity {text!r}") from None

    def __add__(self, other: "Quantity") -> "Quantity":
        return Quantity(self.value + other.value, self.fmt if self.value else other.fmt)

    def __bool__(self) -> bool:
        return bool(self.value)

    @property
    def milli(self) -> int:
        return int((self.value * 1000).to_integral_value(rounding="ROUND_CEILING"))

    def __str__(self) -> str:
        value = self.value
        if value == 0:
            return "0"
        if self.fmt == "binary" and value == value.to_integral_value() and abs(value) >= 1024:
            for suffix, power in sorted(_BINARY.items(), key=lambda kv: -kv[1]):
                unit = Decimal(1024) ** power
                if value % unit == 0:
                    return f"{int(value / unit)}{suffix}"
        # Decimal notation: the largest power of 1000 that leaves an integer.
        for suffix, power in sorted(_DECIMAL.items(), key=lambda kv: -kv[1]):
            scaled = value.scaleb(-3 * power)
            if scaled == scaled.to_integral_value():
                if self.fmt == "exponent" and power:
                    return f"{int(scaled)}e{3 * power}"
                return f"{int(scaled)}{suffix}"
        return f"{int(value.scaleb(9).to_integral_value(rounding='ROUND_CEILING'))}n"


def total(values: list[object]) -> Quantity:
    result = Quantity()
    for v in values:
        result = result + Quantity.parse(v)
    return result


def canonical(text: object) -> str:
    try:
        return str(Quantity.parse(text))
    except ValueError:
        return str(text)
