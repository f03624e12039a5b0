"""A request's authorization attributes: who, which verb, on what (what RBAC rules match).

The API server names them from a request (api/access/attributes.py); components asking
"may X do Y" (`kubectl auth can-i`, escalation checks) build them directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from .user import UserInfo


@dataclass(frozen=True)
class Attributes:
    user: UserInfo
    verb: str
    path: str
    resource_request: bool = False
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def qualified_resource(self) -> str:
        """`pods/log`, as RBAC rules name a subresource."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource
