"""Subresources: scale (autoscaling/v1 Scale), binding, eviction (eviction.py), namespace finalize,
a ServiceAccount's token (tokens.py), and the ones served by the pod's node agent (log, exec,
portforward). Status is the handlers' own."""

from __future__ import annotations

from typing import Any, Callable

from aiohttp import web

from ..machinery import meta as m
from ..resources import rules, validation
from . import errors, patching, request as req, tokens
from .eviction import evict
from .paths import Target
from .responses import json_response
from .scale import replicas_of, set_replicas, to_scale
from .storage import ObjectStore


async def dispatch(objects: ObjectStore, request: web.Request, target: Target) -> web.StreamResponse:
    sub, method = target.subresource, request.method
    if sub == "scale":
        if method == "GET":
            return json_response(to_scale(target.info, objects.get(target.info, target.namespace,
                                                                  target.name).obj))
        if method == "PUT":
            return json_response(await put_scale(objects, request, target))
        if method == "PATCH":
            return await patching.patch(objects, request, target, subresource="scale")
    elif sub == "binding" and method == "POST":
        return json_response(await bind(objects, request, target), 201)
    elif sub == "eviction" and method == "POST":
        return json_response(await evict(objects, request, target), 201)
    elif sub == "finalize" and method == "PUT":
        return await finalize(objects, request, target)
    elif sub == "token" and method == "POST":
        return await tokens.create_token(objects, request, target)
    elif sub in ("log", "exec", "portforward"):
        key = "node_proxy" if sub == "log" else f"{sub}_proxy"
        proxy = request.app.get(key) if hasattr(request.app, "get") else None
        if proxy is not None:
            return await proxy(request, target)
        raise errors.ApiError(503, f"{sub} is served by the pod's node agent, and no node agent "
                                   "connection is available on this control plane", "ServiceUnavailable")
    raise errors.method_not_allowed(method, target.describe)


async def put_scale(objects: ObjectStore, request: web.Request, target: Target) -> dict[str, Any]:
    body = await req.read_object(request)
    replicas = replicas_of(body)
    rv = (body.get("metadata") or {}).get("resourceVersion", "")

    def scaled(obj: dict[str, Any]) -> dict[str, Any]:
        return set_replicas(target.info, obj, replicas)

    obj = await objects.guaranteed_update(target.info, target.namespace, target.name, scaled,
                                            req.write_options(request), precondition_rv=rv)
    return to_scale(target.info, obj)


async def bind(objects: ObjectStore, request: web.Request, target: Target) -> dict[str, Any]:
    body = await req.read_object(request)
    await objects.guaranteed_update(target.info, target.namespace, target.name, binder(target, body),
                                    req.write_options(request), subresource="binding")
    return BOUND


BOUND = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def binder(target: Target, body: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The mutation a Binding makes to its pod; 422 for a Binding that names no valid node."""
    node = (body.get("target") or {}).get("name")
    if not node:
        raise errors.ApiError(422, f'Binding "{target.name}" is invalid: target.name: Required value',
                              "Invalid", {"name": target.name, "kind": "Binding",
                                          "causes": [{"reason": "FieldValueRequired",
                                                      "message": "Required value", "field": "target.name"}]})
    # The bound pod skips the schema pass (storage.py): its one new value is checked here.
    bad = validation.dns1123_subdomain(node) if isinstance(node, str) else ["must be a string"]
    if bad:
        raise errors.ApiError(422, f'Binding "{target.name}" is invalid: target.name: Invalid value: '
                              f'"{node}": {"; ".join(bad)}', "Invalid",
                              {"name": target.name, "kind": "Binding",
                               "causes": [{"reason": "FieldValueInvalid", "message": "; ".join(bad),
                                           "field": "target.name"}]})

    # The Binding's annotations go onto the pod, as kube-apiserver's setPodHostAndAnnotations
    # does (the scheduler records there the scores that chose the node).
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
        raise errors.bad_request("Binding metadata.annotations must map strings to strings")

    def assign(pod: dict[str, Any]) -> dict[str, Any]:
        spec = pod.setdefault("spec", {})
        if pod.get("metadata", {}).get("deletionTimestamp"):
            raise errors.conflict(target.info, target.name, "pod is being deleted, cannot be assigned to a host")
        if spec.get("nodeName"):
            raise errors.conflict(target.info, target.name,
                                  f'pod {target.name} is already assigned to node "{spec["nodeName"]}"')
        spec["nodeName"] = node
        if annotations:
            md = pod.setdefault("metadata", {})
            merged = {**(md.get("annotations") or {}), **annotations}
            bad = rules.annotation_errors(merged, "metadata.annotations")
            if bad:
                raise errors.invalid(target.info, target.name, bad)
            md["annotations"] = merged
        # One write: no client ever sees a bound pod without its PodScheduled condition.
        status = pod.setdefault("status", {})
        conds = [c for c in status.get("conditions", []) if c.get("type") != "PodScheduled"]
        conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                      "lastTransitionTime": m.now_rfc3339()})
        status["conditions"] = conds
        return pod

    return assign


async def finalize(objects: ObjectStore, request: web.Request, target: Target) -> web.Response:
    """PUT /api/v1/namespaces/NAME/finalize: the namespace controller's last word."""
    body = await req.read_object(request)
    finalizers = (body.get("spec") or {}).get("finalizers") or []

    def set_finalizers(ns: dict[str, Any]) -> dict[str, Any]:
        ns.setdefault("spec", {})["finalizers"] = finalizers
        return ns

    obj = await objects.guaranteed_update(target.info, "", target.name, set_finalizers,
                                            req.write_options(request))
    return json_response(obj)
