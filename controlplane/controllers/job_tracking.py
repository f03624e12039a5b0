"""What a Job's pods add up to: pure decisions of the Job controller (job.py does the I/O).

Kubernetes' `pkg/controller/job` rules, as functions of the Job, its pods and `now`:

* which pods are active, terminating, finished, and which finished ones are failures
  (`pod_failed`: a deleted pod counts as failed unless the Job only replaces Failed pods);
* the pod failure policy (`match_failure_policy`: Ignore / Count / FailJob / FailIndex on exit
  codes and pod conditions such as DisruptionTarget) and the success policy;
* the back-off before a replacement pod: 10 s doubling per failure since the last success,
  capped at 6 minutes, from the failed pods' finish times;
* Indexed jobs: index sets as `1,3-5` strings (`completedIndexes`), the pod of an index;
* the Job's conditions, named and worded as Kubernetes does, so `kubectl wait
  --for=condition=complete` works.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import Callable, Iterable

from ..machinery.meta import now_rfc3339, parse_time
from ..machinery.types import Obj
from . import podutil

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
INDEX_KEY = "batch.kubernetes.io/job-completion-index"  # annotation and label
INDEX_FAILURES = "batch.kubernetes.io/job-index-failure-count"
INDEX_ENV = "JOB_COMPLETION_INDEX"
BACKOFF_BASE = 10.0  # seconds before the first replacement of a failed pod
BACKOFF_MAX = 360.0  # the back-off's cap (6 minutes)
MAX_CREATES_PER_SYNC = 500  # kube's MaxPodCreateDeletePerSync

# Condition types, reasons and messages: kube's (batch/v1 types and job_controller.go).
COMPLETE, FAILED, SUSPENDED = "Complete", "Failed", "Suspended"
FAILURE_TARGET, SUCCESS_CRITERIA_MET = "FailureTarget", "SuccessCriteriaMet"
BACKOFF_LIMIT = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE = ("DeadlineExceeded", "Job was active longer than specified deadline")
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")
MAX_FAILED_INDEXES = ("MaxFailedIndexesExceeded", "Job has exceeded the specified maximal number of failed indexes")
FAILED_INDEXES = ("FailedIndexes", "Job has failed indexes")


# -- pods ---------------------------------------------------------------------------------------------

def phase(pod: Obj) -> str:
    return (pod.get("status") or {}).get("phase") or ""


def deleting(pod: Obj) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def finished(pod: Obj) -> bool:
    return phase(pod) in ("Succeeded", "Failed")


def terminating(pod: Obj) -> bool:
    """Deleted but not yet finished: it still holds its node, and perhaps its index."""
    return deleting(pod) and not finished(pod)


def tracked(pod: Obj) -> bool:
    return TRACKING_FINALIZER in ((pod.get("metadata") or {}).get("finalizers") or [])


def only_replaces_failed(job: Obj) -> bool:
    spec = job.get("spec") or {}
    return spec.get("podReplacementPolicy") == "Failed" or spec.get("podFailurePolicy") is not None


def pod_failed(pod: Obj, job: Obj) -> bool:
    """isPodFailed: Failed, or deleted before it succeeded (unless only Failed pods count)."""
    if phase(pod) == "Failed":
        return True
    if only_replaces_failed(job):
        return False
    return deleting(pod) and phase(pod) != "Succeeded"


def index_of(pod: Obj) -> int | None:
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(INDEX_KEY)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def finish_time(pod: Obj, now: dt.datetime) -> dt.datetime:
    """When a finished pod finished: its last container termination, else its deletion, else now."""
    status = pod.get("status") or {}
    times = [parse_time(((c.get("state") or {}).get("terminated") or {}).get("finishedAt"))
             for c in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or [])]
    found = [t for t in times if t is not None]
    if found:
        return max(found)
    return parse_time((pod.get("metadata") or {}).get("deletionTimestamp")) or now


def restarts(pods: Iterable[Obj]) -> int:
    """Container restarts of running/pending pods: what OnFailure jobs count against backoffLimit."""
    total = 0
    for pod in pods:
        if phase(pod) in ("Running", "Pending"):
            status = pod.get("status") or {}
            total += sum(int(c.get("restartCount") or 0)
                         for c in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []))
    return total


def past_backoff_on_failure(job: Obj, active: list[Obj]) -> bool:
    spec = job.get("spec") or {}
    if ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy") != "OnFailure":
        return False
    limit, n = int(spec.get("backoffLimit", 6)), restarts(active)
    return n > 0 if limit == 0 else n >= limit


# -- counting -----------------------------------------------------------------------------------------

@dataclass
class Sorted:
    """What the finished pods not yet counted add up to."""

    succeeded: list[str] = field(default_factory=list)
    """Uids to count as succeeded."""
    failed: list[str] = field(default_factory=list)
    """Uids to count as failed."""
    release: list[Obj] = field(default_factory=list)
    """Finished pods that count for nothing (an ignored failure, an index already done): they only
    lose their finalizer."""
    fail_message: str = ""
    """Set when a FailJob rule of the pod failure policy matched: the Job fails with it."""
    done: set[int] = field(default_factory=set)
    """Indexed jobs: the completed indexes, these pods included."""
    failed_indexes: set[int] = field(default_factory=set)
    """backoffLimitPerIndex: the indexes that failed for good, these pods included."""


def failures_before(pod: Obj) -> int:
    """backoffLimitPerIndex: how many pods of this pod's index failed before it (its annotation)."""
    try:
        return int(((pod.get("metadata") or {}).get("annotations") or {}).get(INDEX_FAILURES, "0"))
    except ValueError:
        return 0


