"""Nodes (v1): taints, allocatable defaulting to capacity, the table `get nodes` prints.

The agent creates its Node with a status (kube's node strategy keeps status on create).
"""

from __future__ import annotations

from typing import Callable

from ...machinery.types import Obj
from ..fields import as_dict, as_list, as_str, dict_or_none
from ..info import STATUS, ResourceInfo
from ..kind import Kind
from ..rules import TAINT_EFFECTS, enum, name_errors
from ..tables import AGE, NAME, Column, Printer, Row, or_
from ..validation import Cause, GoLiteral, duplicate, go_quote, invalid, label_value, qualified_name, required


def _default(obj: Obj) -> None:
    status = dict_or_none(obj.get("status"))
    if status is not None and status.get("allocatable") is None and dict_or_none(status.get("capacity")) is not None:
        status["allocatable"] = dict(status["capacity"])


def _rules(obj: Obj) -> list[Cause]:
    out: list[Cause] = []
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(as_list(as_dict(obj.get("spec")).get("taints"))):
        taint, p = as_dict(taint), f"spec.taints[{i}]"
        key, value, effect = (as_str(taint.get(k)) for k in ("key", "value", "effect"))
        out += name_errors(f"{p}.key", key, qualified_name)
        if label_value(value):
            out.append(invalid(f"{p}.value", value, ";".join(label_value(value))))
        out += [required(f"{p}.effect")] if not effect else enum(f"{p}.effect", effect, TAINT_EFFECTS)
        if (key, effect) in seen:
            shown = (f"core.Taint{{Key:{go_quote(key)}, Value:{go_quote(value)}, Effect:{go_quote(effect)}, "
                     "TimeAdded:(*v1.Time)(nil)}")
            out.append(duplicate(p, GoLiteral(shown), "taints must be unique by key and effect pair"))
        seen.add((key, effect))
    return out


def _node_status(r: Row) -> str:
    ready = [c.get("status") for c in r.status.get("conditions") or [] if c.get("type") == "Ready"]
    states = ["Ready" if ready[-1] == "True" else "NotReady"] if ready else ["Unknown"]
    if r.spec.get("unschedulable"):
        states.append("SchedulingDisabled")
    return ",".join(states)


def _node_roles(r: Row) -> str:
    roles = set()
    for key, value in (r.meta.get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/") and key != "node-role.kubernetes.io/":
            roles.add(key.removeprefix("node-role.kubernetes.io/"))
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def _node_address(kind: str) -> Callable[[Row], str]:
    def cell(r: Row) -> str:
        return next((a.get("address", "") for a in r.status.get("addresses") or []
                     if a.get("type") == kind), "<none>")
    return cell


def _node_info(key: str, placeholder: str = "<unknown>") -> Callable[[Row], str]:
    return lambda r: or_((r.status.get("nodeInfo") or {}).get(key), placeholder)



class NodeKind(Kind):
    def prepare_for_create(self, obj: Obj) -> None:
        """A node registers with its status (capacity, addresses, nodeInfo): keep it, or start
        from the empty one as every kind with a status does."""
        if obj.get("status") is None:
            obj["status"] = dict(self.initial_status)


NODE_PRINTER = Printer((
    NAME,
    Column("Status", _node_status, description="The status of the node"),
    Column("Roles", _node_roles, description="The roles of the node"),
    AGE,
    Column("Version", _node_info("kubeletVersion", ""), description="Kubelet Version reported by the node."),
    Column("Internal-IP", _node_address("InternalIP"), priority=1,
           description="List of addresses reachable to the node."),
    Column("External-IP", _node_address("ExternalIP"), priority=1,
           description="List of addresses reachable to the node."),
    Column("OS-Image", _node_info("osImage"), priority=1,
           description="OS Image reported by the node from /etc/os-release."),
    Column("Kernel-Version", _node_info("kernelVersion"), priority=1,
           description="Kernel Version reported by the node from 'uname -r'."),
    Column("Container-Runtime", _node_info("containerRuntimeVersion"), priority=1,
           description="ContainerRuntime Version reported by the node through runtime remote API."),
))

NODE = NodeKind(ResourceInfo("", "v1", "nodes", "Node", "node", False, ("no",), subresources=(STATUS,),
                             has_status=True),
                printer=NODE_PRINTER, default=_default, rules=(_rules,))
