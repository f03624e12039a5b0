"""The agent's one name for a Kubernetes object as it handles it: decoded JSON.

(The control plane has its own, controlplane/machinery/types.py: the agent never imports it.)"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