def classify(job: Obj, pods: list[Obj], tracked: Callable[[Obj], bool], uncounted: set[str],
             done: set[int], failed_indexes: set[int] | None = None) -> Sorted:
    """Sort the pods still tracked and not yet in uncountedTerminatedPods: succeeded (for an
    Indexed job, only the first pod of an index in range), failed as the pod failure policy
    says, or released. With backoffLimitPerIndex, an index fails for good once its pods failed
    more often than that (or a FailIndex rule matched)."""
    spec = job.get("spec") or {}
    indexed, completions = spec.get("completionMode") == "Indexed", spec.get("completions")
    per_index = spec.get("backoffLimitPerIndex")
    out = Sorted(done=set(done), failed_indexes=set(failed_indexes or ()))
    for p in pods:
        uid = (p.get("metadata") or {}).get("uid", "")
        if not tracked(p) or uid in uncounted:
            continue
        if phase(p) == "Succeeded":
            i = index_of(p)
            if indexed and (i is None or completions is None or i >= completions or i in out.done):
                out.release.append(p)
                continue
            if i is not None and indexed:
                out.done.add(i)
            out.succeeded.append(uid)
        elif pod_failed(p, job):
            verdict = match_failure_policy(job, p) if phase(p) == "Failed" else FailureVerdict(None)
            if verdict.action == "FailJob" and not out.fail_message:
                out.fail_message = verdict.message
            if verdict.counts:
                out.failed.append(uid)
                i = index_of(p)
                if indexed and per_index is not None and i is not None and i not in out.done and (
                        verdict.action == "FailIndex" or failures_before(p) + 1 > int(per_index)):
                    out.failed_indexes.add(i)
            else:
                out.release.append(p)
    return out


@dataclass(frozen=True)
class Target:
    """Where a Job is heading, and why: its interim condition now, its final one once no pod runs."""

    failure: bool
    reason: str
    message: str

    @property
    def interim(self) -> str:
        return FAILURE_TARGET if self.failure else SUCCESS_CRITERIA_MET

    @property
    def final(self) -> str:
        return FAILED if self.failure else COMPLETE


def goal(job: Obj, status: Obj, active: list[Obj], done: set[int], succeeded: int, failed: int,
         fail_message: str, now: dt.datetime, failed_indexes: frozenset[int] | set[int] = frozenset()) -> Target | None:
    """Whether the Job has failed or met its success criteria, in kube's order of checks: an
    interim condition already set, a FailJob rule, the backoff limit, too many failed indexes,
    the active deadline, the success policy, the completions (every index done or failed)."""
    for kind, failure in ((FAILURE_TARGET, True), (SUCCESS_CRITERIA_MET, False)):
        c = condition(status, kind)
        if c is not None and c.get("status") == "True":
            return Target(failure, c.get("reason", ""), c.get("message", ""))
    spec = job.get("spec") or {}
    if fail_message:
        return Target(True, "PodFailurePolicy", fail_message)
    if failed > int(spec.get("backoffLimit", 6)) or past_backoff_on_failure(job, active):
        return Target(True, *BACKOFF_LIMIT)
    max_failed = spec.get("maxFailedIndexes")
    if max_failed is not None and len(failed_indexes) > int(max_failed):
        return Target(True, *MAX_FAILED_INDEXES)
    left = active_deadline_left(job, now)
    if left is not None and left <= 0:
        return Target(True, *DEADLINE)
    completions = spec.get("completions")
    if spec.get("completionMode") == "Indexed":
        rule = success_policy_match(job, done) if spec.get("successPolicy") else None
        if rule is not None:
            return Target(False, "SuccessPolicy", f"Matched rules at index {rule}")
        complete = completions is not None and len(done | set(failed_indexes)) >= completions
        if complete and failed_indexes:
            return Target(True, *FAILED_INDEXES)
    elif completions is None:
        complete = succeeded > 0 and not active  # any success ends a work queue, once all stop
    else:
        complete = succeeded >= completions and not active
    return Target(False, *COMPLETIONS_REACHED) if complete else None


