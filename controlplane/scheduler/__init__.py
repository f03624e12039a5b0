"""The scheduler: places pending pods on nodes.

    snapshot.py   PodInfo / NodeInfo / Snapshot: the cluster as scheduling sees it
    framework.py  plugins, Status codes, `schedule(pod, snapshot, profile)` and
                  `schedule_many` for replicas of one template (pure)
    plugins/      one filter or score per module; DEFAULT_PROFILE
    explain.py    "0/3 nodes are available: 3 Insufficient memory."
    findings.py   what one filter says about one node, with numbers and a fix
    verdict.py    every filter on every node, grouped and bounded; the scores of a decision
    queue.py      active / back-off / unschedulable pods
    scheduler.py  informers, the batch loop, binding, status, events and placement records
    workloads.py  what a workload kind asks for (pod template, pods at once)
    daemon.py     the DaemonSet node-eligibility rule
    planner.py    the dry run behind a Plan (pure; the API server runs it)
"""

from .framework import Code, Decision, Profile, Status, schedule, schedule_many
from .plugins import DEFAULT_PROFILE
from .scheduler import Scheduler, SchedulerConfig, run_scheduler
from .snapshot import NodeInfo, PodInfo, Snapshot

__all__ = [
    "Code", "DEFAULT_PROFILE", "Decision", "NodeInfo", "PodInfo", "Profile", "Scheduler",
    "SchedulerConfig", "Snapshot", "Status", "run_scheduler", "schedule", "schedule_many",
]
