"""Describers for Jobs and CronJobs, laid out as kubectl's describeJob and describeCronJob."""

from __future__ import annotations

from typing import Any

from .. import humanize
from . import Context, Writer, controller_of, describer, events_section, labels_multiline, meta_of
from . import annotations_multiline
from .containers import pod_template

MAX_INDEXES = 50


def _indexes(text: str | None) -> str:
    """capIndexesListOrNone: `<none>`, or the list cut after 50 characters."""
    if not text:
        return "<none>"
    if len(text) <= MAX_INDEXES:
        return text
    return text[:text.rfind(",", 0, MAX_INDEXES + 1)] + ", ..." if "," in text[:MAX_INDEXES + 1] else text


@describer("batch", "Job")
def job(ctx: Context, obj: dict[str, Any]) -> str:
    w = Writer()
    meta, spec, status = meta_of(obj), obj.get("spec") or {}, obj.get("status") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    w.write(0, f"Selector:\t{humanize.format_selector(spec.get('selector'), '')}\n")
    labels_multiline(w, "Labels", meta.get("labels"))
    annotations_multiline(w, "Annotations", meta.get("annotations"))
    if controller_of(obj):
        w.write(0, f"Controlled By:\t{controller_of(obj)}\n")
    if spec.get("parallelism") is not None:
        w.write(0, f"Parallelism:\t{spec['parallelism']}\n")
    w.write(0, f"Completions:\t{spec['completions'] if spec.get('completions') is not None else '<unset>'}\n")
    if spec.get("completionMode"):
        w.write(0, f"Completion Mode:\t{spec['completionMode']}\n")
    if spec.get("suspend") is not None:
        w.write(0, f"Suspend:\t{'true' if spec['suspend'] else 'false'}\n")
    if spec.get("backoffLimit") is not None:
        w.write(0, f"Backoff Limit:\t{spec['backoffLimit']}\n")
    if spec.get("ttlSecondsAfterFinished") is not None:
        w.write(0, f"TTL Seconds After Finished:\t{spec['ttlSecondsAfterFinished']}\n")
    if status.get("startTime"):
        w.write(0, f"Start Time:\t{humanize.rfc1123z(status['startTime'])}\n")
    if status.get("completionTime"):
        w.write(0, f"Completed At:\t{humanize.rfc1123z(status['completionTime'])}\n")
    start, end = humanize.parse_time(status.get("startTime")), humanize.parse_time(status.get("completionTime"))
    if start and end:
        w.write(0, f"Duration:\t{humanize.human_duration((end - start).total_seconds())}\n")
    if spec.get("activeDeadlineSeconds") is not None:
        w.write(0, f"Active Deadline Seconds:\t{spec['activeDeadlineSeconds']}s\n")
    counts = f"{status.get('succeeded', 0)} Succeeded / {status.get('failed', 0)} Failed"
    if status.get("ready") is None:
        w.write(0, f"Pods Statuses:\t{status.get('active', 0)} Active / {counts}\n")
    else:
        w.write(0, f"Pods Statuses:\t{status.get('active', 0)} Active ({status['ready']} Ready) / {counts}\n")
    if spec.get("completionMode") == "Indexed":
        w.write(0, f"Completed Indexes:\t{_indexes(status.get('completedIndexes'))}\n")
    if spec.get("backoffLimitPerIndex") is not None:
        w.write(0, f"Failed Indexes:\t{_indexes(status.get('failedIndexes'))}\n")
    pod_template(w, spec.get("template"))
    events_section(w, ctx.events(obj))
    return w.text()


def _bool(value: Any) -> str:
    return "<unset>" if value is None else ("True" if value else "False")


def _or_unset(value: Any, suffix: str = "") -> str:
    return "<unset>" if value is None else f"{value}{suffix}"


@describer("batch", "CronJob")
def cronjob(ctx: Context, obj: dict[str, Any]) -> str:
    w = Writer()
    meta, spec, status = meta_of(obj), obj.get("spec") or {}, obj.get("status") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    labels_multiline(w, "Labels", meta.get("labels"))
    annotations_multiline(w, "Annotations", meta.get("annotations"))
    w.write(0, f"Schedule:\t{spec.get('schedule', '')}\n")
    if spec.get("timeZone"):
        w.write(0, f"Time Zone:\t{spec['timeZone']}\n")
    w.write(0, f"Concurrency Policy:\t{spec.get('concurrencyPolicy', '')}\n")
    w.write(0, f"Suspend:\t{_bool(spec.get('suspend'))}\n")
    w.write(0, f"Successful Job History Limit:\t{_or_unset(spec.get('successfulJobsHistoryLimit'))}\n")
    w.write(0, f"Failed Job History Limit:\t{_or_unset(spec.get('failedJobsHistoryLimit'))}\n")
    w.write(0, f"Starting Deadline Seconds:\t{_or_unset(spec.get('startingDeadlineSeconds'), 's')}\n")
    template = (spec.get("jobTemplate") or {}).get("spec") or {}
    selector = humanize.format_selector(template.get("selector"), "")
    w.write(0, f"Selector:\t{selector or '<unset>'}\n")
    w.write(0, f"Parallelism:\t{_or_unset(template.get('parallelism'))}\n")
    w.write(0, f"Completions:\t{_or_unset(template.get('completions'))}\n")
    if template.get("activeDeadlineSeconds") is not None:
        w.write(0, f"Active Deadline Seconds:\t{template['activeDeadlineSeconds']}s\n")
    pod_template(w, template.get("template"))
    last = status.get("lastScheduleTime")
    w.write(0, f"Last Schedule Time:\t{humanize.rfc1123z(last) if last else '<unset>'}\n")
    active = [ref.get("name", "") for ref in status.get("active") or []]
    w.write(0, f"Active Jobs:\t{', '.join(active) if active else '<none>'}\n")
    events_section(w, ctx.events(obj))
    return w.text()
