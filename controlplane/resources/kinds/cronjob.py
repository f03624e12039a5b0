"""CronJobs (batch/v1): defaults, rules, the table kubectl prints.

Kubernetes' SetDefaults_CronJob and `validateCronJobSpec`: the schedule must parse as robfig/cron
parses it (`machinery/cron.py`, with its messages), `timeZone` must name an IANA zone, the job
template is a Job spec without a selector (the Job gets its own), and the name leaves room
for the `-<minutes>` suffix of the Jobs it creates (63 - 11 = 52 characters). Columns are
kubectl's printCronJob.
"""

from __future__ import annotations

import re

from ...machinery import cron
from ...machinery.types import Obj
from ..fields import as_dict, as_str, child, fill
from ..info import STATUS, ResourceInfo
from ..kind import Kind
from ..rules import annotation_errors, go_selector, labels, nonnegative
from ..tables import AGE, NAME, Column, Printer, Row, age, selector
from ..validation import Cause, invalid, not_supported, required
from .job import default_job_spec, job_spec

MAX_NAME = 52  # 63 (a Job name is a label value) minus the 11 of "-<minutes since the epoch>"
_TZ_PART = re.compile(r"[A-Za-z.\-_0-9+]{1,14}")
POLICIES = ["Allow", "Forbid", "Replace"]


def _default(obj: Obj) -> None:
    spec = child(obj, "spec")
    if spec is None:
        return
    fill(spec, "concurrencyPolicy", "Allow")
    fill(spec, "suspend", False)
    fill(spec, "successfulJobsHistoryLimit", 3)
    fill(spec, "failedJobsHistoryLimit", 1)
    template = child(spec, "jobTemplate")
    job = child(template, "spec") if template is not None else None
    if job is not None:
        default_job_spec(job)


def time_zone_errors(zone: object, path: str) -> list[Cause]:
    """validateTimeZone: an IANA name the zone database knows (never `Local`)."""
    if zone is None or not isinstance(zone, str):
        return []
    if not zone:
        return [invalid(path, zone, "unknown time zone")]
    out: list[Cause] = []
    if zone.lower() == "local":
        out.append(invalid(path, zone, "unknown time zone Local"))
    try:
        cron.load_zone(zone)
    except cron.ScheduleError as exc:
        out.append(invalid(path, zone, str(exc)))
    if any(p in (".", "..") or p.startswith("-") or not _TZ_PART.fullmatch(p) for p in zone.split("/")):
        out.append(invalid(path, zone, f"unknown time zone {zone}"))
    return out


