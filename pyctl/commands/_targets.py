"""What a command acts on, from its arguments: `TYPE[,TYPE] [NAME...]`, `TYPE/NAME...` or `-f FILE`.

Shared by get, describe, delete and scale so that they accept exactly the same forms,
with kubectl's messages when the forms are mixed up.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Iterator

from ..errors import ApiError, CommandError, UsageError
from ..manifests import Document, ManifestError, load
from ..resources import Resource
from ..session import Session

LIST_CHUNK = 500


@dataclass
class Target:
    resource: Resource
    namespace: str | None
    """None: cluster-scoped, or every namespace (`-A`)."""
    name: str | None = None
    """None: every object of the type (filtered by selectors)."""
    source: str = ""
    """The manifest file it came from (for `error when deleting "f.yaml"`)."""
    document: Document | None = None

    @property
    def ref(self) -> str:
        return self.resource.ref(self.name or "")


def add_filename_flags(parser: argparse.ArgumentParser, purpose: str) -> None:
    parser.add_argument("-f", "--filename", action="append", default=[], metavar="FILE",
                        help=f"file, directory or - (stdin) {purpose}; may be repeated")
    parser.add_argument("-R", "--recursive", action="store_true",
                        help="process the directories given with -f recursively")


def add_selector_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-l", "--selector", metavar="QUERY",
                        help="label selector, e.g. -l app=web,tier!=db")
    parser.add_argument("--field-selector", metavar="QUERY",
                        help="field selector, e.g. --field-selector status.phase=Running")


def check_namespace(session: Session, doc: Document, resource: Resource) -> str | None:
    """The namespace of a manifest's object: its own, else -n / the context's."""
    if not resource.namespaced:
        return None
    own = doc.namespace
    if own and session.explicit_namespace and own != session.namespace:
        raise CommandError(f'the namespace from the provided object "{own}" does not match the '
                           f'namespace "{session.namespace}". You must pass \'--namespace={own}\' '
                           "to perform this operation.")
    return own or session.namespace


def unknown_kind(doc: Document) -> str:
    return (f'resource mapping not found for name: "{doc.name}" namespace: "{doc.namespace}" '
            f'from "{doc.source}": no matches for kind "{doc.kind}" in version "{doc.api_version}"'
            "\nensure CRDs are installed first")


def from_manifests(session: Session, args: argparse.Namespace, verb: str) -> list[Target]:
    """Targets named by -f manifests; every document is checked before any is used."""
    docs = load(args.filename, args.recursive, session.stdin, verb=verb)
    problems: list[str] = []
    targets: list[Target] = []
    for doc in docs:
        resource = session.discovery.for_kind(doc.api_version, doc.kind)
        if resource is None:
            problems.append(unknown_kind(doc))
            continue
        if not doc.name:
            problems.append(f"{doc.where}: resource name may not be empty")
            continue
        targets.append(Target(resource, check_namespace(session, doc, resource), doc.name,
                              doc.source, doc))
    if problems:
        raise ManifestError(problems)
    return targets


def from_arguments(session: Session, words: list[str], command: str,
                   all_namespaces: bool = False) -> list[Target]:
    """Targets from `TYPE[,TYPE] [NAME...]` or `TYPE/NAME...`."""
    if not words:
        return []
    slashed = [w for w in words if "/" in w]
    if slashed:
        if len(slashed) != len(words):
            raise UsageError(
                "there is no need to specify a resource type as a separate argument when passing "
                f"arguments in resource/name form (e.g. 'pyctl {command} resource/<resource_name>' "
                f"instead of 'pyctl {command} resource resource/<resource_name>'", command)
        targets = []
        for word in words:
            typed, _, name = word.partition("/")
            if not typed or not name:
                raise UsageError(f"arguments in resource/name form must have a single resource and "
                                 f"name: {word!r}", command)
            for resource in session.discovery.resolve(typed):
                targets.append(Target(resource, session.namespace_for(resource), name))
        return targets
    resources = [r for typed in words[0].split(",") if typed for r in session.discovery.resolve(typed)]
    names = words[1:]
    if names and all_namespaces:
        raise CommandError("a resource cannot be retrieved by name across all namespaces")
    if not names:
        return [Target(r, session.namespace_for(r, all_namespaces)) for r in resources]
    return [Target(r, session.namespace_for(r), name) for r in resources for name in names]


def list_query(args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if getattr(args, "selector", None):
        query["labelSelector"] = args.selector
    if getattr(args, "field_selector", None):
        query["fieldSelector"] = args.field_selector
    query.update({k: v for k, v in extra.items() if v is not None})
    return query


def list_pages(session: Session, target: Target, query: dict[str, Any],
               accept: str = "application/json") -> Iterator[dict[str, Any]]:
    """Each page of a list (a List or a Table), following `continue` tokens."""
    token = None
    while True:
        page = session.client.get(target.resource.path(target.namespace),
                                  {**query, "limit": LIST_CHUNK, "continue": token}, accept=accept)
        yield page
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return


def list_objects(session: Session, target: Target, query: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """Every object a list target names (kind/apiVersion filled in), and the list's resourceVersion."""
    items: list[dict[str, Any]] = []
    rv = ""
    for page in list_pages(session, target, query):
        rv = (page.get("metadata") or {}).get("resourceVersion", rv)
        for item in page.get("items") or []:
            items.append(typed(item, target.resource))
    return items, rv


def typed(obj: dict[str, Any], resource: Resource) -> dict[str, Any]:
    """List items may omit kind and apiVersion: put them back, as kubectl does."""
    if obj.get("kind") and obj.get("apiVersion"):
        return obj
    return {"apiVersion": resource.api_version, "kind": resource.kind, **obj}


def fetch(session: Session, target: Target) -> dict[str, Any]:
    assert target.name is not None
    return typed(session.client.get(target.resource.path(target.namespace, target.name)),
                 target.resource)


def report(session: Session, errors: list[ApiError | CommandError]) -> int:
    for exc in errors:
        session.error(exc.render())
    return 1 if errors else 0
