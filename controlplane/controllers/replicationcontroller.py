"""ReplicationController controller: the ReplicaSet controller over ReplicationControllers.

An RC is a ReplicaSet whose selector is a plain label map (equality only); everything else —
adoption, slow-start creates, which pods go first on scale-down, status — is the ReplicaSet
controller's own code, run over this kind (kube's replication manager is the same: a
ReplicaSet controller handed the RC types).
"""

from __future__ import annotations

from typing import Any

from ..client import ApiClient
from ..client.kinds import resource
from ..machinery.selectors import LabelSelector, SelectorError, label_selector_from_spec
from ..machinery.types import Obj
from .replicaset import ReplicaSetController, ReplicatedKind

REPLICATIONCONTROLLERS = resource("", "v1", "replicationcontrollers")


def selector_of_rc(rc: Obj) -> LabelSelector:
    """The pods an RC selects: every label of its map, by equality; nothing if it is invalid."""
    selector = (rc.get("spec") or {}).get("selector")
    try:
        return label_selector_from_spec({"matchLabels": dict(selector)} if isinstance(selector, dict) else None)
    except SelectorError:
        return LabelSelector.nothing()


REPLICATION_CONTROLLER = ReplicatedKind(REPLICATIONCONTROLLERS, "replicationcontroller", selector_of_rc)


def replication_controller(client: ApiClient, **options: Any) -> ReplicaSetController:
    return ReplicaSetController(client, kind=REPLICATION_CONTROLLER, **options)
