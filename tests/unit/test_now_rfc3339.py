"""now_rfc3339: the API's whole-second UTC timestamps, formatted once a second (every write
stamps one), always the current second."""

from __future__ import annotations

import datetime as dt

from controlplane.machinery import meta


def test_now_is_the_current_second_and_follows_the_clock(monkeypatch):
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    got = meta.now_rfc3339()
    after = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    assert got in {before.strftime("%Y-%m-%dT%H:%M:%SZ"), after.strftime("%Y-%m-%dT%H:%M:%SZ")}
    clock = [1_700_000_000.2]
    monkeypatch.setattr(meta.time, "time", lambda: clock[0])
    assert meta.now_rfc3339() == "2023-11-14T22:13:20Z"
    clock[0] += 0.7  # the same second
    assert meta.now_rfc3339() == "2023-11-14T22:13:20Z"
    clock[0] += 0.2  # the next one
    assert meta.now_rfc3339() == "2023-11-14T22:13:21Z"
    clock[0] -= 3600  # a clock set back is followed too
    assert meta.now_rfc3339() == "2023-11-14T21:13:21Z"


def test_a_given_time_is_formatted_as_it_is():
    at = dt.datetime(2020, 1, 2, 3, 4, 5, 999999, tzinfo=dt.timezone.utc)
    assert meta.now_rfc3339(at) == "2020-01-02T03:04:05Z"
