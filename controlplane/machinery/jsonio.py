"""JSON on the hot paths: objects encoded and decoded per request, per event, per pod.

Owns one promise: `dumps` and `loads` give exactly what `json.dumps(obj, separators=(",", ":"))`
and `json.loads` give, only faster. orjson does the work; the standard library takes over
wherever the two would differ, so callers, clients and tests see the same bytes, values and
error messages as before:

* output with non-ASCII characters or DEL: json escapes them (``ensure_ascii``), orjson
  writes them raw;
* what orjson refuses to encode (ints beyond 64 bits, non-str keys, subclasses of str/int/
  dict/list, dataclasses, datetimes, nesting deeper than 254) — json encodes it or raises
  its own TypeError;
* input orjson rejects (NaN, Infinity, a BOM, UTF-16, lone surrogates, any syntax error):
  json parses it or raises its own, familiar error ("Expecting value: line 1 column 1");
* integers of 19 digits or more, which orjson would silently turn into floats.

Known difference, kept on purpose: floats below 1e-4 print as ``1e-7``/``0.00001`` instead of
``1e-07``/``1e-05`` (the same number), and NaN/Infinity encode as ``null`` where json wrote
tokens no JSON parser (kubectl, client-go) accepts.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
_compact = json.JSONEncoder(separators=(",", ":")).encode
# Every byte to "x" except digits to "0": 19 zeros in a row mean a number orjson may not
# hold as an int (int64 has 19 digits); one translate + one search costs far less than a regex.
_DIGITS = bytes(48 if 48 <= b <= 57 else 120 for b in range(256))
_LONG_NUMBER = b"0" * 19


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes of `obj`, byte for byte what json.dumps(separators=(",", ":")) gives."""
    try:
        out = orjson.dumps(obj, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: let json encode it or raise its own error
        return _compact(obj).encode()
    if out.isascii() and b"\x7f" not in out:
        return out
    return _compact(obj).encode()


def loads(data: bytes | bytearray | str) -> Any:
    """The value of a JSON document, as json.loads returns it; json.loads's errors on bad input."""
    if isinstance(data, str):
        try:
            raw = data.encode()
        except UnicodeEncodeError:  # lone surrogates: only json accepts those
            return json.loads(data)
    else:
        raw = bytes(data) if isinstance(data, bytearray) else data
    if _LONG_NUMBER in raw.translate(_DIGITS):
        return json.loads(data)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(data)
