"""The string formats a CRD schema's `format` checks, as kube-apiserver's (strfmt) does.

Only strings are checked; a format not listed here is ignored, as Kubernetes ignores it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import re
from typing import Callable
from urllib.parse import urlparse

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")
_MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$|^([0-9A-Fa-f]{2}[:-]){7}[0-9A-Fa-f]{2}$"
                  r"|^([0-9A-Fa-f]{4}\.){2}[0-9A-Fa-f]{4}$")
_UUID = {
    "uuid": re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$"),
    "uuid3": re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$"),
    "uuid4": re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$"),
    "uuid5": re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$"),
}
_HEXCOLOR = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_BSON = re.compile(r"^[0-9a-fA-F]{24}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$")
_DURATION = re.compile(r"^[-+]?(\d+(\.\d*)?(ns|us|µs|ms|s|m|h|d|w))+$|^[-+]?0$")


def _hostname(s: str) -> bool:
    s = s[:-1] if s.endswith(".") else s
    return 0 < len(s) <= 253 and all(_LABEL.fullmatch(p) for p in s.split("."))


def _ip(version: int) -> Callable[[str], bool]:
    def check(s: str) -> bool:
        try:
            return ipaddress.ip_address(s).version == version
        except ValueError:
            return False
    return check


def _cidr(s: str) -> bool:
    try:
        ipaddress.ip_network(s, strict=False)
    except ValueError:
        return False
    return "/" in s


def _uri(s: str) -> bool:
    parsed = urlparse(s)
    return bool(parsed.scheme) or s.startswith("/")


def _byte(s: str) -> bool:
    try:
        base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _date(s: str) -> bool:
    if not _DATE.match(s):
        return False
    try:
        dt.date.fromisoformat(s)
    except ValueError:
        return False
    return True


def _date_time(s: str) -> bool:
    if not _DATE_TIME.match(s):
        return False
    try:
        dt.datetime.fromisoformat(s.replace("z", "Z").replace("Z", "+00:00").replace("t", "T"))
    except ValueError:
        return False
    return True


FORMATS: dict[str, Callable[[str], bool]] = {
    "hostname": _hostname,
    "ipv4": _ip(4), "ipv6": _ip(6), "cidr": _cidr,
    "mac": lambda s: bool(_MAC.match(s)),
    "email": lambda s: bool(_EMAIL.match(s)),
    "uri": _uri,
    "byte": _byte,
    "date": _date, "date-time": _date_time, "datetime": _date_time,
    "duration": lambda s: bool(_DURATION.match(s)),
    "hexcolor": lambda s: bool(_HEXCOLOR.match(s)),
    "bsonobjectid": lambda s: bool(_BSON.match(s)),
    **{name: (lambda rx: (lambda s: bool(rx.match(s))))(rx) for name, rx in _UUID.items()},
}


def checker(fmt: str) -> Callable[[str], bool] | None:
    """The check of a format name, None for formats that are not validated (int32, password, ...)."""
    return FORMATS.get(fmt)
