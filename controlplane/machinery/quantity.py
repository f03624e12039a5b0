"""resource.Quantity values ("500m", "1Gi", "2e3", 2) as numbers: the one parser the control
plane's validation, scheduler and storage matching share."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

_QUANTITY = re.compile(r"([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?")
_SUFFIX = {"": 0, "n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def parse_quantity(value: Any) -> Decimal | None:
    """The numeric value of a resource.Quantity ("500m", "1Gi", 2), or None if malformed."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Decimal(str(value))
    m = _QUANTITY.fullmatch(value) if isinstance(value, str) else None
    if not m:
        return None
    try:
        number, suffix = Decimal(m.group(1)), m.group(2) or ""
    except InvalidOperation:
        return None
    if suffix.endswith("i"):
        return number * (1024 ** ("KMGTPE".index(suffix[0]) + 1))
    if suffix[:1] in ("e", "E"):
        return number.scaleb(int(suffix[1:]))
    return number.scaleb(_SUFFIX[suffix])


def whole_units(value: Any) -> int:
    """A quantity as an integer, rounded up ('128Mi' -> 134217728, '1e3' -> 1000); 0 if malformed."""
    q = parse_quantity(value)
    return 0 if q is None else int(math.ceil(q))
