"""`pyctl create job NAME (--from=cronjob/CRONJOB | --image=IMAGE [-- COMMAND...])`, as kubectl's
`create job`: a Job made client-side from a CronJob's template (annotated
cronjob.kubernetes.io/instantiate=manual, controlled by the CronJob) or from one image."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import UsageError
from ..manifests import Document
from ..session import Session
from ._targets import from_arguments, fetch
from ._writes import Item
from controlplane.machinery.jobtemplate import manual_job


def job_items(s: Session, a: argparse.Namespace) -> list[Item]:
    if len(a.words) < 2:
        raise UsageError("NAME is required for create job", "create")
    name, command = a.words[1], a.words[2:]
    if bool(a.from_) == bool(a.image):
        raise UsageError("either --image or --from must be specified", "create")
    resource = s.discovery.for_kind("batch/v1", "Job")
    if resource is None:
        raise UsageError("the server does not serve batch/v1 Jobs", "create")
    if a.from_:
        if command:
            raise UsageError("cannot specify --from and command", "create")
        kind, _, source = a.from_.partition("/")
        if kind.lower() not in ("cronjob", "cronjobs", "cj", "cronjob.batch", "cronjobs.batch") or not source:
            raise UsageError(f"from must be an existing cronjob: {a.from_}", "create")
        target, = from_arguments(s, [f"cronjobs.batch/{source}"], "create")
        obj: dict[str, Any] = manual_job(fetch(s, target), name)
        obj["metadata"]["namespace"] = s.namespace
    else:
        container: dict[str, Any] = {"name": name, "image": a.image}
        if command:
            container["command"] = command
        obj = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": s.namespace},
               "spec": {"template": {"spec": {"containers": [container], "restartPolicy": "Never"}}}}
    return [Item(Document("", 1, 1, obj), resource, s.namespace, obj)]
