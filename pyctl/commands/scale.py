"""`pyctl scale`: set spec.replicas through the `/scale` subresource, as kubectl does."""

from __future__ import annotations

import argparse

from ..errors import ApiError, CommandError, PyctlError, UsageError
from ..session import Session
from . import Command, register
from ._targets import (Target, add_filename_flags, add_selector_flags, from_arguments,
                       from_manifests, list_objects, list_query)

MERGE = "application/merge-patch+json"

EXAMPLES = """\
# Scale the deployment named myapp to 5 replicas
pyctl scale deployment myapp --replicas=5

# Scale it only if it has 3 replicas now
pyctl scale --current-replicas=3 --replicas=5 deployment/myapp

# Scale the objects of a manifest
pyctl scale --replicas=2 -f manifests/deployment.yaml

# Scale every deployment labelled app=myapp
pyctl scale deploy -l app=myapp --replicas=0
"""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("words", nargs="*", metavar="TYPE NAME | TYPE/NAME")
    p.add_argument("--replicas", type=int, default=None, metavar="COUNT",
                   help="the new number of replicas (required)")
    p.add_argument("--current-replicas", type=int, default=-1, metavar="COUNT",
                   help="precondition: scale only if the current number of replicas is this")
    p.add_argument("--resource-version", default="", metavar="VERSION",
                   help="precondition: scale only if the object's resourceVersion is this")
    p.add_argument("--all", action="store_true", help="scale every object of the given types")
    add_selector_flags(p)
    add_filename_flags(p, "identifying the resources to scale")
    p.add_argument("--dry-run", nargs="?", const="client", default="none",
                   choices=("none", "client", "server"), help="show the change without making it")


def _targets(s: Session, a: argparse.Namespace) -> list[Target]:
    if a.filename:
        return from_manifests(s, a, "scale")
    targets = from_arguments(s, a.words, "scale")
    if not targets:
        raise UsageError("You must provide one or more resources by argument or filename.", "scale")
    out = [t for t in targets if t.name is not None]
    for target in (t for t in targets if t.name is None):
        if not (a.all or a.selector or a.field_selector):
            raise CommandError("resource(s) were provided, but no name was specified")
        for obj in list_objects(s, target, list_query(a))[0]:
            out.append(Target(target.resource, target.namespace, obj["metadata"]["name"]))
    return out


def _scale(s: Session, a: argparse.Namespace, target: Target) -> None:
    resource = target.resource
    if resource.subresources and "scale" not in resource.subresources:
        raise CommandError(f'{resource.group_resource} "{target.name}" cannot be scaled: '
                           f"{resource.kind} has no scale subresource")
    # As kubectl: look the object up first, so a missing one is a plain NotFound.
    s.client.get(resource.path(target.namespace, target.name))
    path = resource.path(target.namespace, target.name, "scale")
    query = {"dryRun": "All"} if a.dry_run == "server" else None
    if a.dry_run == "client":
        return
    if a.current_replicas >= 0 or a.resource_version:
        scale = s.client.get(path)
        current = (scale.get("spec") or {}).get("replicas", 0)
        if a.current_replicas >= 0 and current != a.current_replicas:
            raise CommandError(f"Expected replicas to be {a.current_replicas}, was {current}")
        meta = scale.setdefault("metadata", {})
        if a.resource_version:
            meta["resourceVersion"] = a.resource_version
        scale.setdefault("spec", {})["replicas"] = a.replicas
        s.client.request("PUT", path, body=scale, query=query)
    else:
        s.client.request("PATCH", path, body={"spec": {"replicas": a.replicas}}, content_type=MERGE,
                         query=query)


def run(s: Session, a: argparse.Namespace) -> int:
    if a.replicas is None:
        raise UsageError('required flag(s) "replicas" not set', "scale")
    if a.replicas < 0:
        raise CommandError("The --replicas=COUNT flag is required, and COUNT must be greater than "
                           "or equal to 0")
    errors: list[PyctlError] = []
    for target in _targets(s, a):
        try:
            _scale(s, a, target)
        except ApiError as exc:
            errors.append(exc.with_source("scaling", target.source))
            continue
        except CommandError as exc:
            errors.append(exc)
            continue
        dry = {"server": " (server dry run)", "client": " (dry run)"}.get(a.dry_run, "")
        s.print(f"{target.ref} scaled{dry}")
    for problem in errors:
        s.error(problem.render())
    return 1 if errors else 0


register(Command("scale", "Set a new size for a deployment or replica set", configure, run, EXAMPLES,
                 group="Deploy Commands",
                 description="Set a new size for a deployment or replica set.\n\nWith "
                             "--current-replicas or --resource-version, the size changes only if "
                             "the object is still as expected.",
                 usage="pyctl scale [--current-replicas=COUNT] --replicas=COUNT "
                       "(-f FILENAME | TYPE NAME | TYPE/NAME)"))
