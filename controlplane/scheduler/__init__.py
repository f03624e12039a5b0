"""The scheduler: places pending pods on nodes.

    snapshot.py   PodInfo / NodeInfo / Snapshot: the cluster as scheduling sees it
    framework.py  plugins, Status codes, and `schedule(pod, snapshot, profile)` (pure)
    plugins/      one filter or score per module; DEFAULT_PROFILE
    explain.py    "0/3 nodes are available: 3 Insufficient memory."
    queue.py      active / back-off / unschedulable pods
    scheduler.py  informers, the batch loop, binding, status and events
"""

from .framework import Code, Decision, Profile, Status, schedule
from .plugins import DEFAULT_PROFILE
from .scheduler import Scheduler, SchedulerConfig, run_scheduler
from .snapshot import NodeInfo, PodInfo, Snapshot

__all__ = [
    "Code", "DEFAULT_PROFILE", "Decision", "NodeInfo", "PodInfo", "Profile", "Scheduler",
    "SchedulerConfig", "Snapshot", "Status", "run_scheduler", "schedule",
]
