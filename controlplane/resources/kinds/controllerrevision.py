"""ControllerRevisions (apps/v1): immutable snapshots of a DaemonSet's or StatefulSet's template.

Rules from `pkg/apis/apps/validation` (ValidateControllerRevision: data is mandatory, the
revision number is not negative (data is mandatory: the schema says so); an update may change the revision number, never the data),
columns from kubectl's printControllerRevision.
"""

from __future__ import annotations

from ...machinery.types import Obj
from ..fields import as_dict, as_int, as_list, as_str, normalized
from ..info import ResourceInfo
from ..kind import Kind
from ..tables import AGE, NAME, Column, Printer, Row
from ..validation import NEGATIVE_MSG, Cause, GoLiteral, invalid


def _rules(obj: Obj) -> list[Cause]:
    revision = as_int(obj.get("revision"))
    return [invalid("revision", revision, NEGATIVE_MSG)] if revision is not None and revision < 0 else []


def _data_fixed(new: Obj, old: Obj) -> list[Cause]:
    if normalized(new.get("data")) != normalized(old.get("data")):
        return [invalid("data", GoLiteral("runtime.RawExtension"), "field is immutable")]
    return []


def _controller(r: Row) -> str:
    """The controlling owner as `kind.group/name` (`daemonset.apps/web`), `<none>` without one."""
    ref = next((as_dict(o) for o in as_list(r.meta.get("ownerReferences")) if as_dict(o).get("controller")), None)
    if ref is None:
        return "<none>"
    group = as_str(ref.get("apiVersion")).rpartition("/")[0]
    kind = as_str(ref.get("kind"))
    qualified = f"{kind}.{group}" if group else kind
    return f"{qualified.lower()}/{as_str(ref.get('name'))}" if kind else as_str(ref.get("name"))


PRINTER = Printer((
    NAME,
    Column("Controller", _controller, description="Controller of the object"),
    Column("Revision", lambda r: r.obj.get("revision") or 0,
           description="Revision indicates the revision of the state represented by Data."),
    AGE,
))

CONTROLLER_REVISION = Kind(
    ResourceInfo("apps", "v1", "controllerrevisions", "ControllerRevision", "controllerrevision", True),
    printer=PRINTER, rules=(_rules,), update_rules=(_data_fixed,))
