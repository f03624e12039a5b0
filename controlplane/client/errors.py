"""Typed client errors, each carrying the metav1.Status the API server sent."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error response from the API server; `status` is its metav1.Status body."""

    code: int = 0

    def __init__(self, code: int, status: dict[str, Any]) -> None:
        self.code = code
        self.status = status
        self.reason: str = status.get("reason") or ""
        self.message: str = status.get("message") or f"HTTP {code}"
        super().__init__(f"{code} {self.reason}: {self.message}" if self.reason else self.message)

    @property
    def temporary(self) -> bool:
        """Whether retrying the same request later may succeed."""
        return self.code in (409, 429) or self.code >= 500


class BadRequest(ApiError):
    pass


class Forbidden(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    """409 Conflict: a stale resourceVersion or a failed precondition."""


class AlreadyExists(Conflict):
    """409 AlreadyExists: a create of a name that is taken."""


class Expired(ApiError):
    """410: the resourceVersion asked for has been compacted away; re-list."""


class Invalid(ApiError):
    """422 Invalid: `causes` names the fields."""

    @property
    def causes(self) -> list[dict[str, Any]]:
        return list((self.status.get("details") or {}).get("causes") or [])


class ServerError(ApiError):
    pass


class Unavailable(ServerError):
    """503 or a connection failure: the API server could not be reached or is not ready."""


_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest, 403: Forbidden, 404: NotFound, 409: Conflict, 410: Expired, 422: Invalid,
    503: Unavailable,
}


def from_response(code: int, body: Any) -> ApiError:
    """The typed error for an HTTP error response (body: the decoded JSON, or text)."""
    if isinstance(body, dict) and body.get("kind") == "Status":
        status = body
    else:
        status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
                  "message": body if isinstance(body, str) and body else f"HTTP {code}"}
    if code == 409 and status.get("reason") == "AlreadyExists":
        return AlreadyExists(code, status)
    cls = _BY_CODE.get(code) or (ServerError if code >= 500 else ApiError)
    return cls(code, status)


def unavailable(message: str) -> Unavailable:
    return Unavailable(503, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 503,
                             "reason": "ServiceUnavailable", "message": message})
