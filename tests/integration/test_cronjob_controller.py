"""The CronJob controller against the real API server, with a fake clock (time is the only
thing faked): the test moves the clock and asks the controller to look again, as its own
timer would at that moment."""

from __future__ import annotations

import datetime as dt

import pytest

from controlplane.client import ApiClient
from controlplane.controllers.cronjob import CronJobController
from controlplane.controllers.job import JobConfig, JobController

from ..cluster import wait_until
from .test_replicaset_controller import nodes  # noqa: F401 - fixtures

CRONJOBS = "/apis/batch/v1/namespaces/default/cronjobs"
JOBS = "/apis/batch/v1/namespaces/default/jobs"
MERGE = {"Content-Type": "application/merge-patch+json"}


class FakeClock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now

    def to_minute(self, minutes: int, second: int = 1) -> None:
        """Forward to `second` past the minute `minutes` from the current one."""
        self.now = self.now.replace(second=second, microsecond=0) + dt.timedelta(minutes=minutes)


@pytest.fixture
async def clock():
    return FakeClock()


@pytest.fixture
async def cron_controller(api, clock):
    client = ApiClient(api.url, user_agent="cronjob-controller")
    controller = CronJobController(client, clock=clock, zone=dt.timezone.utc)
    await controller.start()
    yield controller
    await controller.stop()
    await client.close()


def cronjob(name: str, schedule: str = "* * * * *", **spec) -> dict:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": schedule, **spec, "jobTemplate": {"spec": {"template": {
                "metadata": {"annotations": {"pyctl.io/hollow-run-seconds": "0.2"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}}


async def jobs_of(client, name: str) -> list[dict]:
    items = (await client.request("GET", JOBS))[1]["items"]
    return sorted((j for j in items if any(r["name"] == name for r in j["metadata"].get("ownerReferences") or [])),
                  key=lambda j: j["metadata"]["name"])


async def cj_status(client, name: str) -> dict:
    return (await client.request("GET", f"{CRONJOBS}/{name}"))[1].get("status") or {}


async def events(client, name: str) -> list[tuple[str, str]]:
    items = (await client.request("GET", "/api/v1/namespaces/default/events",
                                  params={"fieldSelector": f"involvedObject.name={name}"}))[1]["items"]
    return [(e["reason"], e["message"]) for e in items]


async def tick(controller, name: str) -> None:
    controller.queue.add(f"default/{name}")


def minutes(at: dt.datetime) -> int:
    return int(at.replace(second=0, microsecond=0).timestamp()) // 60


async def test_runs_once_per_scheduled_minute_named_by_it(client, cron_controller, clock):
    assert (await client.request("POST", CRONJOBS, cronjob("tick")))[0] == 201
    await tick(cron_controller, "tick")
    clock.to_minute(1)
    await tick(cron_controller, "tick")
    first = await wait_until(lambda: jobs_of(client, "tick"), timeout=10)
    slot = clock.now.replace(second=0)
    assert [j["metadata"]["name"] for j in first] == [f"tick-{minutes(slot)}"]
    job = first[0]
    assert job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == \
        slot.strftime("%Y-%m-%dT%H:%M:%SZ")
    ref, = job["metadata"]["ownerReferences"]
    assert ref["kind"] == "CronJob" and ref["controller"] and ref["blockOwnerDeletion"]
    st = await wait_until(lambda: _active(client, "tick", 1), timeout=10)
    assert st["lastScheduleTime"] == slot.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert st["active"][0]["name"] == job["metadata"]["name"] and st["active"][0]["kind"] == "Job"
    # Looking again within the same minute (a restart, a resync) creates nothing new.
    await tick(cron_controller, "tick")
    await tick(cron_controller, "tick")
    clock.now += dt.timedelta(seconds=30)
    await tick(cron_controller, "tick")
    await wait_until(lambda: _events_include(client, "tick", "SuccessfulCreate"), timeout=10)
    assert len(await jobs_of(client, "tick")) == 1


async def test_after_an_outage_only_the_latest_missed_time_runs(client, cron_controller, clock):
    await client.request("POST", CRONJOBS, cronjob("gap"))
    clock.to_minute(1)
    await tick(cron_controller, "gap")
    await wait_until(lambda: _active(client, "gap", 1), timeout=10)
    clock.to_minute(7, second=20)  # the controller "was down" for six scheduled times
    await tick(cron_controller, "gap")
    await wait_until(lambda: _active(client, "gap", 2), timeout=10)
    names = [j["metadata"]["name"] for j in await jobs_of(client, "gap")]
    assert names[-1] == f"gap-{minutes(clock.now)}" and len(names) == 2
    # Far more than 100 missed: reported, and still one catch-up run.
    clock.to_minute(150)
    await tick(cron_controller, "gap")
    await wait_until(lambda: _active(client, "gap", 3), timeout=10)
    found = await wait_until(lambda: _events_include(client, "gap", "TooManyMissedTimes"), timeout=10)
    assert found.startswith("too many missed start times: 1")
    assert found.endswith(". Set or decrease .spec.startingDeadlineSeconds or check clock skew")
    assert len(await jobs_of(client, "gap")) == 3


