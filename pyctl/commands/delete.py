"""`pyctl delete`: by name, TYPE/NAME, -f, -l or --all; then wait until the objects are gone."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ..errors import ApiError, CommandError, PyctlError, UsageError
from ..session import Session
from . import Command, duration, register
from ._targets import (Target, add_filename_flags, add_selector_flags, from_arguments,
                       from_manifests, list_objects, list_query)

EXAMPLES = """\
# Delete the objects defined in deployment.yaml
pyctl delete -f manifests/deployment.yaml

# Delete a deployment and a service with the same name
pyctl delete deployment,service myapp

# Delete pods by label
pyctl delete pods -l app=myapp

# Delete a pod at once, without waiting for its containers to stop
pyctl delete pod myapp-5d7c9-x2x7q --grace-period=0 --force

# Delete all pods of the namespace
pyctl delete pods --all
"""

POLICIES = {"background": "Background", "foreground": "Foreground", "orphan": "Orphan",
            "true": "Background", "false": "Orphan"}


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("words", nargs="*", metavar="TYPE[,TYPE] NAME... | TYPE/NAME")
    add_filename_flags(p, "containing the resources to delete")
    add_selector_flags(p)
    p.add_argument("--all", action="store_true", help="delete every object of the given types")
    p.add_argument("-A", "--all-namespaces", action="store_true",
                   help="with --all or -l, act in every namespace")
    p.add_argument("--grace-period", type=int, default=-1, metavar="SECONDS",
                   help="seconds a pod gets to stop (-1: its own default; 0 needs --force)")
    p.add_argument("--now", action="store_true", help="same as --grace-period=1")
    p.add_argument("--force", action="store_true",
                   help="remove at once from the API, without waiting for the containers to stop")
    p.add_argument("--cascade", default="background", choices=sorted(POLICIES),
                   help="what happens to dependents: background (default), foreground, orphan")
    p.add_argument("--wait", default="true", choices=("true", "false"),
                   help="wait until the objects are gone (default true)")
    p.add_argument("--timeout", type=duration, default=0, metavar="DURATION",
                   help="how long to wait for the deletion, e.g. 60s (0: a week)")
    p.add_argument("--ignore-not-found", action="store_true",
                   help="objects that do not exist are not an error")
    p.add_argument("-o", "--output", choices=("name",), help="name: print only kind/name")
    p.add_argument("--dry-run", nargs="?", const="client", default="none",
                   choices=("none", "client", "server"), help="show what would be deleted")


def _grace(a: argparse.Namespace) -> int:
    grace = int(a.grace_period)
    if a.now:
        if grace != -1:
            raise CommandError("--now and --grace-period cannot be specified together")
        grace = 1
    if grace == 0 and not a.force:
        grace = 1  # kubectl's guard: an immediate deletion must be asked for with --force
    if a.force and grace < 0:
        grace = 0
    if a.force and grace > 0:
        raise CommandError("--force and --grace-period greater than 0 cannot be specified together")
    return grace


def _targets(s: Session, a: argparse.Namespace) -> list[Target]:
    if a.all and a.selector:
        raise CommandError("cannot set --all and --selector at the same time")
    if a.filename:
        if a.words:
            raise UsageError("a resource type or name cannot be given together with -f", "delete")
        return from_manifests(s, a, "delete")
    if not a.words:
        raise UsageError("You must provide one or more resources by argument or filename.\n"
                         "Example resource specifications include:\n   '-f rsrc.yaml'\n"
                         "   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'",
                         "delete")
    selected = a.all or a.selector or a.field_selector
    targets = from_arguments(s, a.words, "delete", a.all_namespaces and bool(selected))
    listed = [t for t in targets if t.name is None]
    if listed and not selected:
        raise CommandError("resource(s) were provided, but no name was specified")
    out = [t for t in targets if t.name is not None]
    for target in listed:
        objects, _ = list_objects(s, target, list_query(a))
        for obj in objects:
            meta = obj.get("metadata") or {}
            out.append(Target(target.resource, meta.get("namespace") or None, meta.get("name", "")))
    return out


def _say(s: Session, a: argparse.Namespace, target: Target, grace: int) -> None:
    if a.output == "name":
        s.print(target.ref)
        return
    verb = "force deleted" if grace == 0 else "deleted"
    where = f" from {target.namespace} namespace" if target.namespace else ""
    dry = {"server": " (server dry run)", "client": " (dry run)"}.get(a.dry_run, "")
    s.print(f'{target.resource.kind_ref} "{target.name}" {verb}{where}{dry}')


def _wait(s: Session, gone: list[tuple[Target, str]], timeout: float) -> list[PyctlError]:
    """Block until each object is gone (404, or a new object with another uid)."""
    deadline = time.monotonic() + (timeout or 7 * 24 * 3600)
    errors: list[PyctlError] = []
    for target, uid in gone:
        assert target.name is not None
        path = target.resource.path(target.namespace, target.name)
        while True:
            try:
                current = s.client.get(path)
            except ApiError as exc:
                if exc.code == 404:
                    break
                raise
            meta = current.get("metadata") or {}
            if uid and meta.get("uid") != uid:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                errors.append(CommandError(f"timed out waiting for the condition on "
                                           f"{target.resource.name}/{target.name}"))
                break
            _watch_until_deleted(s, target, meta.get("resourceVersion", ""), left)
    return errors


def _watch_until_deleted(s: Session, target: Target, rv: str, left: float) -> None:
    """Return on the DELETED event, or when the watch ends (the caller re-checks)."""
    query: dict[str, Any] = {"watch": "true", "resourceVersion": rv, "allowWatchBookmarks": "true",
                             "fieldSelector": f"metadata.name={target.name}",
                             "timeoutSeconds": max(1, min(int(left), 300))}
    try:
        for event in s.client.stream(target.resource.path(target.namespace), query):
            if event.get("type") in ("DELETED", "ERROR"):
                return
    except ApiError as exc:
        if exc.code != 410:
            raise
        time.sleep(0.2)  # the RV was compacted away: re-read and watch again


def run(s: Session, a: argparse.Namespace) -> int:
    grace = _grace(a)
    if grace == 0 and a.force:
        s.warn("Immediate deletion does not wait for confirmation that the running resource has "
               "been terminated. The resource may continue to run on the cluster indefinitely.")
    targets = _targets(s, a)
    ignore_missing = a.ignore_not_found or bool(a.all or a.selector or a.field_selector)
    options: dict[str, Any] = {"propagationPolicy": POLICIES[a.cascade]}
    if grace >= 0:
        options["gracePeriodSeconds"] = grace
    errors: list[PyctlError] = []
    deleted: list[tuple[Target, str]] = []
    for target in targets:
        assert target.name is not None
        if a.dry_run == "client":
            _say(s, a, target, grace)
            continue
        query = {"dryRun": "All"} if a.dry_run == "server" else None
        try:
            resp = s.client.request("DELETE", target.resource.path(target.namespace, target.name),
                                    body=options, query=query).json() or {}
        except ApiError as exc:
            if exc.code == 404 and ignore_missing:
                continue
            errors.append(exc.with_source("deleting", target.source))
            continue
        _say(s, a, target, grace)
        uid = (resp.get("metadata") or {}).get("uid") or (resp.get("details") or {}).get("uid", "")
        deleted.append((target, uid))
    if not targets:
        s.print("No resources found")
    if a.wait == "true" and a.dry_run == "none" and deleted:
        errors.extend(_wait(s, deleted, a.timeout))
    for problem in errors:
        s.error(problem.render())
    return 1 if errors else 0


register(Command("delete", "Delete resources by file names, stdin, resources and names, or by "
                           "resources and label selector", configure, run, EXAMPLES,
                 description="Delete resources by file names, stdin, resources and names, or by "
                             "resources and label selector.\n\nBy default the command waits until "
                             "the objects are really gone (pods stop first); --wait=false returns "
                             "at once.",
                 usage="pyctl delete ([-f FILENAME] | TYPE [(NAME | -l label | --all)]) [flags]"))
