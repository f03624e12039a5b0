"""An object's defaults and validation, by the kind its apiVersion and kind name.

For callers holding an object rather than its Kind (tests, tools, bodies of any kind). An
object of a kind this server does not serve but Kubernetes publishes a schema for is checked
against that schema alone.
"""

from __future__ import annotations

from typing import Any

from .registry import for_object
from .schema import ObjectSchema, builtin, type_meta_causes, unregistered
from .validation import Cause

__all__ = ["apply_defaults", "validate", "unknown_fields", "check_write"]


def apply_defaults(obj: Any) -> None:
    """Fill in Kubernetes' defaults for the object's kind, in place. Other kinds are left alone."""
    kind = for_object(obj)
    if kind is not None:
        kind.default(obj)


def _schema_only(obj: dict[str, Any]) -> ObjectSchema | None:
    return builtin(obj["apiVersion"], obj["kind"])


def validate(obj: Any, old: dict[str, Any] | None = None) -> list[Cause]:
    """Every problem with `obj` (an update of `old` when given), one Cause each; [] when valid."""
    causes = type_meta_causes(obj)
    if causes:
        return causes
    kind = for_object(obj)
    if kind is not None:
        return kind.validate(obj, old)
    schema = _schema_only(obj)
    return schema.check(obj)[0] if schema else [unregistered(obj["apiVersion"], obj["kind"])]


def unknown_fields(obj: Any) -> list[str]:
    """Dotted paths of fields the schema does not know (`spec.template.spec.containers[0].imagee`).

    Map keys (labels, annotations, data) are never unknown. [] for kinds without a schema."""
    if type_meta_causes(obj):
        return []
    kind = for_object(obj)
    schema = kind.schema() if kind is not None else _schema_only(obj)
    return schema.check(obj)[1] if schema else []


def check_write(obj: Any, old: dict[str, Any] | None = None) -> tuple[list[str], list[Cause]]:
    """`unknown_fields(obj)` and, when there are none, `validate(obj, old)`, with one schema pass."""
    causes = type_meta_causes(obj)
    if causes:
        return [], causes
    kind = for_object(obj)
    if kind is not None:
        return kind.check_write(obj, old)
    schema = _schema_only(obj)
    if schema is None:
        return [], [unregistered(obj["apiVersion"], obj["kind"])]
    causes, unknown = schema.check(obj)
    return (unknown, []) if unknown else ([], causes)
