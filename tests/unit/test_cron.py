"""CronJob schedules: robfig/cron's syntax and messages, fire times, and the catch-up after a gap."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from controlplane.machinery import cron

UTC = dt.timezone.utc


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize("schedule, expression", [
    ("*/15 * * * *", "0,15,30,45 * * * *"),
    ("5/20 * * * *", "5,25,45 * * * *"),            # robfig: N/step is N-max/step
    ("0 9-17/4 * jan-MAR mon-fri", "0 9,13,17 * 1,2,3 1,2,3,4,5"),
    ("0 0 ? * *", "0 0 * * *"),
    ("*/1 * * * *", "* * * * *"),
    ("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"), ("@monthly", "0 0 1 * *"), ("@yearly", "0 0 1 1 *"), ("@annually", "0 0 1 1 *"),
])
def test_schedules_expand_to_what_robfig_selects(schedule: str, expression: str) -> None:
    assert cron.parse(schedule).expression == expression


@pytest.mark.parametrize("schedule, message", [
    ("", "empty spec string"),
    ("foo", "expected exactly 5 fields, found 1: [foo]"),
    ("* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"),
    ("60 * * * *", "end of range (60) above maximum (59): 60"),
    ("0 0 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("0 0 * * 7", "end of range (7) above maximum (6): 7"),
    ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
    ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
    ("*/2/3 * * * *", "too many slashes: */2/3"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
    ("0 0 * foo *", 'failed to parse int from foo: strconv.Atoi: parsing "foo": invalid syntax'),
    ("@every 5m", "unrecognized descriptor: @every 5m"),
    ("@often", "unrecognized descriptor: @often"),
    ("TZ=Mars/Olympus 0 0 * * *", "provided bad location Mars/Olympus: unknown time zone Mars/Olympus"),
])
def test_bad_schedules_fail_with_robfigs_message(schedule: str, message: str) -> None:
    with pytest.raises(cron.ScheduleError) as err:
        cron.parse(schedule)
    assert str(err.value) == message


def test_day_of_month_and_weekday_are_or_ed_only_when_both_are_restricted() -> None:
    both = cron.parse("0 0 13 * 5")  # the 13th, or any Friday
    fires = [at("2026-11-01T00:00:00")]
    for _ in range(3):
        fires.append(both.next_after(fires[-1]))
    assert [f.day for f in fires[1:]] == [6, 13, 20]  # Fri 6th, the 13th (a Friday too), Fri 20th
    star = cron.parse("0 0 * * 5")  # Fridays only: a `*` day of month does not widen it
    assert star.next_after(at("2026-11-07T00:00:00")).day == 13


def test_fire_times_follow_the_time_zone_across_dst() -> None:
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    nine = cron.parse("0 9 * * *")
    # 09:00 in Berlin is 08:00 UTC in winter, 07:00 UTC in summer (DST began 2026-03-29).
    assert nine.next_after(at("2026-03-28T10:00:00"), berlin) == at("2026-03-29T07:00:00")
    assert nine.next_after(at("2026-03-27T10:00:00"), berlin) == at("2026-03-28T08:00:00")
    with_prefix = cron.parse("TZ=Europe/Berlin 0 9 * * *")
    assert with_prefix.next_after(at("2026-03-28T10:00:00")) == at("2026-03-29T07:00:00")
    assert nine.latest_until(at("2026-03-29T07:00:00"), berlin) == at("2026-03-29T07:00:00")  # at, not before


def test_impossible_dates_are_reported_not_looped_on() -> None:
    with pytest.raises(cron.ScheduleError, match="less than 1 second"):
        cron.parse("0 0 31 2 *").next_after(at("2026-01-01T00:00:00"))


# -- the catch-up --------------------------------------------------------------------------------------

EVERY_MINUTE = cron.parse("* * * * *")
CREATED = at("2026-11-27T10:00:30")


def test_nothing_due_before_the_first_fire_time() -> None:
    missed = cron.most_recent(EVERY_MINUTE, created=CREATED, last_scheduled=None, now=at("2026-11-27T10:00:59"))
    assert (missed.latest, missed.count) == (None, 0)
    assert cron.next_run(EVERY_MINUTE, missed, at("2026-11-27T10:00:59")) == at("2026-11-27T10:01:00")


def test_one_due_time() -> None:
    missed = cron.most_recent(EVERY_MINUTE, created=CREATED, last_scheduled=None, now=at("2026-11-27T10:01:05"))
    assert (missed.latest, missed.count) == (at("2026-11-27T10:01:00"), 1)


def test_after_an_outage_only_the_latest_missed_time_is_run() -> None:
    missed = cron.most_recent(EVERY_MINUTE, created=CREATED, last_scheduled=at("2026-11-27T10:01:00"),
                              now=at("2026-11-27T10:07:20"))
    assert (missed.latest, missed.count) == (at("2026-11-27T10:07:00"), 6)
    # The next look is at the first fire time after the one run now.
    assert cron.next_run(EVERY_MINUTE, missed, at("2026-11-27T10:07:20")) == at("2026-11-27T10:08:00")


def test_irregular_schedules_catch_up_on_a_real_fire_time() -> None:
    weekdays = cron.parse("0 9 * * 1-5")
    missed = cron.most_recent(weekdays, created=at("2026-11-20T12:00:00"), last_scheduled=at("2026-11-20T09:00:00"),
                              now=at("2026-11-30T08:00:00"))  # Friday 20th to Monday 30th, before 09:00
    assert missed.latest == at("2026-11-27T09:00:00")  # the Friday, not an interval estimate
    assert missed.count >= 5


def test_more_than_a_hundred_missed_are_counted_for_the_warning() -> None:
    missed = cron.most_recent(EVERY_MINUTE, created=CREATED, last_scheduled=None, now=at("2026-11-27T13:00:00"))
    assert missed.count == 180 > cron.TOO_MANY_MISSED and missed.latest == at("2026-11-27T13:00:00")


def test_starting_deadline_bounds_how_far_back_the_controller_looks() -> None:
    missed = cron.most_recent(EVERY_MINUTE, created=CREATED, last_scheduled=None,
                              now=at("2026-11-27T12:00:30"), starting_deadline=10)
    assert missed.latest is None and missed.earliest == at("2026-11-27T12:00:20")
    in_time = cron.most_recent(EVERY_MINUTE, created=CREATED, last_scheduled=None,
                               now=at("2026-11-27T12:00:05"), starting_deadline=10)
    assert in_time.latest == at("2026-11-27T12:00:00") and in_time.count == 1


def test_job_names_carry_the_scheduled_minute() -> None:
    assert cron.job_name("hello", at("2026-11-27T10:07:00")) == \
        f"hello-{int(at('2026-11-27T10:07:00').timestamp()) // 60}"
    assert cron.job_name("hello", at("2026-11-27T10:07:00")) == cron.job_name("hello", at("2026-11-27T10:07:59"))
