"""Reading manifests: `-f FILE|DIR|-`, `-R`, multi-document YAML, JSON, `kind: List`.

Everything is read and parsed before anything is sent, so a typo in the last document
stops the command before the first one changes the cluster. Each object remembers its
file and document number, which every later error message names.
"""

from __future__ import annotations

import glob
import json
import os
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from .errors import CommandError

EXTENSIONS = (".json", ".yaml", ".yml")
STDIN = "STDIN"


@dataclass
class Document:
    """One object from a manifest."""

    source: str
    """The path as the user gave it (or under the directory given), or STDIN."""
    index: int
    """1-based, counting the non-empty documents of the source."""
    line: int
    obj: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.source} (document {self.index})"

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind") or "")

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion") or "")

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name") or "")

    @property
    def namespace(self) -> str:
        return str((self.obj.get("metadata") or {}).get("namespace") or "")


class ManifestError(CommandError):
    """One or more manifests could not be read; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))

    def render(self) -> str:
        return "\n".join(f"error: {p}" for p in self.problems)


def expand(paths: list[str], recursive: bool) -> list[str]:
    """Files to read, in order: directories give their manifests sorted by name."""
    files: list[str] = []
    for path in paths:
        if path == "-":
            files.append(path)
        elif os.path.isdir(path):
            files.extend(_walk(path, recursive))
        elif os.path.exists(path):
            files.append(path)
        else:
            matches = sorted(glob.glob(path)) if glob.has_magic(path) else []
            if not matches:
                raise CommandError(f'the path "{path}" does not exist')
            files.extend(matches)
    return files


def _walk(directory: str, recursive: bool) -> list[str]:
    found: list[str] = []
    for entry in sorted(os.listdir(directory)):
        full = os.path.join(directory, entry)
        if os.path.isdir(full):
            if recursive:
                found.extend(_walk(full, recursive))
        elif entry.endswith(EXTENSIONS):
            found.append(full)
    return found


def load(paths: list[str], recursive: bool = False, stdin: TextIO | None = None,
         verb: str = "apply") -> list[Document]:
    """Every object in the given files, `kind: List` flattened; ManifestError lists all problems."""
    documents: list[Document] = []
    problems: list[str] = []
    for path in expand(paths, recursive):
        source = STDIN if path == "-" else path
        try:
            text = (stdin or sys.stdin).read() if path == "-" else _read(path)
        except OSError as exc:
            problems.append(f"cannot read {source}: {exc.strerror}")
            continue
        documents.extend(parse(text, source, problems))
    if problems:
        raise ManifestError(problems)
    if not documents:
        raise CommandError(f"no objects passed to {verb}")
    return documents


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def parse(text: str, source: str, problems: list[str]) -> list[Document]:
    """The objects of one file; what is wrong is appended to `problems`."""
    from . import yamlio

    raw: list[tuple[Any, int]] = []
    if source.endswith(".json") or text.lstrip().startswith("{"):
        try:
            raw = [(json.loads(text), 1)]
        except ValueError:
            raw = []  # not JSON after all (YAML may start with a flow mapping): parse as YAML
    if not raw:
        index = 0
        try:
            for value, line in yamlio.load_all(text):
                if value is not None:
                    index += 1
                    raw.append((value, line))
        except yamlio.YAMLError as exc:
            problems.append(_yaml_problem(source, index + 1, exc))
            return []
    documents: list[Document] = []
    for i, (value, line) in enumerate(raw, start=1):
        where = f"{source} (document {i})"
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a Kubernetes object (a mapping), got "
                            f"{type(value).__name__}")
            continue
        _flatten(value, Document(source, i, line, value), documents, problems)
    return documents


def _flatten(value: dict[str, Any], doc: Document, out: list[Document], problems: list[str]) -> None:
    missing = [f for f in ("apiVersion", "kind") if not value.get(f)]
    if missing:
        problems.append(f"{doc.where}: " + ", ".join(f"{f} not set" for f in missing))
        return
    if str(value["kind"]).endswith("List") and isinstance(value.get("items"), list):
        for item in value["items"]:
            if not isinstance(item, dict):
                problems.append(f"{doc.where}: every item of a {value['kind']} must be an object")
                continue
            _flatten(item, Document(doc.source, doc.index, doc.line, item), out, problems)
        return
    if not isinstance(value.get("metadata", {}), dict):
        problems.append(f"{doc.where}: metadata must be a mapping")
        return
    out.append(Document(doc.source, doc.index, doc.line, value))


def _yaml_problem(source: str, document: int, exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    detail = f"{problem} ({context})" if context and context not in problem else problem
    return f"error parsing {source} (document {document}): yaml: {where}{detail}"
