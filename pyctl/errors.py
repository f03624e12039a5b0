"""The errors pyctl reports, and the one place they become the text kubectl would print."""

from __future__ import annotations

import json
from typing import Any


class PyctlError(Exception):
    """Anything pyctl reports to the user as `error: ...` (never as a traceback)."""

    def render(self) -> str:
        return f"error: {self}"


class CommandError(PyctlError):
    """Bad input from the user: arguments, flags, files."""


class UsageError(CommandError):
    """Wrong use of a command: the message is followed by a pointer to its help."""

    def __init__(self, message: str, command: str = "") -> None:
        super().__init__(message)
        self.command = command

    def render(self) -> str:
        where = f"pyctl {self.command} -h" if self.command else "pyctl -h"
        return f"error: {self}\nSee '{where}' for help and examples"


class UnreachableError(PyctlError):
    """The API server could not be reached at all."""

    def __init__(self, server: str, reason: str) -> None:
        self.server = server
        self.reason = reason
        hint = ""
        if reason == "connection refused":
            hint = (" — is pyctl-controlplane running? "
                    "('pyctl cluster up' starts a local cluster)")
        super().__init__(f"cannot reach the API server at {server}: {reason}{hint}")


class ApiError(PyctlError):
    """A metav1.Status failure returned by the API server."""

    def __init__(self, status: dict[str, Any]) -> None:
        self.status = status
        super().__init__(self.message)

    @classmethod
    def from_response(cls, code: int, body: bytes) -> "ApiError":
        try:
            status = json.loads(body) if body else None
        except ValueError:
            status = None
        if not isinstance(status, dict) or status.get("kind") != "Status":
            # What client-go says when a server answers without a Status body.
            if code == 404:
                message = "the server could not find the requested resource"
            else:
                text = body.decode(errors="replace").strip()[:500]
                message = (f"an error on the server ({json.dumps(text)}) has prevented "
                           "the request from succeeding")
            status = {"kind": "Status", "status": "Failure", "code": code,
                      "reason": _REASONS.get(code, ""), "message": message}
        status.setdefault("code", code)
        return cls(status)

    @property
    def code(self) -> int:
        return int(self.status.get("code") or 0)

    @property
    def reason(self) -> str:
        return str(self.status.get("reason") or "")

    @property
    def message(self) -> str:
        return str(self.status.get("message") or "")

    @property
    def details(self) -> dict[str, Any]:
        return self.status.get("details") or {}

    def with_source(self, verb: str, source: str) -> "ApiError":
        """As kubectl's AddSourceToErr: `error when creating "f.yaml": <message>`."""
        if not source:
            return self
        status = dict(self.status)
        status["message"] = f'error when {verb} "{source}": {self.message}'
        return ApiError(status)

    def describe(self) -> str:
        """The text kubectl's CheckErr prints for this Status (without `error: `)."""
        details = self.details
        if self.reason == "Invalid" and self.status.get("details") is not None:
            head = "The request is invalid"
            if details.get("kind") or details.get("name"):
                head = f'The {details.get("kind", "")} "{details.get("name", "")}" is invalid'
            causes = [f"{c['field']}: {c.get('message', '')}" if c.get("field") else c.get("message", "")
                      for c in details.get("causes") or []]
            if not causes:
                return head if details.get("kind") or details.get("name") else f"{head}: {self.message}"
            if len(causes) == 1:
                return f"{head}: {causes[0]}"
            return f"{head}: \n" + "\n".join(f"* {c}" for c in causes)
        if self.reason == "Unauthorized":
            return f"You must be logged in to the server ({self.message or 'Unauthorized'})"
        if self.reason:
            return f"Error from server ({self.reason}): {self.message}"
        return f"Error from server: {self.message}"

    def render(self) -> str:
        text = self.describe()
        return f"error: {text}" if self.reason == "Unauthorized" else text


_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
            405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Expired",
            415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests",
            500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}
