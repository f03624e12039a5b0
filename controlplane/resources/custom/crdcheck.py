"""Validation of a CustomResourceDefinition itself, beyond its published schema.

Transcribed in spirit from apiextensions-apiserver's `validation.go` and the structural
schema rules (`pkg/apiserver/schema/validation.go`): names and group, scope, versions (one
storage version, at least one served), that every version's openAPIV3Schema is structural
(a type everywhere, no $ref, no uniqueItems, list types and map keys that make sense, metadata
limited to name/generateName), that defaults validate, that CEL rules and patterns compile,
printer columns, selectable fields and the scale subresource's paths. Field paths and wording
follow kube-apiserver's where they are known.
"""

from __future__ import annotations

import re
from typing import Any

from ...machinery.jsonpath import JSONPathError
from ...machinery.types import Obj
from ..fields import as_dict, as_list, as_str, dicts
from ..validation import (Cause, dns1035_label, dns1123_label, dns1123_subdomain, duplicate, forbidden,
                          invalid, not_supported, required)
from . import columns, structural
from .cel import CompileError
from .kind import compiled_schema

APPROVAL = "api-approved.kubernetes.io"
_KIND_RE = re.compile(r"[A-Za-z][-_A-Za-z0-9]*")
_TYPES = ["array", "boolean", "integer", "number", "object", "string"]
_FORBIDDEN_KEYWORDS = {"$ref": "$ref is not supported", "definitions": "definitions are not supported",
                       "dependencies": "dependencies are not supported",
                       "additionalItems": "additionalItems cannot be set",
                       "patternProperties": "patternProperties is not supported",
                       "id": "id is not supported", "$schema": "$schema is not supported"}


