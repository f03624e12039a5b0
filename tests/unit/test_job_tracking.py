"""The Job controller's pure decisions: which pods count, the failure and success policies,
the back-off, index sets, the pods it makes and the conditions it writes."""

from __future__ import annotations

import datetime as dt

import pytest

from controlplane.controllers import job_tracking as jt

NOW = dt.datetime(2026, 11, 27, 12, 0, 0, tzinfo=dt.timezone.utc)


def stamp(seconds_ago: float) -> str:
    return (NOW - dt.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def job(**spec) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "calc", "namespace": "default", "uid": "j-1"},
            "spec": {"backoffLimit": 6, "template": {"metadata": {"labels": {"job-name": "calc"}},
                                                     "spec": {"restartPolicy": "Never",
                                                              "containers": [{"name": "main", "image": "busybox"}]}},
                     **spec}}


def pod(phase: str = "Running", *, exit_code: int | None = None, finished_ago: float = 0, deleted: bool = False,
        conditions: tuple = (), name: str = "calc-x", restarts: int = 0, index: int | None = None) -> dict:
    state = {"running": {}} if exit_code is None else {
        "terminated": {"exitCode": exit_code, "finishedAt": stamp(finished_ago)}}
    md: dict = {"name": name, "namespace": "default", "uid": name, "finalizers": [jt.TRACKING_FINALIZER]}
    if deleted:
        md["deletionTimestamp"] = stamp(0)
    if index is not None:
        md["annotations"] = {jt.INDEX_KEY: str(index)}
    return {"metadata": md, "status": {"phase": phase, "conditions": list(conditions),
                                       "containerStatuses": [{"name": "main", "restartCount": restarts,
                                                              "state": state}]}}


# -- which pods count ----------------------------------------------------------------------------------

def test_a_deleted_pod_counts_as_failed_unless_only_failed_pods_are_replaced() -> None:
    gone = pod("Running", deleted=True)
    assert jt.pod_failed(gone, job()) and jt.terminating(gone)
    assert not jt.pod_failed(gone, job(podReplacementPolicy="Failed"))
    assert not jt.pod_failed(gone, job(podFailurePolicy={"rules": []}))
    assert jt.pod_failed(pod("Failed", exit_code=1), job(podFailurePolicy={"rules": []}))
    assert not jt.pod_failed(pod("Succeeded", exit_code=0, deleted=True), job())


def test_restarts_of_on_failure_pods_count_against_the_backoff_limit() -> None:
    on_failure = job(backoffLimit=3)
    on_failure["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    assert not jt.past_backoff_on_failure(on_failure, [pod(restarts=1), pod(restarts=1)])
    assert jt.past_backoff_on_failure(on_failure, [pod(restarts=2), pod(restarts=1)])
    assert not jt.past_backoff_on_failure(job(backoffLimit=0), [pod(restarts=5)])  # Never: pods, not restarts
    on_failure["spec"]["backoffLimit"] = 0
    assert jt.past_backoff_on_failure(on_failure, [pod(restarts=1)])


# -- the pod failure policy ----------------------------------------------------------------------------

POLICY = {"rules": [
    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
    {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}},
    {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [1, 2]}},
]}


@pytest.mark.parametrize("failed, action, message", [
    (pod("Failed", exit_code=42), "FailJob",
     "Container main for pod default/calc-x failed with exit code 42 matching FailJob rule at index 1"),
    (pod("Failed", exit_code=9), "Count", "Container main for pod default/calc-x failed with exit code 9 "
                                          "matching Count rule at index 2"),
    (pod("Failed", exit_code=1), None, ""),
    (pod("Failed", exit_code=42, conditions=({"type": "DisruptionTarget", "status": "True"},)), "Ignore",
     "Pod default/calc-x has condition DisruptionTarget matching Ignore rule at index 0"),
])
def test_the_first_matching_rule_decides(failed: dict, action: str | None, message: str) -> None:
    verdict = jt.match_failure_policy(job(podFailurePolicy=POLICY), failed)
    assert (verdict.action, verdict.message) == (action, message)
    assert verdict.counts == (action != "Ignore")