# -- the pod failure policy ---------------------------------------------------------------------------

@dataclass(frozen=True)
class FailureVerdict:
    action: str | None
    """The matching rule's action (Ignore, Count, FailJob, FailIndex), None without a match."""
    message: str = ""
    """For FailJob: the Failed condition's message."""

    @property
    def counts(self) -> bool:
        return self.action != "Ignore"


def _exit_code_match(statuses: list[Obj], req: Obj) -> Obj | None:
    name, op, values = req.get("containerName"), req.get("operator"), set(req.get("values") or [])
    for cs in statuses:
        term = (cs.get("state") or {}).get("terminated")
        if term is None or (name is not None and cs.get("name") != name):
            continue
        code = int(term.get("exitCode") or 0)
        if code != 0 and ((op == "In" and code in values) or (op == "NotIn" and code not in values)):
            return cs
    return None


def match_failure_policy(job: Obj, pod: Obj) -> FailureVerdict:
    """The first rule of spec.podFailurePolicy that matches a failed pod (matchPodFailurePolicy)."""
    policy = (job.get("spec") or {}).get("podFailurePolicy")
    if not policy:
        return FailureVerdict(None)
    md, status = pod.get("metadata") or {}, pod.get("status") or {}
    where = f"{md.get('namespace', '')}/{md.get('name', '')}"
    for i, rule in enumerate(policy.get("rules") or []):
        action = rule.get("action")
        if rule.get("onExitCodes") is not None:
            cs = _exit_code_match(status.get("containerStatuses") or [], rule["onExitCodes"]) or \
                _exit_code_match(status.get("initContainerStatuses") or [], rule["onExitCodes"])
            if cs is not None:
                code = ((cs.get("state") or {}).get("terminated") or {}).get("exitCode")
                return FailureVerdict(action, f"Container {cs.get('name')} for pod {where} failed with exit "
                                              f"code {code} matching {action} rule at index {i}")
        elif rule.get("onPodConditions"):
            for cond in status.get("conditions") or []:
                if any(cond.get("type") == p.get("type") and cond.get("status") == p.get("status", "True")
                       for p in rule["onPodConditions"]):
                    return FailureVerdict(action, f"Pod {where} has condition {cond.get('type')} matching "
                                                  f"{action} rule at index {i}")
    return FailureVerdict(None)


# -- back-off -----------------------------------------------------------------------------------------

def backoff_delay(failures: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_MAX) -> float:
    """10 s, 20 s, 40 s, ... after the 1st, 2nd, 3rd failure since the last success; 0 for none."""
    if failures <= 0:
        return 0.0
    return min(cap, base * 2 ** min(failures - 1, 30))


def backoff_remaining(finished_pods: list[Obj], job: Obj, now: dt.datetime, base: float = BACKOFF_BASE,
                      cap: float = BACKOFF_MAX) -> float:
    """Seconds until the next replacement pod may be created (0: now). Failures after the last
    success count; the delay runs from the latest of them."""
    events = sorted(((finish_time(p, now), pod_failed(p, job)) for p in finished_pods), key=lambda e: e[0])
    failures, last = 0, None
    for at, failed in events:
        if failed:
            failures, last = failures + 1, at
        else:
            failures, last = 0, None
    if last is None:
        return 0.0
    return max(0.0, backoff_delay(failures, base, cap) - (now - last).total_seconds())


# -- Indexed jobs -------------------------------------------------------------------------------------

def parse_index_set(text: str | None) -> set[int]:
    out: set[int] = set()
    for part in (text or "").split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        try:
            out.update(range(int(first), int(last or first) + 1))
        except ValueError:
            continue
    return out


def format_index_set(indexes: Iterable[int]) -> str:
    """`0-2,4,6-7`: consecutive runs as ranges, as completedIndexes shows them."""
    runs: list[list[int]] = []
    for i in sorted(set(indexes)):
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def pending_indexes(completions: int, done: set[int], active: Iterable[int], n: int) -> list[int]:
    """The `n` lowest indexes neither completed nor running."""
    busy = set(active) | done
    out: list[int] = []
    for i in range(completions):
        if len(out) >= n:
            break
        if i not in busy:
            out.append(i)
    return out


