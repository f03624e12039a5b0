"""The options of one write, as the request's query (and DeleteOptions body) give them."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..auth.user import UserInfo


@dataclass
class WriteOptions:
    dry_run: bool = False
    field_manager: str = ""
    field_validation: str = "Warn"  # Strict | Warn | Ignore
    warnings: list[str] = field(default_factory=list)
    # The requester an enforcing authorizer (RBAC) admitted; None under AlwaysAllow and for
    # in-process writes. Admission checks RBAC escalation against it.
    user: UserInfo | None = None
