"""Reviews about the caller, answered at once and never stored:

  * SelfSubjectAccessReview, "may I?", answered by the authorizer (`kubectl auth can-i`);
  * SelfSubjectRulesReview, "what may I do here?", the rules the user holds in a namespace
    (`kubectl auth can-i --list`);
  * SelfSubjectReview, "who am I?", answered from the authenticated user (`kubectl auth whoami`).
"""

from __future__ import annotations

from typing import Any, cast

from aiohttp import web

from ...auth.attributes import Attributes
from ...resources import registry
from ...resources.validation import required
from .. import errors, request as req
from ..responses import check_kind, json_response
from .authorizer import AUTHORIZER, RBACAuthorizer
from .middleware import ANONYMOUS, USER_KEY
from .review_proto import ProtoError, decode_review, decode_rules_review

PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
INFO = registry.lookup("authorization.k8s.io", "v1", "selfsubjectaccessreviews")
WHOAMI_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
RULES_PATH = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"
RULES_INFO = registry.lookup("authorization.k8s.io", "v1", "selfsubjectrulesreviews")
# What AlwaysAllow answers a rules review with (as kube's alwaysAllowAuthorizer.RulesFor).
_EVERYTHING = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
               {"nonResourceURLs": ["*"], "verbs": ["*"]}]


def _attributes(request: web.Request, spec: dict[str, Any]) -> Attributes:
    user = request.get(USER_KEY, ANONYMOUS)
    res, non = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    assert INFO is not None
    if not isinstance(res, dict) or not res:
        res = None
    if not isinstance(non, dict) or not non:
        non = None
    if (res is None) == (non is None):
        why = ("cannot be specified in combination with resourceAttributes" if res
               else "exactly one of nonResourceAttributes or resourceAttributes must be specified")
        raise errors.invalid(INFO, "", [cast(dict[str, str], required("spec.resourceAttributes", why))])
    if non is not None:
        return Attributes(user, str(non.get("verb") or ""), str(non.get("path") or ""))
    assert res is not None
    return Attributes(user, str(res.get("verb") or ""), "", True, str(res.get("group") or ""),
                      str(res.get("resource") or ""), str(res.get("subresource") or ""),
                      str(res.get("namespace") or ""), str(res.get("name") or ""))


async def _read(request: web.Request, info: registry.ResourceInfo | None, decode: Any) -> dict[str, Any]:
    """The review in the body, JSON or protobuf (kubectl's typed client sends protobuf)."""
    assert info is not None
    if "protobuf" in (request.content_type or ""):
        try:
            review = decode(await request.read())
        except (ProtoError, UnicodeDecodeError) as exc:
            raise errors.bad_request(f"the {info.kind} is not valid protobuf: {exc}") from None
    else:
        review = await req.read_object(request)
    check_kind(info, review)
    return review


async def create(request: web.Request) -> web.Response:
    review = await _read(request, INFO, decode_review)
    spec = review.get("spec")
    attrs = _attributes(request, spec if isinstance(spec, dict) else {})
    allowed = request.app[AUTHORIZER].allowed(attrs)
    review["status"] = {"allowed": allowed}
    review.setdefault("metadata", {})
    return json_response(review, 201)


async def rules(request: web.Request) -> web.Response:
    review = await _read(request, RULES_INFO, decode_rules_review)
    spec = review.get("spec")
    namespace = str(spec.get("namespace") or "") if isinstance(spec, dict) else ""
    decider = request.app[AUTHORIZER]
    if isinstance(decider, RBACAuthorizer):
        held = decider.held_rules(request.get(USER_KEY, ANONYMOUS), namespace)
    else:
        held = _EVERYTHING
    # A rule may name both resources and URLs (in a ClusterRole): it appears in both lists.
    resource_rules = [{k: r[k] for k in ("verbs", "apiGroups", "resources", "resourceNames") if r.get(k)}
                      for r in held if r.get("resources")]
    url_rules = [{k: r[k] for k in ("verbs", "nonResourceURLs")} for r in held if r.get("nonResourceURLs")]
    review["status"] = {"resourceRules": resource_rules, "nonResourceRules": url_rules, "incomplete": False}
    review.setdefault("metadata", {})
    return json_response(review, 201)


async def whoami(request: web.Request) -> web.Response:
    # The body says nothing a review needs (and kubectl sends it as protobuf): answer from the user.
    user = request.get(USER_KEY, ANONYMOUS)
    info: dict[str, Any] = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        info["uid"] = user.uid
    return json_response({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
                          "metadata": {}, "status": {"userInfo": info}}, 201)


async def not_allowed(request: web.Request) -> web.Response:
    raise errors.method_not_allowed(request.method, request.path.rsplit("/", 1)[-1])


def add_routes(app: web.Application) -> None:
    """Registered before the generic resource routes, which would store a review."""
    for path, handler in ((PATH, create), (RULES_PATH, rules), (WHOAMI_PATH, whoami)):
        app.router.add_post(path, handler)
        app.router.add_route("*", path, not_allowed)
        app.router.add_route("*", path + "/{tail:.*}", not_allowed)
