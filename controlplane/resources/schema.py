"""Kinds' JSON schemas: loading them once, and one pass of an object over its schema.

The built-in kinds' strict schemas come from kubernetes-validate (the Kubernetes 1.37 OpenAPI);
a `Schema` holds one kind's jsonschema validator, built once and cached (this runs on every
write), and the compiled yes/no of `schema_compiled` that answers first for the usual clean
object: only when it says no does jsonschema walk the object, and its errors become Causes
with Kubernetes field paths (`spec.template.spec.containers[0].image`).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

import jsonschema
from jsonschema.protocols import Validator
from referencing import Registry, Resource

from . import schema_compiled
from .validation import Cause, invalid, not_supported, required, type_invalid

DRAFT = "https://json-schema.org/draft/2020-12/schema"
DEFINITIONS_ID = "https://kubernetes.io/api/_definitions.json"
_TYPE_META = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_API_VERSION = re.compile(r"(?:[a-z0-9.-]+/)?v[0-9]+(?:(?:alpha|beta)[0-9]+)?")


@functools.lru_cache(maxsize=1)
def _schema_root() -> Any:
    base = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    versions = []
    for entry in base.iterdir():
        m = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)-local-strict", entry.name)
        if m:
            versions.append((tuple(int(g) for g in m.groups()), entry))
    return max(versions, key=lambda v: v[0])[1]


@functools.lru_cache(maxsize=1)
def definitions() -> dict[str, Any]:
    """Kubernetes' published types by name (`io.k8s.api.apps.v1.Deployment`), as
    kubernetes-validate carries them (JSON schema 2020-12, strict). Shared: never change it."""
    return json.loads((_schema_root() / "_definitions.json").read_text())["$defs"]


@functools.lru_cache(maxsize=1)
def _definitions() -> Registry:
    d = dict(definitions())
    # The generated oneOf[string|null, integer|null] rejects null (it matches both branches);
    # Kubernetes decodes null as "unset", so accept it and report wrong types plainly.
    d["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"type": ["integer", "string", "null"]}
    d["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {"type": ["string", "number", "null"]}
    defs = {"$schema": DRAFT, "$id": DEFINITIONS_ID, "$defs": d}
    return Registry().with_resource(DEFINITIONS_ID, Resource.from_contents(defs))


@functools.lru_cache(maxsize=None)
def _kind_schema(api_version: str, kind: str) -> tuple[dict[str, Any], Registry] | None:
    """One kind's strict schema and the registry its $refs resolve in; None if no schema knows it."""
    if not _TYPE_META.fullmatch(kind) or not _API_VERSION.fullmatch(api_version):
        return None
    # kubernetes-validate's file naming: apps/v1 -> apps-v1, discovery.k8s.io/v1 -> discovery-v1.
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _schema_root() / f"{kind.lower()}-{group_version}.json"
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    return schema, _definitions().with_resource(schema["$id"], Resource.from_contents(schema))


@functools.lru_cache(maxsize=None)
def schema_validator(api_version: str, kind: str) -> Validator | None:
    """The strict-schema validator for one kind, built once; None if no schema knows the kind."""
    found = _kind_schema(api_version, kind)
    if found is None:
        return None
    schema, registry = found
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=registry)


@functools.lru_cache(maxsize=None)
def _clean_check(api_version: str, kind: str) -> schema_compiled.Check | None:
    """The compiled yes/no standing in for `schema_validator`'s full pass on clean objects."""
    validator, found = schema_validator(api_version, kind), _kind_schema(api_version, kind)
    if validator is None or found is None:
        return None
    return schema_compiled.compile_schema(found[0], found[1],
                                          formats_asserted=validator.format_checker is not None)


def kube_path(error: jsonschema.ValidationError) -> str:
    """Instance path in kube's field.Path syntax: `a.b[0].c`, map keys as `labels[app]`."""
    instance = list(error.absolute_path)
    tokens = list(error.absolute_schema_path)
    out, at, i = "", 0, 0
    while i < len(tokens) and at < len(instance):
        token = tokens[i]
        if token == "properties":
            out += ("." if out else "") + str(instance[at])
            at, i = at + 1, i + 2
            continue
        if token in ("additionalProperties", "items"):
            out += f"[{instance[at]}]"
            at += 1
        i += 1
    return out


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
               (dict, "object"), (list, "array"))


