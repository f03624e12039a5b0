"""OpenAPI v3, as kube-apiserver serves it: `/openapi/v3` and one document per group-version.

Each document carries the REST paths of the group-version's resources (with the
`x-kubernetes-group-version-kind`, `x-kubernetes-action` and the `fieldValidation` parameter
kubectl looks for before it leaves validation to the server) and `components.schemas` with
every schema they reach: the built-in kinds' from Kubernetes 1.37's published definitions
(kubernetes-validate carries them, patch strategies and list types included), a CRD's from its
version's openAPIV3Schema (named `<reversed group>.<version>.<Kind>`, as kube names them). So
`kubectl explain` works to any depth, for custom kinds too, and clients can generate code.

Documents are built when first asked for and kept while the group-version's kinds stay the
same (a CRD change gives new kinds, so a new document and hash). The index links each one with
`?hash=<ETag>`; a request with the current hash is cached for good (`Cache-Control: immutable`),
an old hash is redirected to the current one, and an ETag answers If-None-Match with 304.
Strategic merge patch is offered for built-in kinds only: CRDs have no patch strategy.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, Iterable

from aiohttp import web

from ..machinery import jsonio
from ..resources import registry, schema as schemas
from ..resources.info import ResourceInfo
from ..resources.kind import Kind

_REF = "#/$defs/"
_COMPONENT = "#/components/schemas/"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_ALWAYS = (_META + "DeleteOptions", _META + "Status", _META + "Patch", _META + "WatchEvent",
           "io.k8s.api.autoscaling.v1.Scale")
# Types the published JSON schemas spell as a oneOf; kube's OpenAPI has them as strings.
_SCALARS = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
}
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


# ---------------------------------------------------------------------------------------------
# Schemas

def _oas(node: Any, gvk_owner: bool = False) -> Any:
    """A published JSON-schema (2020-12, strict) node as OpenAPI 3.0 has it."""
    if isinstance(node, list):
        return [_oas(x) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            if types:
                out["type"] = types[0]
        elif key == "additionalProperties" and value is False:
            continue  # the strict variant's; kube's own schemas leave it open
        elif key == "properties" and isinstance(value, dict):
            props = {k: _oas(v) for k, v in value.items()}
            if gvk_owner:  # kubernetes-validate pins apiVersion/kind with enums kube does not have
                for k in ("apiVersion", "kind"):
                    if isinstance(props.get(k), dict):
                        props[k].pop("enum", None)
            out[key] = props
        elif key == "$ref" and isinstance(value, str):
            out[key] = _COMPONENT + value.removeprefix(_REF)
        else:
            out[key] = _oas(value)
    if "$ref" in out and len(out) > 1:  # OpenAPI 3.0 ignores $ref siblings: kube wraps it
        out = {"allOf": [{"$ref": out.pop("$ref")}], **out}
    return out


@functools.lru_cache(maxsize=1)
def _builtin_components() -> dict[str, Any]:
    defs = schemas.definitions()
    out = {name: _oas(d, "x-kubernetes-group-version-kind" in d) for name, d in defs.items()}
    for name, replacement in _SCALARS.items():
        out[name] = {"description": defs.get(name, {}).get("description", ""), **replacement}
    return out


@functools.lru_cache(maxsize=1)
def _by_gvk() -> dict[tuple[str, str, str], str]:
    out: dict[tuple[str, str, str], str] = {}
    for name, d in schemas.definitions().items():
        for gvk in d.get("x-kubernetes-group-version-kind") or []:
            out.setdefault((gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", "")), name)
    return out


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_COMPONENT):
            found.add(ref[len(_COMPONENT):])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _closure(start: Iterable[str], components: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    todo = [n for n in start if n in components]
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out[name] = components[name]
        found: set[str] = set()
        _refs(out[name], found)
        todo += [n for n in found if n in components and n not in out]
    return out


def custom_name(group: str, version: str, kind: str) -> str:
    """kube's component name for a CRD kind: `com.example.v1.Widget`."""
    return ".".join([*reversed(group.split(".")), version, kind])


_TYPE_DOCS = {
    "apiVersion": "APIVersion defines the versioned schema of this representation of an object. Servers "
                  "should convert recognized schemas to the latest internal value, and may reject "
                  "unrecognized values. More info: https://git.k8s.io/community/contributors/devel/"
                  "sig-architecture/api-conventions.md#resources",
    "kind": "Kind is a string value representing the REST resource this object represents. Servers may "
            "infer this from the endpoint the client submits requests to. Cannot be updated. In "
            "CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/"
            "api-conventions.md#types-kinds",
}


