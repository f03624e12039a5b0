"""Cron schedules as a Kubernetes CronJob reads them, and the catch-up arithmetic over them.

Kubernetes parses `spec.schedule` with robfig/cron's standard parser: five fields (minute,
hour, day of month, month, day of week), `*`/`?`, ranges, steps, lists, names (`jan`, `mon`),
the macros `@yearly` `@annually` `@monthly` `@weekly` `@daily` `@midnight` `@hourly`, and an
optional `TZ=`/`CRON_TZ=` prefix. `parse` checks a schedule the same way and fails with the
same messages (they reach users as kube-apiserver's `spec.schedule: Invalid value` errors).
`@every` (robfig's own interval syntax, not cron) is refused.

The next fire time is croniter's (a maintained cron iterator with DST-aware time zones): each
field is first expanded to the explicit values robfig would select and handed over as a plain
list, so croniter cannot read a field differently (robfig's `5/15` is 5-59/15, its day of week
stops at 6, and day-of-month/day-of-week are OR-ed only when neither starts with `*`).

`most_recent` is the CronJob controller's view after any gap (an outage of the control plane):
of all the times missed since the last run only the latest is run, once; how many were missed
is counted so that more than 100 can be reported, as the controller does. Pure: `now` is given.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass

from croniter import CroniterBadDateError, croniter

MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
          "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@hourly": "0 * * * *"}
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug",
                                      "sep", "oct", "nov", "dec"), start=1)}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# (low, high, names) of minute, hour, day of month, month, day of week
_BOUNDS: tuple[tuple[int, int, dict[str, int] | None], ...] = (
    (0, 59, None), (0, 23, None), (1, 31, None), (1, 12, _MONTHS), (0, 6, _DAYS))

TOO_MANY_MISSED = 100
"""More missed start times than this are reported (the controller's TooManyMissedTimes)."""


class ScheduleError(ValueError):
    """A schedule robfig/cron would refuse; the message is robfig's."""


def load_zone(name: str) -> dt.tzinfo:
    """An IANA time zone; ScheduleError with Go's `time.LoadLocation` message when unknown."""
    if name in ("", "UTC"):
        return dt.timezone.utc
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f"unknown time zone {name}") from None


@dataclass(frozen=True)
class Schedule:
    expression: str
    """Five fields, every value explicit (or `*`): what croniter is given."""
    zone: dt.tzinfo | None = None
    """The TZ=/CRON_TZ= of the schedule itself, if it had one."""

    def next_after(self, t: dt.datetime, zone: dt.tzinfo | None = None) -> dt.datetime:
        """The first fire time strictly after `t` (aware), in the schedule's zone, else `zone`,
        else `t`'s own; returned in UTC."""
        where = self.zone or zone or t.tzinfo or dt.timezone.utc
        try:
            found = croniter(self.expression, t.astimezone(where)).get_next(dt.datetime)
        except CroniterBadDateError:
            raise ScheduleError("time difference between two schedules is less than 1 second") from None
        return found.astimezone(dt.timezone.utc)

    def latest_until(self, t: dt.datetime, zone: dt.tzinfo | None = None) -> dt.datetime:
        """The last fire time at or before `t`, in UTC."""
        where = self.zone or zone or t.tzinfo or dt.timezone.utc
        start = (t + dt.timedelta(microseconds=1)).astimezone(where)  # at or before, not strictly
        try:
            found = croniter(self.expression, start).get_prev(dt.datetime)
        except CroniterBadDateError:
            raise ScheduleError("time difference between two schedules is less than 1 second") from None
        return found.astimezone(dt.timezone.utc)


_INT = re.compile(r"[+-]?[0-9]+")


def _number(text: str) -> int:
    """Go's strconv.Atoi, with robfig's wording around its errors."""
    if not _INT.fullmatch(text):
        raise ScheduleError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax')
    n = int(text)
    if not -2**63 <= n < 2**63:
        raise ScheduleError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": value out of range')
    if n < 0:
        raise ScheduleError(f"negative number ({n}) not allowed: {text}")
    return n


def _int_or_name(text: str, names: dict[str, int] | None) -> int:
    if names is not None and text.lower() in names:
        return names[text.lower()]
    return _number(text)


