"""`pyctl apply -f`: declarative updates, client-side (kubectl's three-way patch) or server-side.

Client-side, as kubectl does it: GET; a 404 means POST the manifest carrying the
last-applied-configuration annotation; otherwise send the strategic three-way patch
(last-applied → manifest, live → manifest), or nothing at all when it is empty
(`unchanged`). `--server-side` sends the manifest as an apply patch instead. Nothing is
written until every object has passed a server dry run.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Callable

from .. import printers
from ..errors import ApiError, CommandError, PyctlError
from ..session import Session
from . import Command, register
from ._targets import add_filename_flags
from ._writes import (LAST_APPLIED, Item, add_write_flags, describe_problem, plan, suffix,
                      validate, with_last_applied, write_query)

CLIENT_MANAGER = "pyctl-client-side-apply"
SERVER_MANAGER = "pyctl"
SMP = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
APPLY = "application/apply-patch+yaml"
CONFLICT_RETRIES = 5
CONFLICT_HELP = """\
Please review the fields above--they currently have other managers. Here
are the ways you can resolve this warning:
* If you intend to manage all of these fields, please re-run the apply
  command with the `--force-conflicts` flag.
* If you do not intend to manage all of the fields, please edit your
  manifest to remove references to the fields that should keep their
  current managers.
* You may co-own fields by updating your manifest to match the existing
  value; in this case, you'll become the manager if the other manager(s)
  stop managing the field (remove it from their applied configuration).
See https://kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts"""

EXAMPLES = """\
# Apply the configuration in deployment.yaml
pyctl apply -f manifests/deployment.yaml

# Apply every manifest of a directory, and of its sub-directories
pyctl apply -f manifests/ -R

# Apply what is piped in
cat deployment.yaml | pyctl apply -f -

# Let the server merge the configuration (server-side apply), taking over conflicting fields
pyctl apply --server-side --force-conflicts -f deployment.yaml

# Check a change on the server without making it
pyctl apply --dry-run=server -f deployment.yaml
"""


def configure(p: argparse.ArgumentParser) -> None:
    add_filename_flags(p, "containing the configuration to apply")
    p.add_argument("--server-side", action="store_true",
                   help="let the server merge the configuration (server-side apply)")
    p.add_argument("--force-conflicts", action="store_true",
                   help="with --server-side, take over fields other managers own")
    p.add_argument("--field-manager", default=None, metavar="NAME",
                   help=f"the manager name recorded for the changed fields (default "
                        f"{CLIENT_MANAGER}, or {SERVER_MANAGER} with --server-side)")
    p.add_argument("-o", "--output", metavar="FORMAT", help="name, yaml or json: print the results")
    add_write_flags(p)


