"""ServiceAccounts (v1): the identities pods run as; TokenRequest, the body of their `token`
subresource (authentication.k8s.io/v1, answered by api/tokenrequest.py, never stored)."""

from __future__ import annotations

from ..info import ResourceInfo, Subresource
from ..kind import Kind
from ..tables import AGE, NAME, Column, Printer

SERVICE_ACCOUNT_PRINTER = Printer((
    NAME,
    Column("Secrets", lambda r: len(r.obj.get("secrets") or []), type="integer",
           description="Secrets is a list of the secrets in the same namespace that pods running "
                       "using this ServiceAccount are allowed to use."),
    AGE,
))

TOKEN = Subresource("token", "TokenRequest", ("create",), group="authentication.k8s.io", version="v1")

SERVICE_ACCOUNT = Kind(
    ResourceInfo("", "v1", "serviceaccounts", "ServiceAccount", "serviceaccount", True, ("sa",),
                 subresources=(TOKEN,)),
    printer=SERVICE_ACCOUNT_PRINTER)

TOKEN_REQUEST = Kind(ResourceInfo("authentication.k8s.io", "v1", "tokenrequests", "TokenRequest",
                                  "tokenrequest", True), served=False)
