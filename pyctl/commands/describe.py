"""`pyctl describe`: a readable report of objects and their recent events."""

from __future__ import annotations

import argparse
from typing import Any

from ..describe import Context, describe
from ..errors import ApiError, PyctlError, UsageError
from ..session import Session
from . import Command, register
from ._targets import (Target, add_filename_flags, add_selector_flags, fetch, from_arguments,
                       from_manifests, list_objects, list_query)

EXAMPLES = """\
# Describe a deployment
pyctl describe deployment myapp

# Describe every pod whose name starts with myapp-
pyctl describe pods myapp-

# Describe the pods labelled app=myapp
pyctl describe po -l app=myapp

# Describe a node
pyctl describe node node-1

# Describe the objects of a manifest
pyctl describe -f manifests/deployment.yaml
"""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("words", nargs="*", metavar="TYPE [NAME_PREFIX] | TYPE/NAME")
    add_selector_flags(p)
    p.add_argument("-A", "--all-namespaces", action="store_true",
                   help="describe matching objects in every namespace")
    p.add_argument("--show-events", default="true", choices=("true", "false"),
                   help="show the events about each object (default true)")
    add_filename_flags(p, "identifying the resources to describe")


def _objects(s: Session, a: argparse.Namespace, target: Target) -> list[dict[str, Any]]:
    """The objects a target names: exact name, else every object whose name starts with it."""
    if target.name is None:
        return list_objects(s, target, list_query(a))[0]
    try:
        return [fetch(s, target)]
    except ApiError as exc:
        if exc.code != 404 or target.source:
            raise
        listed = Target(target.resource, target.namespace)
        found = [o for o in list_objects(s, listed, list_query(a))[0]
                 if str((o.get("metadata") or {}).get("name", "")).startswith(target.name)]
        if not found:
            raise
        return found


def run(s: Session, a: argparse.Namespace) -> int:
    if a.filename and a.words:
        raise UsageError("a resource type or name cannot be given together with -f", "describe")
    if not a.words and not a.filename:
        raise UsageError("You must specify the type of resource to describe. Use \"pyctl "
                         "api-resources\" for a complete list of supported resources.", "describe")
    targets = (from_manifests(s, a, "describe") if a.filename
               else from_arguments(s, a.words, "describe", a.all_namespaces))
    ctx = Context(s, show_events=a.show_events == "true")
    errors: list[PyctlError] = []
    printed = 0
    for target in targets:
        try:
            objects = _objects(s, a, target)
        except ApiError as exc:
            errors.append(exc)
            continue
        for obj in objects:
            try:
                text = describe(ctx, obj)
            except PyctlError as exc:
                errors.append(exc)
                continue
            s.write(("\n\n" if printed else "") + text)
            printed += 1
    if not printed and not errors:
        if all(t.resource.namespaced for t in targets) and not a.all_namespaces:
            s.error(f"No resources found in {s.namespace} namespace.")
        else:
            s.error("No resources found")
    for problem in errors:
        s.error(problem.render())
    return 1 if errors else 0


register(Command("describe", "Show details of a specific resource or group of resources",
                 configure, run, EXAMPLES, group="Troubleshooting and Debugging Commands",
                 description="Show details of a specific resource or group of resources.\n\n"
                             "Prints a detailed description of the selected objects, including "
                             "related objects such as events or controllers. A NAME_PREFIX selects "
                             "every object whose name starts with it when no object has that name.",
                 usage="pyctl describe (-f FILENAME | TYPE [NAME_PREFIX | -l label] | TYPE/NAME)"))
