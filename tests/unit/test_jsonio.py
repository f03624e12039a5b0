"""jsonio encodes and decodes exactly as the json module does, on every input a client can send."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random

import pytest

from controlplane.machinery import jsonio

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web"},
                    "annotations": {"note": "a \"quoted\" value\twith\ncontrol chars \x00\x1f"}},
       "spec": {"containers": [{"name": "web", "image": "demo:1.0", "ports": [{"containerPort": 8080}]}],
                "terminationGracePeriodSeconds": 30, "enableServiceLinks": True, "nodeName": None},
       "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}


def compact(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def outcome(fn, arg):
    try:
        return "ok", fn(arg)
    except Exception as exc:  # the error a caller would see: its type and message
        return type(exc), str(exc)


@pytest.mark.parametrize("value", [
    POD, {}, [], "", 0, -1, 2**63 - 1, -2**63, 2**64 - 1, 2**64, -2**63 - 1, 10**40, {"n": [10**30, -10**30]},
    0.5, 1.0, -0.0, 1e16, 1e22, 123456789012345678.0, 5e-324, 1.5e300, 0.0001,
    "é", "日本語", "emoji 🚀", "\u2028\u2029", "\x7f", "\ud800", "<script>&", "/", True, False, None,
    ("a", 1), {"deep": [[[[{"x": [1]}]]]]},
], ids=repr)
def test_dumps_is_byte_identical_to_compact_json(value):
    assert jsonio.dumps(value) == compact(value)


def test_dumps_matches_json_on_random_strings_from_every_plane():
    rng = random.Random(8)
    for _ in range(2000):
        s = "".join(chr(rng.choice((rng.randrange(0, 0x80), rng.randrange(0x80, 0x110000)))) for _ in range(6))
        assert jsonio.dumps({s: [s]}) == compact({s: [s]})


@dataclasses.dataclass
class Point:
    x: int


class Name(str):
    pass


@pytest.mark.parametrize("value", [
    {1: "int key"}, {(1, 2): "tuple key"}, {"s": {1, 2}}, Point(1), dt.datetime(2026, 1, 1), b"bytes",
    Name("subclass"), {"nested": Name("x")}, {"k": object()},
], ids=repr)
def test_dumps_falls_back_to_json_for_what_orjson_treats_differently(value):
    assert outcome(jsonio.dumps, value) == outcome(compact, value)


def test_dumps_of_nesting_beyond_orjson_depth_matches_json():
    deep: list = []
    for _ in range(300):
        deep = [deep]
    assert jsonio.dumps(deep) == compact(deep)


@pytest.mark.parametrize("text", [
    json.dumps(POD), json.dumps(POD, indent=2), '{"a":1,"a":2}', "[1, 2]", "  {} ", "-0", "1E5", "0.1e1",
    "18446744073709551615", "18446744073709551616", "-9223372036854775809", '{"big": 123456789012345678901234567890}',
    "1.00000000000000011102230246251565404236316680908203125", '"\\u00e9\\ud83d\\ude80"', '"\\ud800"',
    '"snow ☃"', "NaN", "Infinity", "-Infinity", "1e400",
], ids=repr)
def test_loads_gives_json_values(text):
    for data in (text, text.encode()):
        got, want = jsonio.loads(data), json.loads(data)
        assert got == want or (got != got and want != want)  # NaN equals nothing, not even itself
        assert type(got) is type(want)


def test_non_finite_floats_encode_as_null_not_as_tokens_no_client_parses():
    assert jsonio.dumps({"a": float("nan"), "b": float("inf")}) == b'{"a":null,"b":null}'


def test_large_integers_stay_integers_inside_objects():
    obj = jsonio.loads(b'{"spec":{"n":12345678901234567890123,"m":-98765432109876543210}}')
    assert obj["spec"] == {"n": 12345678901234567890123, "m": -98765432109876543210}


@pytest.mark.parametrize("data", [
    b"{not json", b"", b"   ", b"[1,]", b'{"a":}', b"\xef\xbb\xbf{}", b'"\xff"', b"[1] [2]", b'{"a" 1}',
    "{}".encode("utf-16"), '{"é": 1}'.encode("utf-32"), b"\x00", "{not json", "", "[1,", "\ud800",
], ids=repr)
def test_loads_raises_or_accepts_exactly_as_json_does(data):
    assert outcome(jsonio.loads, data) == outcome(json.loads, data)


def test_loads_accepts_bytearray():
    assert jsonio.loads(bytearray(b'{"a":[1,2]}')) == {"a": [1, 2]}