def schedule_errors(schedule: object, zone: object, path: str, old_schedule: str = "") -> list[Cause]:
    if not isinstance(schedule, str):
        return []
    if not schedule:
        return [required(path)]
    out: list[Cause] = []
    try:
        cron.parse(schedule)
    except cron.ScheduleError as exc:
        out.append(invalid(path, schedule, str(exc)))
    if "TZ" in schedule:
        if "TZ" not in old_schedule:
            out.append(invalid(path, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
        elif zone is not None:
            out.append(invalid(path, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
    return out


def _spec(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    old_spec = as_dict((old or {}).get("spec"))
    out = schedule_errors(spec.get("schedule"), spec.get("timeZone"), "spec.schedule",
                          as_str(old_spec.get("schedule")))
    out += nonnegative(spec, "startingDeadlineSeconds", "spec")
    if old is None or old_spec.get("timeZone") != spec.get("timeZone"):
        out += time_zone_errors(spec.get("timeZone"), "spec.timeZone")
    policy = spec.get("concurrencyPolicy")
    if policy == "":
        out.append(required("spec.concurrencyPolicy"))
    elif isinstance(policy, str) and policy not in POLICIES:
        out.append(not_supported("spec.concurrencyPolicy", policy, POLICIES))
    out += nonnegative(spec, "successfulJobsHistoryLimit", "spec")
    out += nonnegative(spec, "failedJobsHistoryLimit", "spec")
    template = spec.get("jobTemplate")
    if not isinstance(template, dict):
        return out + [required("spec.jobTemplate")]
    tmeta = as_dict(template.get("metadata"))
    out += labels(tmeta.get("labels"), "spec.jobTemplate.metadata.labels")
    out += annotation_errors(tmeta.get("annotations"), "spec.jobTemplate.metadata.annotations")
    job = as_dict(template.get("spec"))
    out += job_spec(job, "spec.jobTemplate.spec")
    if job.get("selector") is not None:
        out.append(invalid("spec.jobTemplate.spec.selector", go_selector(as_dict(job["selector"])),
                           "`selector` will be auto-generated"))
    if job.get("manualSelector") is True:
        out.append(not_supported("spec.jobTemplate.spec.manualSelector", True, ["nil", "false"]))
    return out


def _rules(obj: Obj, old: Obj | None) -> list[Cause]:
    name = as_str(as_dict(obj.get("metadata")).get("name"))
    out = [invalid("metadata.name", name, f"must be no more than {MAX_NAME} characters")] \
        if old is None and len(name) > MAX_NAME else []
    return out + _spec(obj, old)


class CronJobKind(Kind):
    """The spec's rules need the old object (a legacy `TZ=` schedule stays valid on update,
    a time zone is only looked up when it changes), so they run here rather than as rules."""

    def _rule_causes(self, obj: Obj, old: Obj | None) -> list[Cause]:
        return super()._rule_causes(obj, old) + _rules(obj, old)


# --- the table (printCronJob) ---------------------------------------------------------------

def _bool(value: object) -> str:
    return "<unset>" if value is None else ("True" if value else "False")


def _template_containers(r: Row, part: str) -> str:
    tspec = as_dict(as_dict(as_dict(as_dict(r.spec.get("jobTemplate")).get("spec")).get("template")).get("spec"))
    return ",".join(as_str(c.get(part)) for c in tspec.get("containers") or [] if isinstance(c, dict))


PRINTER = Printer((
    NAME,
    Column("Schedule", lambda r: r.spec.get("schedule") or "",
           description="The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
    Column("Timezone", lambda r: r.spec.get("timeZone") or "<none>",
           description="The time zone name for the given schedule, see https://en.wikipedia.org/wiki/"
                       "List_of_tz_database_time_zones. If not specified, this will default to the time "
                       "zone of the kube-controller-manager process. The set of valid time zone names and "
                       "the time zone offset is loaded from the system-wide time zone database by the API "
                       "server during CronJob validation and the controller manager during execution. If no "
                       "system-wide time zone database can be found a bundled version of the database is used "
                       "instead. If the time zone name becomes invalid during the lifetime of a CronJob or due "
                       "to a change in host configuration, the controller will stop creating new new Jobs and "
                       "will create a system event with the reason UnknownTimeZone. More information can be "
                       "found in https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones"),
    Column("Suspend", lambda r: _bool(r.spec.get("suspend")), type="boolean",
           description="This flag tells the controller to suspend subsequent executions, it does not apply "
                       "to already started executions.  Defaults to false."),
    Column("Active", lambda r: len(r.status.get("active") or []), type="integer",
           description="A list of pointers to currently running jobs."),
    Column("Last Schedule", lambda r: age(r.status["lastScheduleTime"], r.now)
           if r.status.get("lastScheduleTime") else "<none>",
           description="Information when was the last time the job was successfully scheduled."),
    AGE,
    Column("Containers", lambda r: _template_containers(r, "name"), priority=1,
           description="Names of each container in the template."),
    Column("Images", lambda r: _template_containers(r, "image"), priority=1,
           description="Images referenced by each container in the template."),
    Column("Selector", lambda r: selector(as_dict(as_dict(r.spec.get("jobTemplate")).get("spec")).get("selector"),
                                          on_error="<error>", if_empty="<none>"),
           priority=1, description="A label query over pods that should match the pod count. Normally, the "
                                   "system sets this field for you. More info: https://kubernetes.io/docs/"
                                   "concepts/overview/working-with-objects/labels/#label-selectors"),
))


CRON_JOB = CronJobKind(
    ResourceInfo("batch", "v1", "cronjobs", "CronJob", "cronjob", True, ("cj",), ("all",),
                 subresources=(STATUS,), has_status=True),
    printer=PRINTER, default=_default)