def crd_causes(crd: Obj) -> list[Cause]:
    """Every problem with a CRD (after defaulting), one Cause each."""
    spec = as_dict(crd.get("spec"))
    md = as_dict(crd.get("metadata"))
    names = as_dict(spec.get("names"))
    group, plural = as_str(spec.get("group")), as_str(names.get("plural"))
    out: list[Cause] = []
    if as_str(md.get("name")) != f"{plural}.{group}":
        out.append(invalid("metadata.name", md.get("name", ""), 'must be spec.names.plural+"."+spec.group'))
    out += _group(group, md)
    out += _names(names, "spec.names")
    scope = spec.get("scope")
    if not scope:
        out.append(required("spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        out.append(not_supported("spec.scope", scope, ["Cluster", "Namespaced"]))
    if spec.get("preserveUnknownFields") is True:
        out.append(invalid("spec.preserveUnknownFields", True, "cannot set to true, set "
                           "x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead"))
    strategy = as_str(as_dict(spec.get("conversion")).get("strategy")) or "None"
    if strategy != "None":
        out.append(not_supported("spec.conversion.strategy", strategy, ["None"]))
    out += _versions(dicts(spec.get("versions")), "spec.versions")
    return out


def crd_update_causes(new: Obj, old: Obj) -> list[Cause]:
    """What may not change once a CRD exists."""
    ns, os_ = as_dict(new.get("spec")), as_dict(old.get("spec"))
    out = []
    if ns.get("group") != os_.get("group"):
        out.append(invalid("spec.group", ns.get("group"), "field is immutable"))
    if ns.get("scope") != os_.get("scope"):
        out.append(invalid("spec.scope", ns.get("scope"), "field is immutable"))
    served = {as_str(v.get("name")) for v in dicts(ns.get("versions"))}
    for i, stored in enumerate(as_list(as_dict(new.get("status")).get("storedVersions"))):
        if stored not in served:
            out.append(invalid(f"status.storedVersions[{i}]", stored, "must appear in spec.versions"))
    return out


def _group(group: str, md: Obj) -> list[Cause]:
    if not group:
        return [required("spec.group")]
    out = [invalid("spec.group", group, m) for m in dns1123_subdomain(group)]
    if "." not in group:
        out.append(invalid("spec.group", group, "should be a domain with at least one dot"))
    protected = group in ("k8s.io", "kubernetes.io") or group.endswith((".k8s.io", ".kubernetes.io"))
    if protected and not as_str(as_dict(md.get("annotations")).get(APPROVAL)):
        out.append(required(f"metadata.annotations[{APPROVAL}]",
                            f'protected groups must have approval annotation "{APPROVAL}", see '
                            "https://github.com/kubernetes/enhancements/pull/1111"))
    return out


def _names(names: Obj, path: str) -> list[Cause]:
    out: list[Cause] = []
    plural, singular = as_str(names.get("plural")), as_str(names.get("singular"))
    kind, list_kind = as_str(names.get("kind")), as_str(names.get("listKind"))
    if not plural:
        out.append(required(f"{path}.plural"))
    out += [invalid(f"{path}.plural", plural, m) for m in dns1123_label(plural)] if plural else []
    out += [invalid(f"{path}.singular", singular, m) for m in dns1123_label(singular)] if singular else []
    for field, value in (("kind", kind), ("listKind", list_kind)):
        if not value:
            out.append(required(f"{path}.{field}"))
        elif not _KIND_RE.fullmatch(value) or dns1035_label(value.lower()):
            out.append(invalid(f"{path}.{field}", value, "may have mixed case, but should otherwise "
                               "match: [a-z]([-a-z0-9]*[a-z0-9])?"))
    if kind and kind == list_kind:
        out.append(invalid(f"{path}.listKind", list_kind, "kind and listKind may not be the same"))
    for field in ("shortNames", "categories"):
        for i, value in enumerate(as_list(names.get(field))):
            out += [invalid(f"{path}.{field}[{i}]", value, m) for m in dns1123_label(as_str(value))]
    return out


def _versions(versions: list[Obj], path: str) -> list[Cause]:
    if not versions:
        return [required(path, "must have exactly one version marked as storage version")]
    out: list[Cause] = []
    seen: set[str] = set()
    for i, v in enumerate(versions):
        at = f"{path}[{i}]"
        name = as_str(v.get("name"))
        if not name:
            out.append(required(f"{at}.name"))
        else:
            out += [invalid(f"{at}.name", name, m) for m in dns1035_label(name)]
            if name in seen:
                out.append(duplicate(f"{at}.name", name))
            seen.add(name)
        out += _version(v, at)
    storage = [v for v in versions if v.get("storage") is True]
    if len(storage) != 1:
        out.append(invalid(path, [as_str(v.get("name")) for v in versions],
                           "must have exactly one version marked as storage version"))
    if not any(v.get("served") is True for v in versions):
        out.append(invalid(path, [as_str(v.get("name")) for v in versions],
                           "must have at least one version marked as served"))
    return out


def _version(v: Obj, at: str) -> list[Cause]:
    schema = as_dict(v.get("schema")).get("openAPIV3Schema")
    where = f"{at}.schema.openAPIV3Schema"
    if not isinstance(schema, dict):
        return [required(where, "schemas are required")]
    out = _structural(schema, where, root=True)
    if not out:
        try:
            compiled_schema(schema)
        except CompileError as exc:
            out.append(invalid(f"{where}.{exc.field}" if exc.field else where, exc.value, exc.detail))
    if not out:
        out += _defaults(schema, where)
    out += _subresources(as_dict(v.get("subresources")), schema, f"{at}.subresources")
    out += _printer_columns(dicts(v.get("additionalPrinterColumns")), f"{at}.additionalPrinterColumns")
    for i, f in enumerate(dicts(v.get("selectableFields"))):
        out += _selectable(as_str(f.get("jsonPath")), schema, f"{at}.selectableFields[{i}].jsonPath")
    return out


# -- structural schemas ----------------------------------------------------------------------

def _structural(s: Obj, where: str, *, root: bool = False, junctor: bool = False,
                int_or_string: bool = False) -> list[Cause]:
    out: list[Cause] = []
    for key, why in _FORBIDDEN_KEYWORDS.items():
        if key in s:
            out.append(forbidden(f"{where}.{key}", why))
    typ = s.get("type")
    ios = s.get("x-kubernetes-int-or-string") is True
    preserve = s.get("x-kubernetes-preserve-unknown-fields")
    if preserve is False:
        out.append(invalid(f"{where}.x-kubernetes-preserve-unknown-fields", False, "must be true or undefined"))
    if junctor:
        # x-kubernetes-int-or-string may spell its two types as anyOf/allOf [integer, string].
        allowed = ("type",) if int_or_string and typ in ("integer", "string") else ()
        for key in ("type", "default", "nullable", "x-kubernetes-preserve-unknown-fields",
                    "x-kubernetes-embedded-resource", "x-kubernetes-int-or-string", "additionalProperties"):
            if key in s and key not in allowed:
                out.append(forbidden(f"{where}.{key}", "must be empty to be structural"))
    elif root and typ != "object":
        out.append(not_supported(f"{where}.type", typ, ["object"]) if typ else required(f"{where}.type", "must be object at the root"))
    elif typ is None and not ios and preserve is not True:
        out.append(required(f"{where}.type", "must not be empty for specified object fields"))
    elif typ is not None and typ not in _TYPES:
        out.append(not_supported(f"{where}.type", typ, _TYPES))
    if ios and typ is not None and not junctor:
        out.append(invalid(f"{where}.type", typ, "must be empty if x-kubernetes-int-or-string is true"))
    if s.get("x-kubernetes-embedded-resource") is True:
        if typ != "object":
            out.append(invalid(f"{where}.type", typ, "must be object if x-kubernetes-embedded-resource is true"))
        if not s.get("properties") and preserve is not True:
            out.append(required(f"{where}.properties", "must not be empty if x-kubernetes-embedded-resource is "
                                                       "true without x-kubernetes-preserve-unknown-fields"))
    if s.get("uniqueItems") is True:
        out.append(forbidden(f"{where}.uniqueItems",
                             "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"))
    props = s.get("properties")
    extra = s.get("additionalProperties")
    if isinstance(props, dict) and props and extra not in (None, False) and not junctor:
        out.append(forbidden(f"{where}.additionalProperties", "additionalProperties and properties are mutual exclusive"))
    if extra is False and not junctor:
        out.append(forbidden(f"{where}.additionalProperties", "must not be false"))
    if typ == "array" and not isinstance(s.get("items"), dict) and not junctor:
        out.append(required(f"{where}.items", "must be specified"))
    out += _list_type(s, where)
    if root:
        out += _root_properties(as_dict(props), where)
    for name, sub in as_dict(props).items():
        if isinstance(sub, dict) and not (root and name in ("metadata", "apiVersion", "kind")):
            out += _structural(sub, f"{where}.properties[{name}]", junctor=junctor)
    if isinstance(extra, dict):
        out += _structural(extra, f"{where}.additionalProperties", junctor=junctor)
    if isinstance(s.get("items"), dict):
        out += _structural(s["items"], f"{where}.items", junctor=junctor)
    for key in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(as_list(s.get(key))):
            if isinstance(sub, dict):
                out += _structural(sub, f"{where}.{key}[{i}]", junctor=True,
                                   int_or_string=ios and key in ("allOf", "anyOf"))
    if isinstance(s.get("not"), dict):
        out += _structural(s["not"], f"{where}.not", junctor=True)
    return out


def _root_properties(props: Obj, where: str) -> list[Cause]:
    out = []
    meta = props.get("metadata")
    if isinstance(meta, dict):
        extra = set(meta) - {"type", "description"}
        names = set(as_dict(meta.get("properties"))) - {"name", "generateName"}
        if meta.get("type") not in (None, "object"):
            out.append(invalid(f"{where}.properties[metadata].type", meta.get("type"), "must be object"))
        if names or extra - {"properties"}:
            out.append(forbidden(f"{where}.properties[metadata]",
                                 "must not specify anything other than name and generateName, but "
                                 "metadata is implicitly specified"))
    for name in ("apiVersion", "kind"):
        sub = props.get(name)
        if isinstance(sub, dict) and sub.get("type") not in (None, "string"):
            out.append(invalid(f"{where}.properties[{name}].type", sub.get("type"), "must be string"))
    return out


def _list_type(s: Obj, where: str) -> list[Cause]:
    list_type = s.get("x-kubernetes-list-type")
    keys = s.get("x-kubernetes-list-map-keys")
    out: list[Cause] = []
    if list_type is None:
        if keys is not None:
            out.append(forbidden(f"{where}.x-kubernetes-list-map-keys",
                                 "must not be set if x-kubernetes-list-type is not map"))
        return out
    if s.get("type") != "array":
        return [invalid(f"{where}.type", s.get("type"), "must be array if x-kubernetes-list-type is specified")]
    if list_type not in ("atomic", "set", "map"):
        return [not_supported(f"{where}.x-kubernetes-list-type", list_type, ["atomic", "set", "map"])]
    items = as_dict(s.get("items"))
    if list_type == "set" and items.get("type") in ("object", "array") and items.get("x-kubernetes-map-type") != "atomic":
        out.append(invalid(f"{where}.items.type", items.get("type"),
                           "must be a scalar type if x-kubernetes-list-type is set"))
    if list_type == "map":
        if not keys:
            out.append(required(f"{where}.x-kubernetes-list-map-keys",
                                "must not be empty if x-kubernetes-list-type is map"))
        if items.get("type") != "object":
            out.append(invalid(f"{where}.items.type", items.get("type"),
                               "must be object if parent array's x-kubernetes-list-type is map"))
        props, req = as_dict(items.get("properties")), as_list(items.get("required"))
        for i, key in enumerate(as_list(keys)):
            sub = props.get(key)
            if not isinstance(sub, dict):
                out.append(invalid(f"{where}.x-kubernetes-list-map-keys[{i}]", key,
                                   "entries must all be names of item properties"))
            elif sub.get("type") in ("object", "array"):
                out.append(invalid(f"{where}.items.properties[{key}].type", sub.get("type"),
                                   "must be a scalar type if parent array's x-kubernetes-list-type is map"))
            elif key not in req and "default" not in sub:
                out.append(required(f"{where}.items.properties[{key}]",
                                    "this property is in x-kubernetes-list-map-keys, so it must have a "
                                    "default or be a required property"))
    return out


def _defaults(s: Obj, where: str, at: str = "") -> list[Cause]:
    """Every `default:` must be valid against its own schema (and keep no unknown field);
    `at` is where the default lands in an object (`spec.replicas`), as kube's messages say."""
    out: list[Cause] = []
    if "default" in s:
        node = structural.compile_schema({k: v for k, v in s.items()
                                          if k not in ("default", "x-kubernetes-validations")})
        value = s["default"]
        for c in structural.validate(node, value, path=at):
            out.append({**c, "field": f"{where}.default"})
        found = structural.unknown(node, value if isinstance(value, dict) else {}, frozenset()) \
            if s.get("type") == "object" and s.get("x-kubernetes-preserve-unknown-fields") is not True else []
        for path in found:
            if path not in ("apiVersion", "kind", "metadata"):
                out.append(invalid(f"{where}.default.{path}", value, "must not have unknown fields"))
    for name, sub in as_dict(s.get("properties")).items():
        if isinstance(sub, dict):
            out += _defaults(sub, f"{where}.properties[{name}]", f"{at}.{name}" if at else name)
    if isinstance(s.get("additionalProperties"), dict):
        out += _defaults(s["additionalProperties"], f"{where}.additionalProperties", f"{at}[*]")
    if isinstance(s.get("items"), dict):
        out += _defaults(s["items"], f"{where}.items", f"{at}[*]")
    return out


# -- subresources, columns, selectable fields ----------------------------------------------

def _schema_at(schema: Obj, path: str) -> Obj | None:
    node: Any = schema
    for part in path.lstrip(".").split("."):
        props = as_dict(as_dict(node).get("properties"))
        node = props.get(part)
        if not isinstance(node, dict):
            return None
    return node


def _subresources(subs: Obj, schema: Obj, at: str) -> list[Cause]:
    scale = subs.get("scale")
    if scale is None:
        return []
    scale = as_dict(scale)
    out: list[Cause] = []
    spec_path, status_path = as_str(scale.get("specReplicasPath")), as_str(scale.get("statusReplicasPath"))
    selector = as_str(scale.get("labelSelectorPath"))
    if not spec_path:
        out.append(required(f"{at}.scale.specReplicasPath"))
    elif not spec_path.startswith(".spec.") or not re.fullmatch(r"(\.[A-Za-z0-9_-]+)+", spec_path):
        out.append(invalid(f"{at}.scale.specReplicasPath", spec_path, "should be a json path under .spec"))
    elif (node := _schema_at(schema, spec_path)) is not None and node.get("type") != "integer":
        out.append(invalid(f"{at}.scale.specReplicasPath", spec_path, "should be a json path to an integer"))
    if not status_path:
        out.append(required(f"{at}.scale.statusReplicasPath"))
    elif not status_path.startswith(".status.") or not re.fullmatch(r"(\.[A-Za-z0-9_-]+)+", status_path):
        out.append(invalid(f"{at}.scale.statusReplicasPath", status_path, "should be a json path under .status"))
    if selector and (not selector.startswith((".spec.", ".status."))
                     or not re.fullmatch(r"(\.[A-Za-z0-9_-]+)+", selector)):
        out.append(invalid(f"{at}.scale.labelSelectorPath", selector, "should be a json path under either .spec or .status"))
    return out


def _printer_columns(cols: list[Obj], at: str) -> list[Cause]:
    out: list[Cause] = []
    for i, col in enumerate(cols):
        where = f"{at}[{i}]"
        if not as_str(col.get("name")):
            out.append(required(f"{where}.name"))
        kind = as_str(col.get("type"))
        if not kind:
            out.append(required(f"{where}.type"))
        elif kind not in columns.COLUMN_TYPES:
            out.append(not_supported(f"{where}.type", kind, list(columns.COLUMN_TYPES)))
        path = as_str(col.get("jsonPath"))
        if not path:
            out.append(required(f"{where}.jsonPath"))
        else:
            try:
                columns.path_of(path)
            except JSONPathError as exc:
                out.append(invalid(f"{where}.jsonPath", path, f"must be a simple json path starting with .: {exc}"))
    return out


def _selectable(path: str, schema: Obj, at: str) -> list[Cause]:
    if not path:
        return [required(at)]
    node = _schema_at(schema, path) if re.fullmatch(r"(\.[A-Za-z0-9_-]+)+", path) else None
    if node is None:
        return [invalid(at, path, "is an invalid path: must point to a field in the schema")]
    if node.get("type") not in ("string", "integer", "boolean"):
        return [invalid(at, path, "selectable field type must be one of: boolean, integer, string")]
    return []
