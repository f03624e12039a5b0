"""ServiceAccounts (v1): the identities pods run as."""

from __future__ import annotations

from ..info import ResourceInfo
from ..kind import Kind
from ..tables import AGE, NAME, Column, Printer

SERVICE_ACCOUNT_PRINTER = Printer((
    NAME,
    Column("Secrets", lambda r: len(r.obj.get("secrets") or []), type="integer",
           description="Secrets is a list of the secrets in the same namespace that pods running "
                       "using this ServiceAccount are allowed to use."),
    AGE,
))

SERVICE_ACCOUNT = Kind(
    ResourceInfo("", "v1", "serviceaccounts", "ServiceAccount", "serviceaccount", True, ("sa",)),
    printer=SERVICE_ACCOUNT_PRINTER)
