"""`CustomKind`: one served version of a CustomResourceDefinition, as a Kind.

Built at run time from the CRD (its accepted names, scope, subresources, printer columns and
the version's structural schema, compiled once per schema) and registered by the API server
while the CRD is Established. Writes go through the same store as built-in kinds:

* defaulting, unknown-field detection and pruning, and validation come from the schema
  (structural.py, with CEL rules in cel.py), metadata from ObjectMeta's rules;
* the status subresource keeps `status` out of main-resource writes (and the other way round);
* objects are stored in the CRD's storage version and read through any served version with
  the None conversion strategy: only apiVersion changes.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from ...machinery.types import Obj
from ..fields import as_dict, as_list, as_str, dicts
from ..info import SCALE, STATUS, ResourceInfo, Subresource
from ..kind import Kind
from ..schema import definition, object_meta_fields
from ..validation import Cause, dns1123_subdomain
from . import columns, structural

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


@functools.lru_cache(maxsize=256)
def _compiled(schema_json: str) -> structural.Node:
    return structural.compile_schema(json.loads(schema_json))


def compiled_schema(schema: Any) -> structural.Node:
    """A version's openAPIV3Schema compiled, once per distinct schema (CompileError if it cannot be)."""
    return _compiled(json.dumps(schema if isinstance(schema, dict) else {}, sort_keys=True))


def storage_version(crd: Obj) -> str:
    """The name of the version a CRD's objects are stored in ('' when none is marked)."""
    for v in dicts(as_dict(crd.get("spec")).get("versions")):
        if v.get("storage") is True:
            return as_str(v.get("name"))
    return ""


def scale_paths(version: Obj) -> tuple[str, str, str] | None:
    """(specReplicasPath, statusReplicasPath, labelSelectorPath) of a version's scale subresource."""
    scale = as_dict(as_dict(version.get("subresources")).get("scale"))
    if not scale and "scale" not in as_dict(version.get("subresources")):
        return None
    return (as_str(scale.get("specReplicasPath")), as_str(scale.get("statusReplicasPath")),
            as_str(scale.get("labelSelectorPath")))


class CustomKind(Kind):
    """A served version of a CRD: its ResourceInfo, schema and REST strategy."""

    def __init__(self, crd: Obj, version: Obj) -> None:
        spec = as_dict(crd.get("spec"))
        names = as_dict(as_dict(crd.get("status")).get("acceptedNames")) or as_dict(spec.get("names"))
        subs = as_dict(version.get("subresources"))
        has_status = "status" in subs
        self.scale = scale_paths(version)
        subresources: tuple[Subresource, ...] = ((STATUS,) if has_status else ()) + \
            ((SCALE,) if self.scale is not None else ())
        group, plural = as_str(spec.get("group")), as_str(names.get("plural"))
        info = ResourceInfo(
            group, as_str(version.get("name")), plural, as_str(names.get("kind")),
            as_str(names.get("singular")) or as_str(names.get("kind")).lower(),
            spec.get("scope") != "Cluster",
            tuple(as_str(n) for n in as_list(names.get("shortNames"))),
            tuple(as_str(c) for c in as_list(names.get("categories"))),
            subresources=subresources, has_status=has_status, custom=True,
            selectable_fields=tuple(as_str(f.get("jsonPath")).lstrip(".")
                                    for f in dicts(version.get("selectableFields"))))
        super().__init__(info, printer=columns.printer(version.get("additionalPrinterColumns")),
                         name_check=dns1123_subdomain)
        self.list_kind = as_str(names.get("listKind")) or info.kind + "List"
        self.crd_name = as_str(as_dict(crd.get("metadata")).get("name"))
        self.crd_uid = as_str(as_dict(crd.get("metadata")).get("uid"))
        self.root = compiled_schema(as_dict(version.get("schema")).get("openAPIV3Schema"))
        self.raw_schema = as_dict(as_dict(version.get("schema")).get("openAPIV3Schema"))
        self._storage = f"{group}/{storage_version(crd) or info.version}"
        self.terminating = False  # its CRD is being deleted: no new objects

    @property
    def storage_version(self) -> str:
        return self._storage

    # -- schema -----------------------------------------------------------------------------

    def default(self, obj: Obj) -> None:
        structural.default(self.root, obj)

    def schema(self) -> CustomKind:
        return self  # it checks its objects itself (ObjectSchema)

    def check(self, obj: Obj) -> tuple[list[Cause], list[str]]:
        """One pass: the schema's causes (no CEL rules: they need the old object) and unknown fields."""
        return self._schema_causes(obj), self._unknown(obj)

    def _unknown(self, obj: Obj) -> list[str]:
        return structural.unknown(self.root, obj, object_meta_fields())

    def _schema_causes(self, obj: Obj, old: Obj | None = None) -> list[Cause]:
        causes = _metadata_causes(obj.get("metadata"))
        return causes + structural.validate(self.root, obj, old)

    def check_write(self, obj: Obj, old: Obj | None = None) -> tuple[list[str], list[Cause]]:
        unknown = self._unknown(obj)
        if unknown:
            return unknown, []
        return [], self.validate(obj, old)

    def validate(self, obj: Obj, old: Obj | None = None) -> list[Cause]:
        return self._with_rules(self._schema_causes(obj, old), obj, old)

    def drop_unknown(self, obj: Obj, paths: list[str]) -> None:
        structural.prune(self.root, obj, object_meta_fields())

    # -- strategy ---------------------------------------------------------------------------

    def refuses_create(self) -> str:
        return "create not allowed while custom resource definition is terminating" if self.terminating else ""

    def prepare_for_create(self, obj: Obj) -> None:
        if self.info.has_status:
            obj.pop("status", None)  # written through /status only


def _metadata_causes(md: Any) -> list[Cause]:
    if not isinstance(md, dict):
        return []
    causes = definition(OBJECT_META).check(md)[0]
    for c in causes:  # the check's paths are relative to metadata
        field = c["field"]
        c["field"] = f"metadata.{field}" if field else "metadata"
        c["message"] = c["message"].replace(f"{field} in body", f"{c['field']} in body")
    return causes
