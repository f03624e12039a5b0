"""Leases (coordination.k8s.io/v1): node heartbeats and leader election."""

from __future__ import annotations

from ...machinery.types import Obj
from ..fields import as_dict, as_int
from ..info import ResourceInfo
from ..kind import Kind
from ..rules import nonnegative
from ..tables import AGE, NAME, Column, Printer
from ..validation import Cause, invalid


def _rules(obj: Obj) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    duration = as_int(spec.get("leaseDurationSeconds"))
    out = nonnegative(spec, "leaseTransitions", "spec")
    if duration is not None and duration <= 0:
        out.insert(0, invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    return out


LEASE_PRINTER = Printer((
    NAME,
    Column("Holder", lambda r: r.spec.get("holderIdentity") or "",
           description="holderIdentity contains the identity of the holder of a current lease."),
    AGE,
))

LEASE = Kind(ResourceInfo("coordination.k8s.io", "v1", "leases", "Lease", "lease", True),
             printer=LEASE_PRINTER, rules=(_rules,))
