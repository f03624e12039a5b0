"""The Job a CronJob makes from its `jobTemplate`: for the CronJob controller and for
`create job --from=cronjob/NAME` (pyctl's and kubectl's), which differ only in what they add.
"""

from __future__ import annotations

import copy
import datetime as dt

from .types import Obj

SCHEDULED_AT = "batch.kubernetes.io/cronjob-scheduled-timestamp"
INSTANTIATE = "cronjob.kubernetes.io/instantiate"


def job_from_cronjob(cronjob: Obj, name: str, *, block_owner_deletion: bool = True) -> Obj:
    """A Job named `name` with the template's labels, annotations and spec, controlled by the
    CronJob. kubectl's manual Job leaves blockOwnerDeletion out (so creating one needs no
    permission on cronjobs/finalizers); the controller's sets it."""
    md = cronjob.get("metadata") or {}
    template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
    tmeta = template.get("metadata") or {}
    ref: Obj = {"apiVersion": "batch/v1", "kind": "CronJob", "name": md.get("name", ""), "uid": md.get("uid", ""),
                "controller": True}
    if block_owner_deletion:
        ref["blockOwnerDeletion"] = True
    meta: Obj = {"name": name, "ownerReferences": [ref]}
    if md.get("namespace"):
        meta["namespace"] = md["namespace"]
    if tmeta.get("labels"):
        meta["labels"] = dict(tmeta["labels"])
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
            "spec": copy.deepcopy(template.get("spec") or {})}


def scheduled_job(cronjob: Obj, name: str, scheduled: dt.datetime, zone: dt.tzinfo) -> Obj:
    """The controller's Job for one scheduled time (annotated with it, in the CronJob's zone)."""
    job = job_from_cronjob(cronjob, name)
    stamp = scheduled.astimezone(zone).isoformat(timespec="seconds").replace("+00:00", "Z")
    job["metadata"].setdefault("annotations", {})[SCHEDULED_AT] = stamp
    return job


def manual_job(cronjob: Obj, name: str) -> Obj:
    """kubectl's `create job NAME --from=cronjob/CRONJOB`."""
    job = job_from_cronjob(cronjob, name, block_owner_deletion=False)
    job["metadata"]["annotations"] = {INSTANTIATE: "manual", **job["metadata"].get("annotations", {})}
    return job