def test_exit_code_zero_and_running_containers_never_match() -> None:
    anything = {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "NotIn", "values": [5]}}]}
    assert jt.match_failure_policy(job(podFailurePolicy=anything), pod("Failed", exit_code=0)).action is None
    assert jt.match_failure_policy(job(podFailurePolicy=anything), pod("Failed")).action is None
    assert jt.match_failure_policy(job(), pod("Failed", exit_code=3)).action is None


# -- back-off ------------------------------------------------------------------------------------------

def test_backoff_doubles_from_ten_seconds_up_to_six_minutes() -> None:
    assert [jt.backoff_delay(n) for n in range(7)] == [0, 10, 20, 40, 80, 160, 320]
    assert jt.backoff_delay(7) == jt.backoff_delay(50) == 360


def test_backoff_runs_from_the_latest_failure_and_resets_on_success() -> None:
    j = job()
    failures = [pod("Failed", exit_code=1, finished_ago=30, name="a"), pod("Failed", exit_code=1, finished_ago=5, name="b")]
    assert jt.backoff_remaining(failures, j, NOW) == 15  # 2 failures: 20 s from the latest, 5 s ago
    after_success = failures + [pod("Succeeded", exit_code=0, finished_ago=2, name="c")]
    assert jt.backoff_remaining(after_success, j, NOW) == 0
    again = after_success + [pod("Failed", exit_code=1, finished_ago=1, name="d")]
    assert jt.backoff_remaining(again, j, NOW) == 9  # one failure since the success
    assert jt.backoff_remaining(failures, j, NOW, base=0.2, cap=1.0) == 0


# -- Indexed jobs --------------------------------------------------------------------------------------

def test_index_sets_read_and_print_as_completed_indexes() -> None:
    assert jt.format_index_set([4, 0, 1, 2, 7, 6]) == "0-2,4,6-7"
    assert jt.parse_index_set("0-2,4,6-7") == {0, 1, 2, 4, 6, 7}
    assert jt.format_index_set([]) == "" and jt.parse_index_set(None) == set()


def test_pending_indexes_skip_completed_and_running_ones() -> None:
    assert jt.pending_indexes(6, {0, 2}, [1, 4], 3) == [3, 5]
    assert jt.pending_indexes(6, set(), [], 2) == [0, 1]


def test_success_policy_rules() -> None:
    j = job(completionMode="Indexed", completions=10, successPolicy={"rules": [
        {"succeededIndexes": "0-2"}, {"succeededCount": 5}, {"succeededIndexes": "5-9", "succeededCount": 2}]})
    assert jt.success_policy_match(j, {0, 1}) is None
    assert jt.success_policy_match(j, {0, 1, 2}) == 0
    assert jt.success_policy_match(j, {5, 9}) == 2
    assert jt.success_policy_match(j, {3, 4, 5, 6, 7}) == 1