def _custom_schemas(kind: Kind) -> dict[str, Any]:
    info = kind.info
    raw = dict(getattr(kind, "raw_schema", None) or {"type": "object"})
    props = dict(raw.get("properties") or {})
    for name, doc in _TYPE_DOCS.items():
        props[name] = {**(props.get(name) or {}), "type": "string", "description": doc}
    props["metadata"] = {"allOf": [{"$ref": _COMPONENT + _META + "ObjectMeta"}],
                         "description": "Standard object's metadata. More info: https://git.k8s.io/community/"
                                        "contributors/devel/sig-architecture/api-conventions.md#metadata"}
    name = custom_name(info.group, info.version, info.kind)
    gvk = {"group": info.group, "version": info.version, "kind": info.kind}
    list_kind = getattr(kind, "list_kind", info.kind + "List")
    return {
        name: {**raw, "type": "object", "properties": props, "x-kubernetes-group-version-kind": [gvk]},
        custom_name(info.group, info.version, list_kind): {
            "description": f"{list_kind} is a list of {info.kind}", "type": "object", "required": ["items"],
            "properties": {
                "apiVersion": {"type": "string", "description": _TYPE_DOCS["apiVersion"]},
                "kind": {"type": "string", "description": _TYPE_DOCS["kind"]},
                "items": {"type": "array", "items": {"$ref": _COMPONENT + name},
                          "description": f"List of {info.resource}. More info: "
                                         "https://k8s.io/docs/reference/kubectl/overview/"},
                "metadata": {"allOf": [{"$ref": _COMPONENT + _META + "ListMeta"}],
                             "description": "Standard list metadata."}},
            "x-kubernetes-group-version-kind": [{**gvk, "kind": list_kind}]},
    }


def _schema_names(kind: Kind) -> tuple[str | None, str | None]:
    """(object schema, list schema) names of a kind in the components."""
    info = kind.info
    if info.custom:
        return (custom_name(info.group, info.version, info.kind),
                custom_name(info.group, info.version, getattr(kind, "list_kind", info.kind + "List")))
    index = _by_gvk()
    return (index.get((info.group, info.version, info.kind)),
            index.get((info.group, info.version, info.kind + "List")))


# ---------------------------------------------------------------------------------------------
# Paths

def _param(name: str, where: str = "query", type_: str = "string", required: bool = False) -> dict[str, Any]:
    p: dict[str, Any] = {"name": name, "in": where, "schema": {"type": type_, "uniqueItems": True}}
    if required:
        p["required"] = True
    return p


_WRITE = [_param("dryRun"), _param("fieldManager"), _param("fieldValidation")]
_LIST = [_param("allowWatchBookmarks", type_="boolean"), _param("continue"), _param("fieldSelector"),
         _param("labelSelector"), _param("limit", type_="integer"), _param("resourceVersion"),
         _param("resourceVersionMatch"), _param("sendInitialEvents", type_="boolean"),
         _param("timeoutSeconds", type_="integer"), _param("watch", type_="boolean")]
_DELETE = [_param("dryRun"), _param("gracePeriodSeconds", type_="integer"),
           _param("propagationPolicy"), _param("orphanDependents", type_="boolean")]


def _json(ref: str | None) -> dict[str, Any]:
    schema = {"$ref": _COMPONENT + ref} if ref else {"type": "object"}
    return {"content": {t: {"schema": schema} for t in ("application/json", "application/yaml")}}


def _op(verb: str, action: str, op_id: str, gvk: dict[str, str], params: list[dict[str, Any]],
        response: str | None, body: str | None = None, patch_types: tuple[str, ...] = ()) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": op_id, "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk,
        "parameters": params,
        "responses": {"200": {"description": "OK", **_json(response)}, "401": {"description": "Unauthorized"}},
    }
    if body:
        op["requestBody"] = {"required": True, **_json(body)}
    if patch_types:
        op["requestBody"] = {"required": True, "content": {
            t: {"schema": {"$ref": _COMPONENT + _META + "Patch"}} for t in patch_types}}
    if verb == "post":
        op["responses"]["201"] = {"description": "Created", **_json(response)}
    return op


def _op_prefix(group: str, version: str) -> str:
    parts = group.removesuffix(".k8s.io").split(".") if group else ["core"]
    return "".join(p[:1].upper() + p[1:] for p in parts) + version[:1].upper() + version[1:]


