"""The authorization attributes of an HTTP request.

Resource requests (`/api/...`, `/apis/{group}/{version}/...`) are named by the same URL
parser the handlers use (`paths.py`); everything else (`/healthz`, `/version`, discovery) is
a non-resource request whose verb is the lower-cased HTTP method.
"""

from __future__ import annotations

from ...auth.attributes import Attributes
from ...auth.user import UserInfo
from .. import paths
from ..errors import ApiError

_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
          "DELETE": "delete"}
# A websocket GET to these runs something in the pod: Kubernetes (1.35+) authorizes it as create.
_STREAMING = ("exec", "attach", "portforward")


def _is_watch(path: str, query: dict[str, str]) -> bool:
    at = 3 if path.startswith("/api/") else 4  # /api/v1/watch/..., /apis/{g}/{v}/watch/...
    return path.split("/")[at:at + 1] == ["watch"] or (query.get("watch") or "").lower() in ("1", "true")


def from_request(user: UserInfo, method: str, path: str, query: dict[str, str]) -> Attributes:
    """The attributes of one request; an unparsable /api path is treated as non-resource
    (the handler answers it with 404 once the user is allowed that far)."""
    if path.startswith(("/api/", "/apis/")):
        try:
            target = paths.parse(path)
        except ApiError:
            target = None
        if target is not None:
            verb = _VERBS.get(method, method.lower())
            if verb == "get" and target.subresource in _STREAMING:
                verb = "create"
            elif verb == "get" and not target.subresource and _is_watch(path, query):
                verb = "watch"
            elif not target.name and not target.subresource:
                verb = {"get": "list", "delete": "deletecollection"}.get(verb, verb)
            namespace = target.namespace
            if target.info.resource == "namespaces" and target.name:
                namespace = target.name  # as Kubernetes: a namespace lives in itself
            return Attributes(user, verb, path, True, target.info.group, target.info.resource,
                              target.subresource, namespace, target.name)
    return Attributes(user, method.lower() if method != "HEAD" else "get", path)
