"""The built-in plugins, one per module, and the default profile.

Filters are ordered cheapest first (a flag, a name, taints, labels, ports, sums, then
claims, then anti-affinity, which looks at other pods), as kube-scheduler orders them.
"""

from __future__ import annotations

from ..framework import Profile
from . import (least_allocated, node_affinity, node_affinity_preference, node_name, node_ports, node_ready,
               node_unschedulable, pod_anti_affinity, resources_fit, spread, taint_preference, taint_toleration,
               volume_binding, volume_restrictions)

FILTERS = (
    node_unschedulable.PLUGIN,
    node_ready.PLUGIN,
    node_name.PLUGIN,
    taint_toleration.PLUGIN,
    node_affinity.PLUGIN,
    node_ports.PLUGIN,
    resources_fit.PLUGIN,
    volume_restrictions.PLUGIN,
    volume_binding.PLUGIN,
    pod_anti_affinity.PLUGIN,
)
SCORES = (least_allocated.PLUGIN, spread.PLUGIN, node_affinity_preference.PLUGIN, taint_preference.PLUGIN)
DEFAULT_PROFILE = Profile(FILTERS, SCORES)

__all__ = ["DEFAULT_PROFILE", "FILTERS", "SCORES"]