def _paths(kind: Kind, obj: str | None, lst: str | None) -> dict[str, Any]:
    info: ResourceInfo = kind.info
    base = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
    scope = "Namespaced" if info.namespaced else ""
    prefix = _op_prefix(info.group, info.version)
    gvk = {"group": info.group, "version": info.version, "kind": info.kind}
    ns = [_param("namespace", "path", required=True)] if info.namespaced else []
    name = [_param("name", "path", required=True)]
    collection = f"{base}/namespaces/{{namespace}}/{info.resource}" if info.namespaced else f"{base}/{info.resource}"
    patch_types = (JSON_PATCH, MERGE_PATCH, APPLY) if info.custom else (JSON_PATCH, MERGE_PATCH, STRATEGIC, APPLY)
    verbs = set(info.verbs)
    paths: dict[str, Any] = {}
    item: dict[str, Any] = {}
    coll: dict[str, Any] = {}
    k = f"{scope}{info.kind}"
    if "list" in verbs:
        coll["get"] = _op("get", "list", f"list{prefix}{k}", gvk, ns + _LIST, lst)
    if "create" in verbs:
        coll["post"] = _op("post", "post", f"create{prefix}{k}", gvk, ns + _WRITE, obj, body=obj)
    if "deletecollection" in verbs:
        coll["delete"] = _op("delete", "deletecollection", f"deletecollection{prefix}{k}", gvk,
                             ns + _DELETE + _LIST, _META + "Status")
    if "get" in verbs:
        item["get"] = _op("get", "get", f"read{prefix}{k}", gvk, ns + name, obj)
    if "update" in verbs:
        item["put"] = _op("put", "put", f"replace{prefix}{k}", gvk, ns + name + _WRITE, obj, body=obj)
    if "patch" in verbs:
        item["patch"] = _op("patch", "patch", f"patch{prefix}{k}", gvk,
                            ns + name + _WRITE + [_param("force", type_="boolean")], obj, patch_types=patch_types)
    if "delete" in verbs:
        item["delete"] = _op("delete", "delete", f"delete{prefix}{k}", gvk, ns + name + _DELETE, obj,
                             body=_META + "DeleteOptions")
    if coll:
        paths[collection] = coll
    if item:
        paths[f"{collection}/{{name}}"] = item
    if info.namespaced and "list" in verbs:
        paths[f"{base}/{info.resource}"] = {"get": _op("get", "list", f"list{prefix}{info.kind}ForAllNamespaces",
                                                       gvk, _LIST, lst)}
    for sub in info.subresources:
        if sub.name not in ("status", "scale"):
            continue
        body = obj if sub.name == "status" else "io.k8s.api.autoscaling.v1.Scale"
        sgvk = gvk if sub.name == "status" else {"group": "autoscaling", "version": "v1", "kind": "Scale"}
        title = sub.name.capitalize()
        paths[f"{collection}/{{name}}/{sub.name}"] = {
            "get": _op("get", "get", f"read{prefix}{k}{title}", sgvk, ns + name, body),
            "put": _op("put", "put", f"replace{prefix}{k}{title}", sgvk, ns + name + _WRITE, body, body=body),
            "patch": _op("patch", "patch", f"patch{prefix}{k}{title}", sgvk,
                         ns + name + _WRITE + [_param("force", type_="boolean")], body, patch_types=patch_types),
        }
    return paths


# ---------------------------------------------------------------------------------------------
# Documents

class _Doc:
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.etag = hashlib.sha512(body).hexdigest().upper()


_docs: dict[tuple[str, str], tuple[tuple[Kind, ...], _Doc]] = {}


def _build(group: str, version: str, kinds: tuple[Kind, ...]) -> _Doc:
    components = _builtin_components()
    schemas_out: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    wanted: list[str] = list(_ALWAYS)
    for kind in kinds:
        obj, lst = _schema_names(kind)
        if kind.info.custom:
            custom = _custom_schemas(kind)
            schemas_out.update(custom)
            for schema in custom.values():
                found: set[str] = set()
                _refs(schema, found)
                wanted += found
        else:
            wanted += [n for n in (obj, lst) if n]
        paths.update(_paths(kind, obj, lst))
    schemas_out = {**_closure(wanted, components), **schemas_out}
    doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.37.0"},
           "paths": paths, "components": {"schemas": dict(sorted(schemas_out.items()))}}
    return _Doc(jsonio.dumps(doc))


def document(group: str, version: str) -> _Doc | None:
    """The document of a served group-version (kept while its kinds stay the same)."""
    kinds = tuple(k for k in registry.REGISTRY.kinds() if k.info.group == group and k.info.version == version)
    if not kinds:
        return None
    cached = _docs.get((group, version))
    if cached is not None and cached[0] == kinds:
        return cached[1]
    doc = _build(group, version, kinds)
    _docs[(group, version)] = (kinds, doc)
    return doc


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


async def root(request: web.Request) -> web.Response:
    paths = {}
    for g, v in registry.group_versions():
        doc = document(g, v)
        if doc is not None:
            paths[_gv_path(g, v)] = {"serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}?hash={doc.etag}"}
    return web.json_response({"paths": paths}, headers={"Cache-Control": "no-cache, private"})


async def group_version(request: web.Request) -> web.Response:
    tail = request.match_info["tail"].strip("/").split("/")
    if tail[:1] == ["api"] and len(tail) == 2:
        group, version = "", tail[1]
    elif tail[:1] == ["apis"] and len(tail) == 3:
        group, version = tail[1], tail[2]
    else:
        raise web.HTTPNotFound()
    doc = document(group, version)
    if doc is None:
        raise web.HTTPNotFound()
    etag = f'"{doc.etag}"'
    wanted = request.query.get("hash")
    if wanted and wanted != doc.etag:  # an old link: the document changed since
        raise web.HTTPMovedPermanently(f"/openapi/v3/{_gv_path(group, version)}?hash={doc.etag}",
                                       headers={"Cache-Control": "no-cache, private"})
    cache = "public, immutable" if wanted else "no-cache, private"
    headers = {"ETag": etag, "Cache-Control": cache, "Vary": "Accept"}
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=doc.body, content_type="application/json", headers=headers)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/openapi/v3", root)
    app.router.add_get("/openapi/v3/{tail:.+}", group_version)
