"""metav1.Status errors: the one place an error becomes an HTTP response body."""

from __future__ import annotations

import json
import logging
from typing import Any, Mapping, Sequence

from aiohttp import web

from ..resources.registry import ResourceInfo
from ..store import errors as store

log = logging.getLogger(__name__)

RETRY_AFTER = 1  # seconds a client is told to wait when etcd is slow or gone

_REASON_BY_CODE = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Expired",
    413: "RequestEntityTooLarge", 415: "UnsupportedMediaType", 422: "Invalid",
    429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}


class ApiError(Exception):
    """An error that the API returns as a metav1.Status."""

    def __init__(self, code: int, message: str, reason: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _REASON_BY_CODE.get(code, "Unknown")
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body

    def response(self) -> web.Response:
        resp = web.Response(status=self.code, body=json.dumps(self.status()).encode(),
                            content_type="application/json")
        retry = (self.details or {}).get("retryAfterSeconds")
        if retry:  # as kube-apiserver: the header repeats what the Status says
            resp.headers["Retry-After"] = str(retry)
        return resp


def _details(info: ResourceInfo, name: str, kind: str | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {"name": name, "kind": kind or info.resource}
    if info.group:
        d["group"] = info.group
    return d


def not_found(info: ResourceInfo, name: str) -> ApiError:
    return ApiError(404, f'{info.group_resource} "{name}" not found', "NotFound", _details(info, name))


def already_exists(info: ResourceInfo, name: str) -> ApiError:
    return ApiError(409, f'{info.group_resource} "{name}" already exists', "AlreadyExists",
                    _details(info, name))


def conflict(info: ResourceInfo, name: str, why: str | None = None) -> ApiError:
    why = why or ("the object has been modified; please apply your changes to the latest "
                  "version and try again")
    return ApiError(409, f'Operation cannot be fulfilled on {info.group_resource} "{name}": {why}',
                    "Conflict", _details(info, name))


def invalid(info: ResourceInfo, name: str, causes: Sequence[Mapping[str, Any]]) -> ApiError:
    summary = ", ".join(f"{c['field']}: {c['message']}" if c.get("field") else c["message"]
                        for c in causes)
    if len(causes) > 1:
        summary = f"[{summary}]"
    details = _details(info, name, kind=info.kind)
    details["causes"] = causes
    return ApiError(422, f'{info.qualified_kind} "{name}" is invalid: {summary}', "Invalid", details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "BadRequest")


def expired(requested: int | str, oldest: int | str) -> ApiError:
    return ApiError(410, f"too old resource version: {requested} ({oldest})", "Expired")


def namespace_not_found(namespace: str) -> ApiError:
    return ApiError(404, f'namespaces "{namespace}" not found', "NotFound",
                    {"name": namespace, "kind": "namespaces"})


def namespace_terminating(namespace: str, info: ResourceInfo, name: str) -> ApiError:
    return ApiError(403, f'{info.group_resource} "{name}" is forbidden: unable to create new content '
                         f'in namespace {namespace} because it is being terminated', "Forbidden",
                    _details(info, name))


def timeout(message: str, retry_after: int = RETRY_AFTER,
            causes: list[dict[str, str]] | None = None) -> ApiError:
    """kube's NewTimeoutError: 504, reason Timeout, and when to try again."""
    details: dict[str, Any] = {"retryAfterSeconds": retry_after}
    if causes:
        details["causes"] = causes
    return ApiError(504, f"Timeout: {message}", "Timeout", details)


def too_large_resource_version(requested: int, current: int) -> ApiError:
    """A resourceVersion the server has not reached (after waiting for it): kube's answer."""
    return timeout(f"Too large resource version: {requested}, current: {current}",
                   causes=[{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}])


def from_store(exc: store.StoreError) -> ApiError:
    """A store error no handler turned into something more precise."""
    if isinstance(exc, store.Timeout):
        return timeout(f"request did not complete within the allotted time: {exc}")
    if isinstance(exc, store.Unavailable):
        return ApiError(503, f"the storage backend is unavailable: {exc}", "ServiceUnavailable",
                        {"retryAfterSeconds": RETRY_AFTER})
    if isinstance(exc, store.Compacted):
        return expired(exc.requested, exc.compacted)
    if isinstance(exc, (store.KeyExists, store.RevisionMismatch)):
        return ApiError(409, f"Operation cannot be fulfilled: {exc}", "Conflict")
    if isinstance(exc, store.KeyNotFound):
        return ApiError(404, str(exc), "NotFound")
    return internal(exc)


def internal(exc: BaseException) -> ApiError:
    return ApiError(500, f"Internal error occurred: {type(exc).__name__}: {exc}", "InternalError",
                    {"causes": [{"message": str(exc)}]})


def method_not_allowed(method: str, what: str) -> ApiError:
    return ApiError(405, f"the server does not allow this method on the requested resource "
                         f"({method} {what})", "MethodNotAllowed")


@web.middleware
async def status_middleware(request: web.Request, handler):
    """Every error leaves as a metav1.Status; nothing leaves as an HTML page or a bare 500.

    etcd unreachable is 503 and etcd too slow 504, both with Retry-After; anything unexpected
    is a 500 InternalError Status, and its traceback goes to the log."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = "the server could not find the requested resource" if exc.status == 404 else exc.reason
        return ApiError(exc.status, message).response()
    except store.StoreError as exc:
        log.warning("%s %s: %s", request.method, request.path, exc)
        return from_store(exc).response()
    except Exception as exc:
        log.exception("%s %s failed", request.method, request.path)
        return internal(exc).response()
