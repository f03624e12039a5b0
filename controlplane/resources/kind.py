"""A `Kind`: everything the API server knows about one resource, in one object.

Its descriptor (`ResourceInfo`), defaulting, validation beyond the schema, Table columns, and
the REST-strategy hooks kube-apiserver calls on a write (`pkg/registry/*/strategy.go`):
prepare_for_create / prepare_for_update, grace_period, what keeps an object while it is being
deleted. The storage layer calls these hooks and never asks which resource it is writing.

A plain kind is an instance (`Kind(info, printer=..., rules=...)`); a kind with its own
strategy subclasses `Kind` and overrides hooks. Built-in kinds live one module per kind (or
small family) in `kinds/`; a CustomResourceDefinition becomes a Kind built at run time from
its schema, through the same interface.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable

from ..machinery.types import Obj
from . import rules as shared_rules, schema as schemas
from .info import ResourceInfo
from .schema import ObjectSchema
from .tables import GENERIC, Printer
from .validation import TYPE_INVALID, Cause, dns1123_subdomain

Rule = Callable[[Obj], Iterable[Cause]]
UpdateRule = Callable[[Obj, Obj], Iterable[Cause]]
Defaulter = Callable[[Obj], None]


class Kind:
    """One resource's strategy. Hooks are no-ops here; kinds override what they need."""

    def __init__(self, info: ResourceInfo, *, printer: Printer = GENERIC,
                 default: Defaulter | None = None, rules: tuple[Rule, ...] = (),
                 update_rules: tuple[UpdateRule, ...] = (),
                 name_check: shared_rules.NameCheck = dns1123_subdomain, has_metadata: bool = True,
                 served: bool = True, initial_status: Obj | None = None) -> None:
        self.info = info
        self.printer = printer
        self._default = default
        self.rules = rules
        self.update_rules = update_rules
        self.name_check = name_check
        self.has_metadata = has_metadata  # Binding bodies carry no meaningful metadata
        self.served = served  # False: a body kind validated on a subresource (Scale, Binding)
        # The status a new object starts with: the kind's empty status struct as Go encodes it
        # ({} when every field is omitempty; ReplicaSet's replicas is not).
        self.initial_status = initial_status or {}

    def __repr__(self) -> str:
        return f"<Kind {self.info.api_version} {self.info.kind}>"

    @property
    def api_version(self) -> str:
        return self.info.api_version

    @property
    def kind(self) -> str:
        return self.info.kind

    @property
    def storage_version(self) -> str:
        """The apiVersion objects of this kind are stored in (a CRD's storage version)."""
        return self.info.api_version

    # -- defaults and validation -----------------------------------------------------------

    def default(self, obj: Obj) -> None:
        """Fill in Kubernetes' defaults for fields the client left out, in place (idempotent)."""
        if self._default is not None:
            self._default(obj)

    def schema(self) -> ObjectSchema | None:
        """The structural schema objects of this kind are checked against (None: none)."""
        return schemas.builtin(self.api_version, self.kind)

    def check_write(self, obj: Obj, old: Obj | None = None) -> tuple[list[str], list[Cause]]:
        """The unknown-field paths of `obj`, and when there are none, every problem with it.

        One schema pass serves both. With unknown fields the causes are not computed ([]):
        as Kubernetes decodes before it validates, the caller drops (or rejects) those fields
        first and then calls `validate`."""
        causes, unknown = self._schema_check(obj)
        if unknown:
            return unknown, []
        return [], self._with_rules(causes, obj, old)

    def validate(self, obj: Obj, old: Obj | None = None) -> list[Cause]:
        """Every problem with `obj` (an update of `old` when given), one Cause each; [] when valid.

        Fields that defaulting fills are accepted when absent. Unknown fields are not reported."""
        return self._with_rules(self._schema_check(obj)[0], obj, old)

    def drop_unknown(self, obj: Obj, paths: list[str]) -> None:
        """Remove the unknown fields `check_write` reported, as decoding into typed structs does."""
        for path in paths:
            _drop_path(obj, path)

    def _schema_check(self, obj: Obj) -> tuple[list[Cause], list[str]]:
        schema = self.schema()
        return schema.check(obj) if schema is not None else ([], [])

    def _rule_causes(self, obj: Obj, old: Obj | None) -> list[Cause]:
        out: list[Cause] = []
        if self.has_metadata:
            out += shared_rules.metadata(obj, self.info.namespaced, self.name_check)
            if old is not None:
                out += shared_rules.metadata_update(obj, old)
        for rule in self.rules:
            out += rule(obj)
        if old is not None:
            for update_rule in self.update_rules:
                out += update_rule(obj, old)
        return out

    def _with_rules(self, causes: list[Cause], obj: Obj, old: Any) -> list[Cause]:
        """The schema's causes and the rules' causes, each problem once."""
        # A field of the wrong type reads as absent to the rules; its type error is the one to report.
        mistyped = tuple(c["field"] for c in causes if c["reason"] == TYPE_INVALID)
        found = causes + [c for c in self._rule_causes(obj, old if isinstance(old, dict) else None)
                          if not _under(c["field"], mistyped)]
        seen: set[tuple[str, str, str]] = set()
        unique = []
        for c in found:  # rules and schema may both see a missing field; report it once
            key = (c["field"], c["reason"], c["message"])
            if key not in seen:
                seen.add(key)
                unique.append(c)
        return unique

    # -- the REST strategy -----------------------------------------------------------------

    def prepare_for_create(self, obj: Obj) -> None:
        """Before defaulting on create: status is the system's to write, so it starts empty."""
        if self.info.has_status:
            obj["status"] = dict(self.initial_status)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        """After the server's metadata and status were restored on `new` and it was defaulted."""

    def refuses_create(self) -> str:
        """Why objects of this kind cannot be created now (405), '' when they can."""
        return ""

    def grace_period(self, obj: Obj, options: dict[str, Any]) -> int:
        """Seconds a deletion waits for the object's owner to confirm (0: none, delete now)."""
        return 0

    def deletion_held(self, obj: Obj) -> bool:
        """Whether an object being deleted must stay although no finalizer or grace is left."""
        return False

    def mark_deleting(self, obj: Obj) -> None:
        """Changes to an object whose deletion starts (a Namespace becomes Terminating)."""

    def pod_selector(self, obj: Obj) -> Any:
        """What the object selects, as a metav1.LabelSelector (its Scale's status.selector):
        `spec.selector` unless the kind keeps a plain label map (ReplicationController)."""
        spec = obj.get("spec")
        return spec.get("selector") if isinstance(spec, dict) else None


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith((p + ".", p + "[")) for p in prefixes)


def _drop_path(obj: Obj, path: str) -> None:
    parts = [p for p in re.split(r"\.(?![^\[]*\])", path) if p]
    node: Any = obj
    for i, part in enumerate(parts):
        name, *numbers = re.split(r"\[(\d+)\]", part)
        idx = [int(x) for x in numbers if x != ""]
        if not isinstance(node, dict) or name not in node:
            return
        if i == len(parts) - 1 and not idx:
            node.pop(name, None)
            return
        node = node[name]
        for j in idx:
            node = node[j] if isinstance(node, list) and j < len(node) else None
        if node is None:
            return
