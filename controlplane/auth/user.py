"""Who a request is from: UserInfo and the user and group names Kubernetes gives meaning to."""

from __future__ import annotations

from dataclasses import dataclass

MASTERS = "system:masters"
"""Members are allowed everything, before and without any RBAC object (as in Kubernetes)."""
MONITORING = "system:monitoring"
"""Bound to the system:monitoring role: may read /metrics and the health checks (Prometheus)."""
AUTHENTICATED = "system:authenticated"
"""Added to every authenticated user's groups."""
LOOPBACK_USER = "system:apiserver"
"""The in-process components' identity (scheduler, controllers, gateway)."""


@dataclass(frozen=True)
class UserInfo:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()

    def with_authenticated(self) -> "UserInfo":
        if AUTHENTICATED in self.groups:
            return self
        return UserInfo(self.name, self.uid, self.groups + (AUTHENTICATED,))
