"""Writing manifests safely: check everything, then change anything.

`apply` and `create` share the two passes: first every object is mapped to a served type
and sent to the server with `?dryRun=All&fieldValidation=Strict` (which validates it
against the real schema and admission without storing it); only when all of them pass is
the first real write made. Problems name the file, the document and the field at fault.
"""

from __future__ import annotations

import argparse
import copy
import json
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import ApiError, CommandError
from ..manifests import Document, ManifestError, load
from ..resources import Resource
from ..session import Session
from ._targets import check_namespace, unknown_kind
from controlplane.machinery.meta import LAST_APPLIED

VALIDATION = {"strict": "Strict", "true": "Strict", "warn": "Warn", "ignore": "Ignore",
              "false": "Ignore"}


@dataclass
class Item:
    doc: Document
    resource: Resource
    namespace: str | None
    obj: dict[str, Any]
    """The manifest's object with its namespace filled in, as it will be sent."""

    @property
    def name(self) -> str:
        return self.doc.name

    @property
    def ref(self) -> str:
        return self.resource.ref(self.name)

    def path(self, with_name: bool = True) -> str:
        return self.resource.path(self.namespace, self.name if with_name else None)


def add_write_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", nargs="?", const="client", default="none",
                        choices=("none", "client", "server"),
                        help="server: validate and show the outcome without storing anything; "
                             "client: show what would be sent")
    parser.add_argument("--validate", default="strict", choices=sorted(VALIDATION),
                        help="how the server treats unknown or duplicate fields (default strict)")


def plan(session: Session, args: argparse.Namespace, verb: str,
         require_name: bool = True) -> list[Item]:
    """Every object of the -f manifests mapped to a served type; ManifestError lists what is not."""
    if not args.filename:
        raise CommandError("must specify -f FILENAME (a file, a directory, or - for stdin)")
    docs = load(args.filename, args.recursive, session.stdin, verb=verb)
    items: list[Item] = []
    problems: list[str] = []
    for doc in docs:
        resource = session.discovery.for_kind(doc.api_version, doc.kind)
        if resource is None:
            problems.append(unknown_kind(doc))
            continue
        meta = doc.obj.get("metadata") or {}
        if require_name and not doc.name:
            problems.append(f"{doc.where}: " + (f"cannot use generate name with {verb}"
                                               if meta.get("generateName") else
                                               "resource name may not be empty"))
            continue
        if not doc.name and not meta.get("generateName"):
            problems.append(f"{doc.where}: metadata.name or metadata.generateName is required")
            continue
        try:
            namespace = check_namespace(session, doc, resource)
        except CommandError as exc:
            problems.append(f"{doc.where}: {exc}")
            continue
        obj = normalize(copy.deepcopy(doc.obj))
        if namespace:
            obj.setdefault("metadata", {})["namespace"] = namespace
        items.append(Item(doc, resource, namespace, obj))
    if problems:
        raise ManifestError(problems)
    return items


def describe_problem(item: Item, exc: ApiError) -> str:
    """The server's complaint, prefixed with the file and document it is about (if any)."""
    return f"{item.doc.where}: {exc.describe()}" if item.doc.source else exc.describe()


def validate(session: Session, items: list[Item],
             dry_run: Callable[[Item], Any], tolerate: Callable[[ApiError], bool] = lambda e: False,
             hint: Callable[[ApiError], str | None] = lambda e: None) -> list[Any]:
    """Dry-run every item on the server; ManifestError lists every failure, in input order."""
    created_namespaces = {i.name for i in items if i.resource.kind == "Namespace" and not i.resource.group}
    results: list[Any] = []
    problems: list[str] = []
    for item in items:
        try:
            results.append(dry_run(item))
        except ApiError as exc:
            results.append(None)
            details = exc.details
            if exc.code == 404 and details.get("kind") == "namespaces" \
                    and details.get("name") in created_namespaces:
                continue  # its namespace is created by an earlier document: cannot check before
            if tolerate(exc):
                continue
            extra = hint(exc)
            problems.append(describe_problem(item, exc) + (f"\n{extra}" if extra else ""))
        except CommandError as exc:
            results.append(None)
            problems.append(f"{item.doc.where}: {exc}")
    if problems:
        raise ManifestError(problems)
    return results


def go_json(obj: Any) -> str:
    """JSON as Go's encoder writes it (kubectl's annotation format): sorted, compact, <>& escaped."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def normalize(value: Any) -> Any:
    """YAML `1.0` is the JSON number 1 for Kubernetes: keep integral floats as integers."""
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    return value


def with_last_applied(obj: dict[str, Any]) -> dict[str, Any]:
    """The object carrying its own configuration in the last-applied annotation, as kubectl does."""
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    annotations = dict(meta.get("annotations") or {})
    annotations.pop(LAST_APPLIED, None)
    meta["annotations"] = annotations  # kubectl records `"annotations":{}` too
    encoded = go_json(out) + "\n"
    annotations[LAST_APPLIED] = encoded
    return out


def write_query(args: argparse.Namespace, manager: str, dry_run: bool, **extra: Any) -> dict[str, Any]:
    query = {"fieldManager": manager, "fieldValidation": VALIDATION[args.validate]}
    if dry_run:
        query["dryRun"] = "All"
    query.update(extra)
    return query


def suffix(args: argparse.Namespace) -> str:
    return {"server": " (server dry run)", "client": " (dry run)"}.get(args.dry_run, "")