def test_an_indexed_pod_knows_its_index() -> None:
    ref = {"apiVersion": "batch/v1", "kind": "Job", "name": "calc", "uid": "j-1", "controller": True,
           "blockOwnerDeletion": True}
    p = jt.pod_for(job(completionMode="Indexed", completions=3), 2, ref)
    md, spec = p["metadata"], p["spec"]
    assert md["generateName"] == "calc-2-" and md["finalizers"] == [jt.TRACKING_FINALIZER]
    assert md["annotations"][jt.INDEX_KEY] == md["labels"][jt.INDEX_KEY] == "2"
    assert md["labels"]["job-name"] == "calc" and md["ownerReferences"] == [ref]
    assert spec["hostname"] == "calc-2"
    assert spec["containers"][0]["env"] == [{"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
        "apiVersion": "v1", "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}]
    plain = jt.pod_for(job(), None, ref)
    assert plain["metadata"]["generateName"] == "calc-" and "hostname" not in plain["spec"]
    assert "env" not in plain["spec"]["containers"][0]


# -- conditions ----------------------------------------------------------------------------------------

def test_conditions_change_only_when_they_say_something_new() -> None:
    status: dict = {}
    assert jt.set_condition(status, jt.SUSPENDED, "True", "JobSuspended", "Job suspended", NOW)
    first = dict(status["conditions"][0])
    assert not jt.set_condition(status, jt.SUSPENDED, "True", "JobSuspended", "Job suspended",
                                NOW + dt.timedelta(seconds=5))
    later = NOW + dt.timedelta(seconds=9)
    assert jt.set_condition(status, jt.SUSPENDED, "False", "JobResumed", "Job resumed", later)
    c, = status["conditions"]
    assert c["lastTransitionTime"] == "2026-11-27T12:00:09Z" != first["lastTransitionTime"]
    assert (c["type"], c["status"], c["reason"], c["message"]) == ("Suspended", "False", "JobResumed", "Job resumed")


def test_deadline_counts_from_the_start_and_stops_while_suspended() -> None:
    j = job(activeDeadlineSeconds=60)
    j["status"] = {"startTime": stamp(50)}
    assert jt.active_deadline_left(j, NOW) == 10
    j["spec"]["suspend"] = True
    assert jt.active_deadline_left(j, NOW) is None
    assert jt.active_deadline_left(job(), NOW) is None


# -- counting and the goal -----------------------------------------------------------------------------

def test_each_finished_pod_is_counted_once_and_only_while_tracked() -> None:
    pods = [pod("Succeeded", exit_code=0, name="s1"), pod("Succeeded", exit_code=0, name="s2"),
            pod("Failed", exit_code=1, name="f1"), pod("Running", name="r1"), pod("Running", deleted=True, name="d1")]
    untracked = pod("Succeeded", exit_code=0, name="s3")
    untracked["metadata"]["finalizers"] = []  # counted before: its finalizer is gone
    out = jt.classify(job(), pods + [untracked], jt.tracked, uncounted={"s2"}, done=set())
    assert out.succeeded == ["s1"] and out.failed == ["f1", "d1"] and out.release == []
    ignoring = job(podFailurePolicy={"rules": [{"action": "Ignore", "onExitCodes": {"operator": "In", "values": [1]}}]})
    out = jt.classify(ignoring, pods, jt.tracked, uncounted=set(), done=set())
    assert out.failed == [] and [p["metadata"]["name"] for p in out.release] == ["f1"]


def test_an_index_counts_once_and_out_of_range_indexes_not_at_all() -> None:
    j = job(completionMode="Indexed", completions=3)
    pods = [pod("Succeeded", exit_code=0, name="a", index=0), pod("Succeeded", exit_code=0, name="b", index=0),
            pod("Succeeded", exit_code=0, name="c", index=2), pod("Succeeded", exit_code=0, name="d", index=7),
            pod("Succeeded", exit_code=0, name="e", index=1)]
    out = jt.classify(j, pods, jt.tracked, uncounted=set(), done={1})
    assert out.succeeded == ["a", "c"] and out.done == {0, 1, 2}
    assert [p["metadata"]["name"] for p in out.release] == ["b", "d", "e"]


def test_a_fail_job_rule_fails_the_job_with_its_message() -> None:
    j = job(podFailurePolicy=POLICY)
    out = jt.classify(j, [pod("Failed", exit_code=42)], jt.tracked, uncounted=set(), done=set())
    target = jt.goal(j, {}, [], set(), 0, len(out.failed), out.fail_message, NOW)
    assert target == jt.Target(True, "PodFailurePolicy", out.fail_message) and target.final == "Failed"


@pytest.mark.parametrize("spec, succeeded, failed, active, expected", [
    ({"completions": 3}, 3, 0, 0, ("CompletionsReached", False)),
    ({"completions": 3}, 2, 0, 1, None),
    ({"completions": None, "parallelism": 2}, 1, 0, 1, None),   # a work queue waits for all pods
    ({"completions": None, "parallelism": 2}, 1, 0, 0, ("CompletionsReached", False)),
    ({"completions": 3, "backoffLimit": 2}, 0, 3, 0, ("BackoffLimitExceeded", True)),
    ({"completions": 3, "backoffLimit": 2}, 0, 2, 1, None),
])
def test_the_goal_of_a_job(spec: dict, succeeded: int, failed: int, active: int, expected) -> None:
    target = jt.goal(job(**spec), {}, [pod()] * active, set(), succeeded, failed, "", NOW)
    assert ((target.reason, target.failure) if target else None) == expected


def test_an_interim_condition_sticks_and_the_deadline_fails_the_job() -> None:
    status = {"conditions": [{"type": "FailureTarget", "status": "True", "reason": "DeadlineExceeded",
                              "message": "Job was active longer than specified deadline"}]}
    assert jt.goal(job(completions=1), status, [], set(), 1, 0, "", NOW) == jt.Target(True, *jt.DEADLINE)
    late = job(activeDeadlineSeconds=10)
    late["status"] = {"startTime": stamp(11)}
    assert jt.goal(late, late["status"], [pod()], set(), 0, 0, "", NOW) == jt.Target(True, *jt.DEADLINE)
    indexed = job(completionMode="Indexed", completions=4, successPolicy={"rules": [{"succeededCount": 2}]})
    assert jt.goal(indexed, {}, [pod()], {0, 3}, 2, 0, "", NOW) == \
        jt.Target(False, "SuccessPolicy", "Matched rules at index 0")


# -- backoffLimitPerIndex ------------------------------------------------------------------------------

def failed_index_pod(name: str, index: int, before: int, code: int = 1) -> dict:
    p = pod("Failed", exit_code=code, name=name, index=index)
    p["metadata"]["annotations"][jt.INDEX_FAILURES] = str(before)
    return p


def test_an_index_fails_for_good_past_its_own_limit() -> None:
    j = job(completionMode="Indexed", completions=3, backoffLimitPerIndex=1)
    first = jt.classify(j, [failed_index_pod("a", 0, before=0)], jt.tracked, set(), set())
    assert first.failed == ["a"] and first.failed_indexes == set()  # one failure of index 0: retried
    second = jt.classify(j, [failed_index_pod("b", 0, before=1)], jt.tracked, set(), set())
    assert second.failed_indexes == {0}
    fail_index = job(completionMode="Indexed", completions=3, backoffLimitPerIndex=5, podFailurePolicy={"rules": [
        {"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [9]}}]})
    assert jt.classify(fail_index, [failed_index_pod("c", 2, before=0, code=9)], jt.tracked, set(),
                       set()).failed_indexes == {2}
    assert jt.index_failures(j, [failed_index_pod("a", 0, 0), failed_index_pod("b", 0, 1)], NOW)[0][0] == 2


def test_failed_indexes_end_the_job_as_failed_or_too_many_fail_it_at_once() -> None:
    j = job(completionMode="Indexed", completions=3, backoffLimitPerIndex=1, backoffLimit=2**31 - 1)
    assert jt.goal(j, {}, [], {0, 2}, 2, 2, "", NOW, {1}) == jt.Target(True, *jt.FAILED_INDEXES)
    assert jt.goal(j, {}, [pod()], {0}, 1, 2, "", NOW, {1}) is None  # index 2 still runs
    capped = job(completionMode="Indexed", completions=5, backoffLimitPerIndex=1, maxFailedIndexes=1)
    assert jt.goal(capped, {}, [pod()], set(), 0, 4, "", NOW, {1, 3}) == jt.Target(True, *jt.MAX_FAILED_INDEXES)


def test_a_retried_index_pod_carries_its_failure_count() -> None:
    ref = {"kind": "Job", "name": "calc", "uid": "j-1"}
    p = jt.pod_for(job(completionMode="Indexed", completions=2, backoffLimitPerIndex=2), 1, ref, failures=2)
    assert p["metadata"]["annotations"][jt.INDEX_FAILURES] == "2"
