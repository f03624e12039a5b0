"""`pyctl create -f` (and `create namespace NAME`, `create job NAME`): make new objects, failing
on existing ones."""

from __future__ import annotations

import argparse
from typing import Any

from .. import printers
from ..errors import ApiError, PyctlError, UsageError
from ..session import Session
from . import Command, register
from ._create_job import job_items
from ._targets import add_filename_flags
from ._writes import Item, add_write_flags, plan, suffix, validate, with_last_applied, write_query

MANAGER = "pyctl-create"

EXAMPLES = """\
# Create the objects of a manifest
pyctl create -f manifests/deployment.yaml

# Create the objects piped in
cat pod.json | pyctl create -f -

# Create a namespace
pyctl create namespace staging

# Run a CronJob's job now, as a Job of its own
pyctl create job nightly-manual --from=cronjob/nightly

# Create a Job that runs one command
pyctl create job hello --image=busybox -- echo hello

# Create, recording the configuration so that a later `pyctl apply` can update it
pyctl create --save-config -f manifests/service.yaml
"""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("words", nargs="*", metavar="namespace NAME | job NAME",
                   help="instead of -f: `namespace NAME` creates a namespace, `job NAME` a Job")
    p.add_argument("--from", dest="from_", default="", metavar="cronjob/NAME",
                   help="create job: the CronJob whose job template the Job is made from")
    p.add_argument("--image", default="", help="create job: the image of the Job's one container")
    add_filename_flags(p, "containing the objects to create")
    p.add_argument("--save-config", action="store_true",
                   help="record the configuration in the last-applied annotation, for apply")
    p.add_argument("-o", "--output", metavar="FORMAT", help="name, yaml or json: print the results")
    add_write_flags(p)


def _namespace_item(s: Session, a: argparse.Namespace) -> list[Item]:
    from ..manifests import Document
    if len(a.words) != 2 or a.words[0] not in ("namespace", "ns"):
        raise UsageError("give -f FILE, or `namespace NAME`", "create")
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": a.words[1]}}
    resource = s.discovery.for_kind("v1", "Namespace")
    assert resource is not None
    return [Item(Document("", 1, 1, obj), resource, None, obj)]


def run(s: Session, a: argparse.Namespace) -> int:
    if a.words and a.filename:
        raise UsageError("a namespace name cannot be given together with -f", "create")
    fmt = printers.OutputFormat.parse(a.output) if a.output else None
    if a.words and a.words[0] == "job":
        items = job_items(s, a)
    else:
        items = _namespace_item(s, a) if a.words else plan(s, a, "create", require_name=False)

    def post(item: Item, dry_run: bool) -> dict[str, Any]:
        body = with_last_applied(item.obj) if a.save_config else item.obj
        created: dict[str, Any] = s.client.request("POST", item.path(with_name=False), body=body,
                                                   query=write_query(a, MANAGER, dry_run)).json()
        return created

    # An object that exists already is reported by the real pass, as kubectl reports it.
    checked = validate(s, items, lambda item: post(item, True),
                       tolerate=lambda exc: exc.reason == "AlreadyExists")
    failures = 0
    for item, dry in zip(items, checked):
        try:
            created = (dry or item.obj) if a.dry_run != "none" else post(item, False)
        except PyctlError as exc:
            failures += 1
            if isinstance(exc, ApiError):
                exc = exc.with_source("creating", item.doc.source)
            s.error(exc.render())
            continue
        name = (created.get("metadata") or {}).get("name") or item.name
        if fmt is None:
            s.print(f"{item.resource.ref(name)} created{suffix(a)}")
        else:
            s.write(printers.render_objects(fmt, created))
    return 1 if failures else 0


register(Command("create", "Create a resource from a file or from stdin", configure, run, EXAMPLES,
                 description="Create a resource from a file or from stdin.\n\nEvery object is "
                             "checked by the server first; nothing is created if one is invalid.",
                 usage="pyctl create -f FILENAME | pyctl create namespace NAME | "
                       "pyctl create job NAME (--from=cronjob/NAME | --image=IMAGE [-- COMMAND])"))