def _range(expr: str, low: int, high: int, names: dict[str, int] | None) -> tuple[set[int], bool]:
    """robfig's getRange: the values of one comma-separated part, and whether it is a `*`."""
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    star = low_and_high[0] in ("*", "?")
    if star:
        start, end = low, high
    else:
        start = _int_or_name(low_and_high[0], names)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _int_or_name(low_and_high[1], names)
        else:
            raise ScheduleError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _number(range_and_step[1])
        if len(low_and_high) == 1:  # "N/step" means "N-max/step"
            end = high
        if step > 1:
            star = False
    else:
        raise ScheduleError(f"too many slashes: {expr}")
    if start < low:
        raise ScheduleError(f"beginning of range ({start}) below minimum ({low}): {expr}")
    if end > high:
        raise ScheduleError(f"end of range ({end}) above maximum ({high}): {expr}")
    if start > end:
        raise ScheduleError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise ScheduleError(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step)), star


def _field(text: str, low: int, high: int, names: dict[str, int] | None) -> str:
    values: set[int] = set()
    star = False
    parts = [p for p in text.split(",") if p]
    if not parts:
        raise ScheduleError(f"a field selects no value: {text}")
    for part in parts:
        got, is_star = _range(part, low, high, names)
        values |= got
        star = star or is_star
    if star and values == set(range(low, high + 1)):
        return "*"
    return ",".join(str(v) for v in sorted(values))


def parse(spec: str) -> Schedule:
    """A schedule as robfig/cron.ParseStandard reads it; ScheduleError with its message."""
    if not spec:
        raise ScheduleError("empty spec string")
    zone: dt.tzinfo | None = None
    if spec.startswith(("TZ=", "CRON_TZ=")):
        space, eq = spec.find(" "), spec.find("=")
        name = spec[eq + 1:space] if space >= 0 else spec[eq + 1:]
        try:
            zone = load_zone(name)
        except ScheduleError as exc:
            raise ScheduleError(f"provided bad location {name}: {exc}") from None
        spec = spec[space:].strip() if space >= 0 else ""
    if spec.startswith("@"):
        macro = MACROS.get(spec)
        if macro is None:
            raise ScheduleError(f"unrecognized descriptor: {spec}")
        spec = macro
    fields = spec.split()
    if len(fields) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    expression = " ".join(_field(text, *bounds) for text, bounds in zip(fields, _BOUNDS))
    return Schedule(expression, zone)


# -- the CronJob controller's arithmetic -------------------------------------------------------------

@dataclass(frozen=True)
class Missed:
    """What a CronJob missed since its last run (or its creation)."""

    earliest: dt.datetime
    """Where counting started: the last schedule time, the creation, or now - startingDeadline."""
    latest: dt.datetime | None
    """The most recent missed fire time (the one to run now), None if nothing was missed."""
    count: int
    """How many fire times were missed (estimated from the interval, as Kubernetes does)."""


def most_recent(schedule: Schedule, *, created: dt.datetime, last_scheduled: dt.datetime | None,
                now: dt.datetime, starting_deadline: int | None = None,
                zone: dt.tzinfo | None = None) -> Missed:
    """kube's mostRecentScheduleTime: from the last run (else the creation), and no earlier
    than `now - startingDeadlineSeconds`, the latest fire time at or before `now`."""
    earliest = last_scheduled or created
    if starting_deadline is not None:
        earliest = max(earliest, now - dt.timedelta(seconds=starting_deadline))
    t1 = schedule.next_after(earliest, zone)
    if now < t1:
        return Missed(earliest, None, 0)
    t2 = schedule.next_after(t1, zone)
    if now < t2:
        return Missed(earliest, t1, 1)
    interval = max(1, round((t2 - t1).total_seconds()))
    count = int((now - t1).total_seconds()) // interval + 1
    return Missed(earliest, schedule.latest_until(now, zone), count)


def next_run(schedule: Schedule, missed: Missed, now: dt.datetime, zone: dt.tzinfo | None = None) -> dt.datetime:
    """When to look again: the first fire time after the most recent one (or after `earliest`)."""
    return schedule.next_after(missed.latest or missed.earliest, zone)


def job_name(cronjob_name: str, scheduled: dt.datetime) -> str:
    """`<cronjob>-<scheduled time in minutes since the epoch>`: the same name for the same slot,
    so a controller that restarts (or two that race) can never run one slot twice."""
    return f"{cronjob_name}-{int(scheduled.timestamp()) // 60}"
