"""ServiceAccount tokens on the API: TokenRequest and TokenReview.

`POST /api/v1/namespaces/NS/serviceaccounts/NAME/token` (`kubectl create token`, and the node
gateway asking for a pod's projected token) answers a TokenRequest with a signed JWT
(auth/satokens.py) for the ServiceAccount, optionally bound to a Pod, Secret or Node of its
namespace: the token then dies with that object (authn.py checks it on every use). A token
bound to a pod also names the pod's node, as kube-apiserver does since 1.30.

`POST /apis/authentication.k8s.io/v1/tokenreviews` says whom a bearer token authenticates,
for webhooks and proxies that accept this cluster's tokens. Neither is ever stored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..auth import satokens
from ..auth.authn import Authenticator
from ..resources import registry
from ..resources.kinds.serviceaccount import SERVICE_ACCOUNT, TOKEN_REQUEST
from ..resources.validation import Cause, invalid, not_supported, required
from . import errors, request as req
from .paths import Target
from .responses import check_kind, json_response
from .storage import ObjectStore

BOUND_KINDS = {"Pod": "pods", "Secret": "secrets", "Node": "nodes"}
REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"
REVIEW_INFO = registry.lookup("authentication.k8s.io", "v1", "tokenreviews")


@dataclass(frozen=True)
class TokenIssuer:
    """What TokenRequest signs with and its defaults."""

    signer: satokens.Signer
    audiences: tuple[str, ...]
    """The audiences a request that names none gets (the API's own)."""
    max_expiration: int = 0
    """Longer requests are cut to this many seconds (0: no limit)."""


ISSUER = web.AppKey("token_issuer", TokenIssuer)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _rfc3339(unix: int) -> str:
    return dt.datetime.fromtimestamp(unix, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _spec_causes(spec: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    seconds = spec.get("expirationSeconds")
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        causes.append(invalid("spec.expirationSeconds", seconds, "must be an integer"))
    elif seconds < satokens.MIN_EXPIRATION:
        causes.append(invalid("spec.expirationSeconds", seconds, "may not specify a duration less than 10 minutes"))
    elif seconds > 2 ** 32:
        causes.append(invalid("spec.expirationSeconds", seconds, "may not specify a duration larger than 2^32 seconds"))
    audiences = spec.get("audiences")
    if not isinstance(audiences, list) or not all(isinstance(a, str) and a for a in audiences):
        causes.append(invalid("spec.audiences", audiences, "must be a list of non-empty strings"))
    bound = spec.get("boundObjectRef")
    if bound is not None:
        if not isinstance(bound, dict):
            causes.append(invalid("spec.boundObjectRef", bound, "must be an object"))
        else:
            if bound.get("kind") not in BOUND_KINDS:
                causes.append(not_supported("spec.boundObjectRef.kind", bound.get("kind"), list(BOUND_KINDS)))
            if bound.get("apiVersion") not in (None, "", "v1"):
                causes.append(not_supported("spec.boundObjectRef.apiVersion", bound.get("apiVersion"), ["v1"]))
            if not isinstance(bound.get("name"), str) or not bound.get("name"):
                causes.append(required("spec.boundObjectRef.name"))
    return causes


def _bound(objects: ObjectStore, namespace: str, account: str, ref: dict[str, Any]) -> dict[str, Any]:
    """The object a token is to be bound to; 404 if absent, 409 if it is not the uid named."""
    resource = BOUND_KINDS[ref["kind"]]
    info = registry.lookup("", "v1", resource)
    assert info is not None
    obj = objects.get(info, namespace if info.namespaced else "", ref["name"]).obj
    uid = (obj.get("metadata") or {}).get("uid", "")
    if ref.get("uid") and ref["uid"] != uid:
        raise errors.ApiError(409, f"the UID in the bound object reference ({ref['uid']}) does not match the "
                                   "UID in record. The object might have been deleted and then recreated",
                              "Conflict", {"name": ref["name"], "kind": resource})
    if resource == "pods" and ((obj.get("spec") or {}).get("serviceAccountName") or "default") != account:
        raise errors.bad_request(f"cannot bind token for serviceaccount {account!r} to pod running with "
                                 f"different serviceaccount name.")
    return obj


def _ref(obj: dict[str, Any]) -> satokens.Ref:
    md = obj.get("metadata") or {}
    return satokens.Ref(md.get("name", ""), md.get("uid", ""))


async def create_token(objects: ObjectStore, request: web.Request, target: Target) -> web.Response:
    """POST serviceaccounts/NAME/token."""
    issuer = request.app.get(ISSUER)
    if issuer is None:
        raise errors.ApiError(404, "serviceaccounts/token is not served: this API server has no service account "
                                   "signing key (start it with --pki-dir or --service-account-signing-key-file)",
                              "NotFound")
    body = await req.read_object(request)
    check_kind(TOKEN_REQUEST.info, body)
    account = objects.get(SERVICE_ACCOUNT.info, target.namespace, target.name).obj
    spec = _dict(body.get("spec"))
    spec = {**spec, "audiences": spec.get("audiences") or list(issuer.audiences),
            "expirationSeconds": spec.get("expirationSeconds") or satokens.DEFAULT_EXPIRATION}
    causes = _spec_causes(spec)
    if causes:
        raise errors.invalid(TOKEN_REQUEST.info, target.name, causes)
    if issuer.max_expiration and spec["expirationSeconds"] > issuer.max_expiration:
        spec["expirationSeconds"] = issuer.max_expiration
    pod = secret = node = None
    ref = spec.get("boundObjectRef")
    if ref:
        bound = _bound(objects, target.namespace, target.name, ref)
        spec["boundObjectRef"] = {"kind": ref["kind"], "apiVersion": "v1", "name": ref["name"],
                                  "uid": (bound.get("metadata") or {}).get("uid", "")}
        if ref["kind"] == "Pod":
            pod = _ref(bound)
            node_name = (bound.get("spec") or {}).get("nodeName")
            if node_name:
                node_info = registry.lookup("", "v1", "nodes")
                assert node_info is not None
                entry = objects.cache.get(objects.key(node_info, "", node_name))
                node = _ref(entry.obj) if entry is not None else satokens.Ref(node_name)
        elif ref["kind"] == "Secret":
            secret = _ref(bound)
        else:
            node = _ref(bound)
    token, expires = issuer.signer.mint(target.namespace, _ref(account), spec["audiences"],
                                        spec["expirationSeconds"], pod=pod, secret=secret, node=node)
    md = _dict(body.get("metadata"))
    return json_response({"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                          "metadata": {**md, "name": target.name, "namespace": target.namespace,
                                       "creationTimestamp": None},
                          "spec": spec, "status": {"token": token, "expirationTimestamp": _rfc3339(expires)}}, 201)


async def review(request: web.Request) -> web.Response:
    """POST tokenreviews: whom spec.token authenticates, for which of spec.audiences."""
    assert REVIEW_INFO is not None
    body = await req.read_object(request)
    check_kind(REVIEW_INFO, body)
    spec = _dict(body.get("spec"))
    token, audiences = spec.get("token"), spec.get("audiences") or []
    if not isinstance(token, str) or not token:
        raise errors.invalid(REVIEW_INFO, "", [required("spec.token")])
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise errors.invalid(REVIEW_INFO, "", [invalid("spec.audiences", audiences, "must be a list of strings")])
    authenticator = request.app.get(AUTHENTICATOR)
    user, matched, error = authenticator.review(token, tuple(audiences)) if authenticator else (None, (), "")
    status: dict[str, Any] = {"authenticated": user is not None, "user": {}}
    if user is not None:
        status["user"] = {"username": user.name, "uid": user.uid, "groups": list(user.groups)}
        if matched:
            status["audiences"] = list(matched)
    elif error:
        status["error"] = error
    return json_response({"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
                          "metadata": {**_dict(body.get("metadata")), "creationTimestamp": None},
                          "spec": spec, "status": status}, 201)


async def _not_allowed(request: web.Request) -> web.Response:
    raise errors.method_not_allowed(request.method, "tokenreviews")


def add_routes(app: web.Application) -> None:
    """Before the generic resource routes, which would store a review."""
    app.router.add_post(REVIEW_PATH, review)
    app.router.add_route("*", REVIEW_PATH, _not_allowed)
    app.router.add_route("*", REVIEW_PATH + "/{tail:.*}", _not_allowed)
