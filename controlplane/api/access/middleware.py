"""The aiohttp middleware that authenticates, then authorizes, every request.

Health and version stay open to anyone (kube-apiserver grants them to everyone through the
system:public-info-viewer role); everything else needs credentials when any authenticator is
configured: none gives 401, a bearer token nobody knows 401, an authorizer's no 403.
Without user authentication every request is system:anonymous (allowed under AlwaysAllow).
"""

from __future__ import annotations

from typing import Any, Callable

from aiohttp import web

from ...auth.authn import Authenticator, InvalidToken
from ...auth.user import UserInfo
from .. import request as req
from ..errors import ApiError
from . import attributes
from .authorizer import AlwaysAllow, Authorizer, forbidden

PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version", "/version/"})
BATCH_PATH = "/internal/batch"
"""Authenticated here, authorised by its handler (api/batch.py) item by item, each as the
request it stands for: the path itself grants nothing."""
USER_KEY = web.RequestKey("pyctl.user", UserInfo)
"""Where the authenticated UserInfo is kept on the request (for SelfSubjectAccessReview)."""
ANONYMOUS = UserInfo("system:anonymous", "", ("system:unauthenticated",))


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def _peercert(request: web.Request) -> dict[str, Any] | None:
    transport = request.transport
    return transport.get_extra_info("peercert") if transport is not None else None


def auth_middleware(authenticator: Authenticator, authorizer: Callable[[], Authorizer]):
    """`authorizer` is called per request: the RBAC authorizer exists only once the cache runs."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        if request.path in PUBLIC_PATHS:
            return await handler(request)
        try:
            user = authenticator.authenticate(_peercert(request), request.headers.get("Authorization", ""))
        except InvalidToken:
            raise unauthorized() from None
        if user is None:
            if authenticator.enabled:
                raise unauthorized()
            user = ANONYMOUS  # no way to log in is configured: the authorizer decides (opt-in auth)
        request[USER_KEY] = user
        decider = authorizer()
        # AlwaysAllow, the default: skip parsing the request twice. The batch authorises its items.
        if isinstance(decider, AlwaysAllow) or request.path == BATCH_PATH:
            return await handler(request)
        attrs = attributes.from_request(user, request.method, request.path, dict(request.query))
        if not decider.allowed(attrs):
            raise forbidden(attrs)
        request[req.AUTHORIZED_USER] = user  # writes check RBAC escalation against it
        return await handler(request)

    return middleware
