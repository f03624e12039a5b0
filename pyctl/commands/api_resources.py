"""`pyctl api-resources`: the resource types the server serves, from discovery."""

from __future__ import annotations

import argparse

from ..errors import CommandError
from ..session import Session
from ..tabwriter import TabWriter
from . import Command, register

EXAMPLES = """\
# Print the supported API resources
pyctl api-resources

# Print the namespaced resources only, with their verbs
pyctl api-resources --namespaced=true -o wide

# Print the resources of the apps group
pyctl api-resources --api-group=apps
"""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--namespaced", choices=("true", "false"), help="only (non-)namespaced types")
    p.add_argument("--api-group", metavar="GROUP", help="only this API group ('' for core)")
    p.add_argument("-o", "--output", choices=("wide", "name"), help="wide or name")
    p.add_argument("--no-headers", action="store_true", help="do not print the header")


def run(s: Session, a: argparse.Namespace) -> int:
    resources = [r for r in s.discovery.resources
                 if (a.namespaced is None or r.namespaced == (a.namespaced == "true"))
                 and (a.api_group is None or r.group == a.api_group)]
    if not resources and a.api_group is not None:
        raise CommandError(f"the server has no resources in the API group {a.api_group!r}")
    resources.sort(key=lambda r: (r.group != "", r.group, r.name))
    if a.output == "name":
        s.write("".join(f"{r.group_resource}\n" for r in resources))
        return 0
    w = TabWriter(minwidth=6, padding=3)
    header = ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    if a.output == "wide":
        header += ["VERBS", "CATEGORIES"]
    if not a.no_headers:
        w.write("\t".join(header) + "\n")
    for r in resources:
        row = [r.name, ",".join(r.short_names), r.api_version, "true" if r.namespaced else "false", r.kind]
        if a.output == "wide":
            row += [",".join(r.verbs), ",".join(r.categories)]
        w.write("\t".join(row) + "\n")
    s.write(w.flush())
    return 0


register(Command("api-resources", "Print the supported API resources on the server", configure, run,
                 EXAMPLES, group="Other Commands"))