class Applier:
    """Applies one item; with `dry_run`, asks the server to check it and store nothing."""

    def __init__(self, session: Session, args: argparse.Namespace) -> None:
        self.s = session
        self.args = args
        self.manager = args.field_manager or (SERVER_MANAGER if args.server_side else CLIENT_MANAGER)

    def __call__(self, item: Item, dry_run: bool) -> tuple[str, dict[str, Any]]:
        if self.args.server_side:
            return self.server_side(item, dry_run)
        return self.client_side(item, dry_run)

    def server_side(self, item: Item, dry_run: bool) -> tuple[str, dict[str, Any]]:
        query = write_query(self.args, self.manager, dry_run,
                            force="true" if self.args.force_conflicts else "false")
        resp = self.s.client.request("PATCH", item.path(), query=query, body=item.obj,
                                     content_type=APPLY)
        return "serverside-applied", resp.json()

    def client_side(self, item: Item, dry_run: bool) -> tuple[str, dict[str, Any]]:
        modified = with_last_applied(item.obj)
        client = self.s.client
        for attempt in range(1, CONFLICT_RETRIES + 1):
            try:
                live = client.get(item.path())
            except ApiError as exc:
                if exc.code != 404:
                    raise
                created = client.request("POST", item.path(with_name=False), body=modified,
                                         query=write_query(self.args, self.manager, dry_run))
                return "created", created.json()
            patch, content_type = self.patch_for(item, live, modified, warn=not dry_run)
            if not patch:
                return "unchanged", live
            try:
                patched = client.request("PATCH", item.path(), body=patch, content_type=content_type,
                                         query=write_query(self.args, self.manager, dry_run))
                return "configured", patched.json()
            except ApiError as exc:
                if exc.reason != "Conflict" or attempt == CONFLICT_RETRIES:
                    raise
        raise AssertionError("unreachable")

    def patch_for(self, item: Item, live: dict[str, Any], modified: dict[str, Any],
                  warn: bool) -> tuple[dict[str, Any], str]:
        from controlplane.machinery.patch import PatchError, create_three_way_patch
        from controlplane.machinery.patchmeta import root_type

        raw = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
        original = None
        if raw:
            try:
                original = json.loads(raw)
            except ValueError:
                original = None
        elif warn:
            self.s.warn(
                f"resource {item.resource.name}/{item.name} is missing the {LAST_APPLIED} annotation "
                "which is required by pyctl apply. pyctl apply should only be used on resources "
                "created declaratively by either pyctl create --save-config or pyctl apply. "
                "The missing annotation will be patched automatically.")
        try:
            patch = create_three_way_patch(original, modified, live, item.resource.kind)
        except PatchError as exc:
            raise CommandError(f"cannot compute the patch for {item.ref}: {exc}") from None
        # Kinds without strategic-merge metadata (custom resources) take a JSON merge patch,
        # as kubectl sends them: the same diff, lists replaced whole.
        content_type = SMP if root_type(item.resource.kind) else MERGE
        return patch, content_type


def _conflict_help(a: argparse.Namespace) -> Callable[[ApiError], str | None]:
    return lambda exc: CONFLICT_HELP if a.server_side and exc.reason == "Conflict" else None


def run(s: Session, a: argparse.Namespace) -> int:
    if a.force_conflicts and not a.server_side:
        raise CommandError("--force-conflicts only works with --server-side")
    fmt = printers.OutputFormat.parse(a.output) if a.output else None
    if fmt is not None and fmt.kind not in ("name", "yaml", "json"):
        raise CommandError(f"--output {a.output} is not supported by apply: use name, yaml or json")
    items = plan(s, a, "apply")
    apply = Applier(s, a)
    checked = validate(s, items, lambda item: apply(item, dry_run=True), hint=_conflict_help(a))
    failures = 0
    for item, dry in zip(items, checked):
        try:
            if a.dry_run != "none":
                # Checked already; an object whose namespace the input creates can only be new.
                outcome, obj = dry if dry is not None else ("created", item.obj)
            else:
                outcome, obj = apply(item, False)
        except PyctlError as exc:
            failures += 1
            text = describe_problem(item, exc) if isinstance(exc, ApiError) else f"{item.doc.where}: {exc}"
            s.error(f"error: {text}")
            if isinstance(exc, ApiError) and _conflict_help(a)(exc):
                s.error(CONFLICT_HELP)
            continue
        if fmt is None:
            s.print(f"{item.ref} {outcome}{suffix(a)}")
        else:
            s.write(printers.render_objects(fmt, obj))
    return 1 if failures else 0


register(Command("apply", "Apply a configuration to a resource by file name or stdin", configure, run,
                 EXAMPLES, group="Deploy Commands",
                 description="Apply a configuration to a resource by file name or stdin.\n\n"
                             "The resource is created if it does not exist yet. Every object is "
                             "checked by the server (a dry run) before the first one is changed, so "
                             "a mistake anywhere in the input changes nothing.",
                 usage="pyctl apply -f FILENAME [-R] [--server-side] [--dry-run=server]"))