async def test_starting_deadline_skips_a_time_missed_too_long_ago(client, cron_controller, clock):
    await client.request("POST", CRONJOBS, cronjob("late", startingDeadlineSeconds=10))
    await wait_until(lambda: cron_controller.cronjobs.get("default/late"), timeout=10)
    clock.to_minute(1, second=30)  # 30 s after the scheduled time, deadline 10 s
    await cron_controller.sync("default/late")
    assert await jobs_of(client, "late") == []
    clock.to_minute(1, second=5)  # 5 s after the next one: in time
    await cron_controller.sync("default/late")
    assert [j["metadata"]["name"] for j in await jobs_of(client, "late")] == [f"late-{minutes(clock.now)}"]


async def test_concurrency_policies(client, cron_controller, clock):
    for name, policy in (("allow", "Allow"), ("forbid", "Forbid"), ("replace", "Replace")):
        await client.request("POST", CRONJOBS, cronjob(name, concurrencyPolicy=policy))
    clock.to_minute(1)
    for name in ("allow", "forbid", "replace"):
        await tick(cron_controller, name)
        await wait_until(lambda name=name: _active(client, name, 1), timeout=10)
    first_replace = (await jobs_of(client, "replace"))[0]["metadata"]["name"]
    clock.to_minute(1)  # no Job finishes here: no Job controller runs
    for name in ("allow", "forbid", "replace"):
        await tick(cron_controller, name)
    await wait_until(lambda: _active(client, "allow", 2), timeout=10)
    await wait_until(lambda: _events_include(client, "forbid", "JobAlreadyActive"), timeout=10)
    assert len(await jobs_of(client, "forbid")) == 1
    st = await wait_until(lambda: _replaced(client, first_replace), timeout=10)
    assert len(st["active"]) == 1 and st["active"][0]["name"] != first_replace


async def test_suspended_cronjob_starts_nothing(client, cron_controller, clock):
    await client.request("POST", CRONJOBS, cronjob("paused", suspend=True))
    clock.to_minute(3)
    await tick(cron_controller, "paused")
    await tick(cron_controller, "paused")
    await client.request("PATCH", f"{CRONJOBS}/paused", {"spec": {"suspend": False}}, headers=MERGE)
    await wait_until(lambda: _active(client, "paused", 1), timeout=10)  # the latest missed time, once
    assert len(await jobs_of(client, "paused")) == 1


async def test_history_limits_keep_the_newest_finished_jobs(client, api, nodes, cron_controller, clock):
    jobs = JobController(ApiClient(api.url, user_agent="job-controller"), JobConfig(backoff_base=0.2))
    await jobs.start()
    try:
        await client.request("POST", CRONJOBS, cronjob("hist", successfulJobsHistoryLimit=2))
        made = []
        for _ in range(4):
            clock.to_minute(1)
            await tick(cron_controller, "hist")
            made.append(f"hist-{minutes(clock.now)}")
            await wait_until(lambda: _finished(client, made[-1]), timeout=30)
        await tick(cron_controller, "hist")
        await wait_until(lambda: _names(client, "hist", made[-2:]), timeout=20)
        st = await wait_until(lambda: _no_active(client, "hist"), timeout=10)
        last = (await client.request("GET", f"{JOBS}/{made[-1]}"))[1]
        assert st["lastSuccessfulTime"] == last["status"]["completionTime"]
    finally:
        await jobs.stop()
        await jobs.client.close()


async def _active(client, name: str, n: int) -> dict | None:
    st = await cj_status(client, name)
    return st if len(st.get("active") or []) == n else None


async def _no_active(client, name: str) -> dict | None:
    st = await cj_status(client, name)
    return st if not st.get("active") and st.get("lastSuccessfulTime") else None


async def _events_include(client, name: str, reason: str) -> str | None:
    return next((m for r, m in await events(client, name) if r == reason), None)


async def _replaced(client, old: str) -> dict | None:
    if (await client.request("GET", f"{JOBS}/{old}"))[0] != 404:
        return None
    return await _active(client, "replace", 1)


async def _finished(client, job: str) -> bool:
    status, body = await client.request("GET", f"{JOBS}/{job}")
    return status == 200 and any(c["type"] == "Complete" and c["status"] == "True"
                                 for c in (body.get("status") or {}).get("conditions") or [])


async def _names(client, name: str, wanted: list[str]) -> bool:
    return [j["metadata"]["name"] for j in await jobs_of(client, name)] == sorted(wanted)