def json_type(value: Any) -> str:
    return next((name for t, name in _JSON_TYPES if isinstance(value, t)), "null")


def _schema_check(validator: Validator, obj: dict[str, Any]) -> tuple[list[Cause], list[str]]:
    """jsonschema's walk: the violations as Causes, and the paths of unknown fields."""
    causes: list[Cause] = []
    unknown: list[str] = []
    for err in validator.iter_errors(obj):
        path = kube_path(err)
        if err.validator == "additionalProperties" and err.validator_value is False:
            known = err.schema.get("properties", {}) if isinstance(err.schema, dict) else {}
            unknown += [_join(path, key) for key in err.instance if key not in known]
        elif err.validator == "required":
            causes += [required(_join(path, p)) for p in err.validator_value if p not in err.instance]
        elif err.validator == "type" and err.instance is None:
            causes.append(required(path))  # null for a required scalar decodes to its zero value
        elif err.validator == "type":
            types = [err.validator_value] if isinstance(err.validator_value, str) else err.validator_value
            causes.append(type_invalid(path, json_type(err.instance), ",".join(t for t in types if t != "null")))
        elif err.validator == "enum":
            causes.append(not_supported(path, err.instance, [str(v) for v in err.validator_value]))
        else:
            causes.append(invalid(path, err.instance, err.message))
    return causes, unknown




class ObjectSchema(Protocol):
    """What checks an object against a kind's schema (`Schema`, or a CRD's kind itself)."""

    def check(self, obj: dict[str, Any]) -> tuple[list[Cause], list[str]]:
        """The Causes, and the paths of unknown fields."""
        ...


@dataclass(frozen=True)
class Schema:
    """One kind's schema, ready to check objects: built once per kind."""

    validator: Validator
    clean: schema_compiled.Check | None = None

    def check(self, obj: dict[str, Any]) -> tuple[list[Cause], list[str]]:
        """One pass of `obj` over the schema: the Causes, and the paths of unknown fields."""
        try:
            if self.clean is not None and self.clean(obj):
                return [], []  # nothing jsonschema would report: skip its walk
        except RecursionError:
            pass  # nested deeper than the closures go; jsonschema decides
        return _schema_check(self.validator, obj)


@functools.lru_cache(maxsize=None)
def builtin(api_version: str, kind: str) -> Schema | None:
    """The strict schema Kubernetes publishes for a built-in kind; None if it has none."""
    validator = schema_validator(api_version, kind)
    return Schema(validator, _clean_check(api_version, kind)) if validator is not None else None


def type_meta_causes(obj: Any) -> list[Cause]:
    """What is wrong with an object's apiVersion/kind before any schema can be chosen."""
    if not isinstance(obj, dict):
        return [type_invalid("", json_type(obj), "object")]
    causes = []
    if not isinstance(obj.get("apiVersion"), str) or not obj["apiVersion"]:
        causes.append(required("apiVersion"))
    if not isinstance(obj.get("kind"), str) or not obj["kind"]:
        causes.append(required("kind"))
    return causes


def unregistered(api_version: str, kind: str) -> Cause:
    return invalid("kind", kind, f'no kind "{kind}" is registered for version "{api_version}"')


@functools.lru_cache(maxsize=1)
def object_meta_fields() -> frozenset[str]:
    """The fields of metadata (ObjectMeta): what a custom resource's metadata may hold."""
    return frozenset(definitions()["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"])


@functools.lru_cache(maxsize=None)
def definition(name: str) -> Schema:
    """One published type's strict schema (`io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`),
    to check a part of an object with; paths in its Causes are relative to that part."""
    schema = {"$schema": DRAFT, "$id": f"urn:pyctl:definition:{name}",
              "$ref": f"{DEFINITIONS_ID}#/$defs/{name}"}
    registry = _definitions().with_resource(schema["$id"], Resource.from_contents(schema))
    validator = jsonschema.validators.validator_for(schema)(schema, registry=registry)
    return Schema(validator, schema_compiled.compile_schema(
        schema, registry, formats_asserted=validator.format_checker is not None))
