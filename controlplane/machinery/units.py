"""Values the server computes, written as Kubernetes writes them.

* `decimal_quantity(mantissa, exponent)`: resource.Quantity's canonical DecimalSI form of
  mantissa x 10^exponent ("123456n", "250m", "2", "1k", "5M"), as metrics-server writes CPU
  (nanocores) and the HPA controller its milli-values.
* `binary_quantity(n)`: the canonical BinarySI form of a byte count ("12345Ki", "1Mi", "1000").
* `go_duration(seconds)`: Go's time.Duration.String() ("15.002s", "1m0s", "250ms"), as a
  metav1.Duration such as PodMetrics' `window` is written; `parse_duration` reads one back.
"""

from __future__ import annotations

_DECIMAL_SUFFIX = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}
_BINARY_SUFFIX = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


def decimal_quantity(mantissa: int, exponent: int = 0) -> str:
    """mantissa x 10^exponent (exponent a multiple of 3 from -9 to 18) in canonical DecimalSI."""
    if mantissa == 0:
        return "0"
    while mantissa % 1000 == 0 and exponent < 18:
        mantissa //= 1000
        exponent += 3
    return f"{mantissa}{_DECIMAL_SUFFIX[exponent]}"


def milli_quantity(milli: int) -> str:
    """resource.NewMilliQuantity(milli, DecimalSI).String()."""
    return decimal_quantity(milli, -3)


def binary_quantity(n: int) -> str:
    """resource.NewQuantity(n, BinarySI).String(): the largest power of 1024 dividing n."""
    if n == 0:
        return "0"
    power = 0
    while n % 1024 == 0 and power < len(_BINARY_SUFFIX) - 1:
        n //= 1024
        power += 1
    return f"{n}{_BINARY_SUFFIX[power]}"


def _fraction(value: int, digits: int) -> str:
    whole, frac = divmod(value, 10 ** digits)
    text = f"{frac:0{digits}d}".rstrip("0")
    return f"{whole}.{text}" if text else str(whole)


def go_duration(seconds: float) -> str:
    """time.Duration(seconds).String(), to the nanosecond."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_fraction(ns, 3)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{_fraction(ns, 6)}ms"
    hours, rest = divmod(ns, 3600 * 10 ** 9)
    minutes, rest = divmod(rest, 60 * 10 ** 9)
    text = f"{_fraction(rest, 9)}s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    return f"{sign}{minutes}m{text}" if minutes else f"{sign}{text}"


# "ms" before "m" and "s": the longest unit that matches wins, as in Go.
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in a Go duration ("15s", "1m30s", "250ms", "1.5h") or a bare number of seconds;
    ValueError when it is neither."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    total, number, rest = 0.0, "", text.lstrip("+")
    if not rest:
        raise ValueError(f"invalid duration {text!r}")
    while rest:
        i = 0
        while i < len(rest) and (rest[i].isdigit() or rest[i] == "."):
            i += 1
        number, rest = rest[:i], rest[i:]
        unit = next((u for u in ("ns", "us", "µs", "ms", "s", "m", "h") if rest.startswith(u)), None)
        if not number or unit is None:
            raise ValueError(f"invalid duration {text!r}: expected e.g. 15s, 5m or 1m30s")
        total += float(number) * _UNITS[unit]
        rest = rest[len(unit):]
    return total