def success_policy_match(job: Obj, done: set[int]) -> int | None:
    """The index of the first successPolicy rule the succeeded indexes satisfy, else None."""
    spec = job.get("spec") or {}
    for i, rule in enumerate((spec.get("successPolicy") or {}).get("rules") or []):
        wanted = parse_index_set(rule.get("succeededIndexes")) if rule.get("succeededIndexes") is not None else None
        count = rule.get("succeededCount")
        have = len(done & wanted) if wanted is not None else len(done)
        if (count is not None and have >= count) or (count is None and wanted is not None and wanted <= done):
            return i
    return None


# -- the pods a Job makes -----------------------------------------------------------------------------

def index_failures(job: Obj, pods: Iterable[Obj], now: dt.datetime) -> dict[int, tuple[int, dt.datetime]]:
    """backoffLimitPerIndex: per index, how many of its pods failed and when the last one ended."""
    out: dict[int, tuple[int, dt.datetime]] = {}
    for p in pods:
        i = index_of(p)
        if i is None or phase(p) != "Failed" or not match_failure_policy(job, p).counts:
            continue
        n, at = failures_before(p) + 1, finish_time(p, now)
        seen = out.get(i)
        out[i] = (max(n, seen[0]), max(at, seen[1])) if seen else (n, at)
    return out


def pod_for(job: Obj, index: int | None, owner_ref: Obj, failures: int | None = None) -> Obj:
    """A new pod from the Job's template; for an Indexed job, that of `index` (its annotation and
    label, JOB_COMPLETION_INDEX in every container, hostname `<job>-<index>`) and, with
    backoffLimitPerIndex, how many pods of the index failed before it."""
    md = job["metadata"]
    template = copy.deepcopy((job.get("spec") or {}).get("template") or {})
    tmeta, spec = template.get("metadata") or {}, template.get("spec") or {}
    labels, annotations = dict(tmeta.get("labels") or {}), dict(tmeta.get("annotations") or {})
    generate = f"{md['name']}-"
    if index is not None:
        labels[INDEX_KEY] = annotations[INDEX_KEY] = str(index)
        if failures is not None:
            annotations[INDEX_FAILURES] = str(failures)
        generate = f"{md['name']}-{index}-"
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            env = c.setdefault("env", [])
            if not any(e.get("name") == INDEX_ENV for e in env):
                env.append({"name": INDEX_ENV, "valueFrom": {"fieldRef": {
                    "apiVersion": "v1", "fieldPath": f"metadata.annotations['{INDEX_KEY}']"}}})
        if not spec.get("hostname"):
            spec["hostname"] = f"{md['name']}-{index}"
    meta: Obj = {"generateName": generate, "namespace": md.get("namespace", ""),
                 "ownerReferences": [owner_ref], "finalizers": [TRACKING_FINALIZER]}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


# -- conditions ---------------------------------------------------------------------------------------

def condition(status: Obj, kind: str) -> Obj | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def has_true(status: Obj, kind: str) -> bool:
    c = condition(status, kind)
    return c is not None and c.get("status") == "True"


def is_finished(job: Obj) -> bool:
    status = job.get("status") or {}
    return has_true(status, COMPLETE) or has_true(status, FAILED)


def set_condition(status: Obj, kind: str, truth: str, reason: str, message: str, now: dt.datetime) -> bool:
    """Add or update a condition; False when it already says exactly that."""
    conditions = list(status.get("conditions") or [])
    stamp = now_rfc3339(now)
    for i, c in enumerate(conditions):
        if c.get("type") != kind:
            continue
        if c.get("status") == truth and c.get("reason") == reason and c.get("message") == message:
            return False
        moved = c.get("status") != truth
        conditions[i] = {**c, "status": truth, "reason": reason, "message": message, "lastProbeTime": stamp,
                         "lastTransitionTime": stamp if moved else c.get("lastTransitionTime", stamp)}
        status["conditions"] = conditions
        return True
    conditions.append({"type": kind, "status": truth, "reason": reason, "message": message,
                       "lastProbeTime": stamp, "lastTransitionTime": stamp})
    status["conditions"] = conditions
    return True


def active_deadline_left(job: Obj, now: dt.datetime) -> float | None:
    """Seconds left before activeDeadlineSeconds is reached (<= 0: reached); None without one."""
    spec, status = job.get("spec") or {}, job.get("status") or {}
    deadline, start = spec.get("activeDeadlineSeconds"), parse_time(status.get("startTime"))
    if deadline is None or start is None or spec.get("suspend"):
        return None
    return (start + dt.timedelta(seconds=int(deadline)) - now).total_seconds()


def ready_count(pods: Iterable[Obj]) -> int:
    return sum(1 for p in pods if podutil.pod_ready(p))
