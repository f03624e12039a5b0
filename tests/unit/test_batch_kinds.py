"""Jobs, CronJobs, PodDisruptionBudgets and ReplicationControllers as the API server checks and
prints them: kube's defaults, its validation messages, and kubectl's columns."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from controlplane.resources import registry
from controlplane.resources.checks import apply_defaults, validate
from controlplane.resources.kinds.job import JOB
from controlplane.resources.tables import table

NOW = dt.datetime(2026, 11, 27, 12, 0, 0, tzinfo=dt.timezone.utc)
TEMPLATE = {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl:5.34"}]}}


def ago(seconds: float) -> str:
    return (NOW - dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def created_job(**spec) -> dict:
    """A Job as the API server has it after create: uid, generated selector, defaults."""
    obj = {"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": "pi", "namespace": "default", "uid": "11111111-2222"},
           "spec": {"template": copy.deepcopy(TEMPLATE), **spec}}
    JOB.prepare_for_create(obj)
    apply_defaults(obj)
    return obj


def cronjob(**spec) -> dict:
    obj = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "hello", "namespace": "default"},
           "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": copy.deepcopy(TEMPLATE)}}, **spec}}
    apply_defaults(obj)
    return obj


def causes(obj: dict, old: dict | None = None) -> list[tuple[str, str]]:
    return [(c["field"], c["message"]) for c in validate(obj, old)]


# -- Job ---------------------------------------------------------------------------------------

def test_a_job_gets_kubes_defaults_and_a_selector_of_its_uid() -> None:
    j = created_job()
    uid = "11111111-2222"
    labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "pi",
              "controller-uid": uid, "job-name": "pi"}
    assert j["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert j["spec"]["template"]["metadata"]["labels"] == labels == j["metadata"]["labels"]
    assert {k: j["spec"][k] for k in ("completions", "parallelism", "backoffLimit", "completionMode", "suspend",
                                      "podReplacementPolicy")} == {
        "completions": 1, "parallelism": 1, "backoffLimit": 6, "completionMode": "NonIndexed",
        "suspend": False, "podReplacementPolicy": "TerminatingOrFailed"}
    assert j["status"] == {} and validate(j) == []
    work_queue = created_job(parallelism=3)
    assert "completions" not in work_queue["spec"]
    assert created_job(podFailurePolicy={"rules": []})["spec"]["podReplacementPolicy"] == "Failed"
    assert created_job(completionMode="Indexed", completions=2, backoffLimitPerIndex=1)["spec"]["backoffLimit"] == 2**31 - 1


def test_job_rules_speak_as_kube_apiserver() -> None:
    j = created_job(completionMode="Indexed", parallelism=-1)
    j["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert causes(j) == [
        ("spec.parallelism", "Invalid value: -1: must be greater than or equal to 0"),
        ("spec.completions", "Required value: when completion mode is Indexed"),
        ("spec.template.spec.restartPolicy", 'Required value: valid values: "OnFailure", "Never"'),
    ]


def test_a_user_selector_without_manual_selector_is_not_auto_generated() -> None:
    j = created_job(selector={"matchLabels": {"app": "pi"}})
    j["spec"]["template"]["metadata"]["labels"]["app"] = "pi"
    assert ("spec.selector", "Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"
            "\"app\":\"pi\", \"batch.kubernetes.io/controller-uid\":\"11111111-2222\"}, "
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: `selector` not auto-generated") in causes(j)
    manual = created_job(manualSelector=True, selector={"matchLabels": {"app": "pi"}})
    manual["spec"]["template"]["metadata"] = {"labels": {"app": "pi"}}
    assert validate(manual) == []


def test_pod_failure_policy_rules() -> None:
    policy = {"rules": [{"action": "Explode", "onExitCodes": {"operator": "In", "values": [0, 3, 3, 1]}},
                        {"action": "Ignore"},
                        {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [1], "containerName": "x"},
                         "onPodConditions": [{"type": "DisruptionTarget"}]}]}
    got = causes(created_job(podFailurePolicy=policy))
    p = "spec.podFailurePolicy.rules"
    assert got[:7] == [
        (f"{p}[0].action", 'Unsupported value: "Explode": supported values: "Count", "FailIndex", "FailJob", "Ignore"'),
        (f"{p}[0].onExitCodes.values[0]", "Invalid value: 0: must not be 0 for the In operator"),
        (f"{p}[0].onExitCodes.values[2]", "Duplicate value: 3"),
        (f"{p}[0].onExitCodes.values", "Invalid value: []int32{0, 3, 3, 1}: must be ordered"),
        (f"{p}[1]", "Invalid value: specifying one of OnExitCodes and OnPodConditions is required"),
        (f"{p}[2].onExitCodes.containerName",
         'Invalid value: "x": must be one of the container or initContainer names in the pod template'),
        (f"{p}[2]", "Invalid value: specifying both OnExitCodes and OnPodConditions is not supported"),
    ]
    on_failure = created_job(podFailurePolicy={"rules": []})
    on_failure["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    assert causes(on_failure) == [("spec.template.spec.restartPolicy",
                                   'Invalid value: "OnFailure": only "Never" is supported when podFailurePolicy is specified')]


def test_success_policy_needs_an_indexed_job_with_indexes_in_range() -> None:
    assert causes(created_job(successPolicy={"rules": [{"succeededCount": 1}]})) == [
        ("spec.successPolicy", "Invalid value: requires indexed completion mode")]
    bad = created_job(completionMode="Indexed", completions=5, successPolicy={"rules": [
        {"succeededIndexes": "3-1"}, {"succeededIndexes": "0-1", "succeededCount": 3}, {}]})
    assert causes(bad) == [
        ("spec.successPolicy.rules[0].succeededIndexes", 'Invalid value: "3-1": error parsing succeededIndexes: '
         'the fragment "3-1" violates the requirement that first index must be less than last'),
        ("spec.successPolicy.rules[1].succeededCount",
         "Invalid value: 3: must be less than or equal to 2 (the number of indexes in the specified succeededIndexes field)"),
        ("spec.successPolicy.rules[2]", "Required value: at least one of succeededCount or succeededIndexes must be specified"),
    ]


def test_a_running_jobs_template_and_completions_are_immutable() -> None:
    old = created_job(completions=3)
    new = copy.deepcopy(old)
    new["spec"]["completions"] = 4
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "perl:5.36"
    new["spec"]["parallelism"] = 2  # mutable
    assert causes(new, old) == [("spec.completions", "Invalid value: 4: field is immutable"),
                                ("spec.template", "Invalid value: core.PodTemplateSpec{...}: field is immutable")]
    suspended = created_job(suspend=True)
    moved = copy.deepcopy(suspended)
    moved["spec"]["template"]["spec"]["nodeSelector"] = {"pool": "batch"}
    assert causes(moved, suspended) == []  # a suspended Job that never started may move


# -- CronJob -----------------------------------------------------------------------------------

def test_a_cronjob_gets_kubes_defaults() -> None:
    cj = cronjob()
    assert {k: cj["spec"][k] for k in ("concurrencyPolicy", "suspend", "successfulJobsHistoryLimit",
                                       "failedJobsHistoryLimit")} == {
        "concurrencyPolicy": "Allow", "suspend": False, "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1}
    assert "completions" not in cj["spec"]["jobTemplate"]["spec"] and validate(cj) == []


@pytest.mark.parametrize("change, field, message", [
    ({"schedule": "*/5 * * *"}, "spec.schedule", 'Invalid value: "*/5 * * *": expected exactly 5 fields, found 4: [*/5 * * *]'),
    ({"schedule": ""}, "spec.schedule", "Required value"),
    ({"schedule": "TZ=UTC 0 * * * *"}, "spec.schedule",
     'Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead'),
    ({"timeZone": "Mars/Olympus"}, "spec.timeZone", 'Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus'),
    ({"timeZone": "Local"}, "spec.timeZone", 'Invalid value: "Local": unknown time zone Local'),
    ({"concurrencyPolicy": "Sometimes"}, "spec.concurrencyPolicy",
     'Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"'),
    ({"startingDeadlineSeconds": -5}, "spec.startingDeadlineSeconds", "Invalid value: -5: must be greater than or equal to 0"),
])
def test_cronjob_rules(change: dict, field: str, message: str) -> None:
    cj = cronjob()
    cj["spec"].update(change)
    assert causes(cj) == [(field, message)]


def test_a_cronjob_name_leaves_room_for_its_jobs_suffix_and_templates_have_no_selector() -> None:
    cj = cronjob()
    cj["metadata"]["name"] = "n" * 53
    assert causes(cj) == [("metadata.name", f'Invalid value: "{"n" * 53}": must be no more than 52 characters')]
    cj = cronjob()
    cj["spec"]["jobTemplate"]["spec"]["selector"] = {"matchLabels": {"a": "b"}}
    assert [f for f, _ in causes(cj)] == ["spec.jobTemplate.spec.selector"]
    assert validate(cronjob(timeZone="Europe/Berlin")) == []


# -- PodDisruptionBudget -----------------------------------------------------------------------

@pytest.mark.parametrize("spec, expected", [
    ({"minAvailable": 1, "maxUnavailable": 1}, [("spec", "minAvailable and maxUnavailable cannot be both set")]),
    ({"minAvailable": "150%"}, [("spec.minAvailable", "Invalid value: 150%: must not be greater than 100%")]),
    ({"maxUnavailable": "half"}, [("spec.maxUnavailable", "Invalid value: half: a valid percent string must be a "
                                   "numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for "
                                   "validation is '[0-9]+%')")]),
    ({"maxUnavailable": -1}, [("spec.maxUnavailable", "Invalid value: -1: must be greater than or equal to 0")]),
    ({"minAvailable": 1, "unhealthyPodEvictionPolicy": "Never"},
     [("spec.unhealthyPodEvictionPolicy", 'Unsupported value: "Never": supported values: "AlwaysAllow", "IfHealthyBudget"')]),
    ({"minAvailable": "30%", "selector": {"matchLabels": {"app": "web"}}}, []),
])
def test_pdb_rules(spec: dict, expected: list) -> None:
    obj = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
           "metadata": {"name": "web", "namespace": "default"}, "spec": spec}
    got = [(f, m.split("}: ")[-1] if f == "spec" else m) for f, m in causes(obj)]
    assert got == expected


# -- tables ------------------------------------------------------------------------------------

def cells(resource: str, group: str, obj: dict) -> dict:
    info = registry.lookup(group, "v1", resource)
    printer = registry.kind_of(info).printer
    return dict(zip((c.name for c in printer.columns), table(printer, [obj], now=NOW)["rows"][0]["cells"]))


@pytest.mark.parametrize("resource, group, columns", [
    ("jobs", "batch", [("Name", 0), ("Status", 0), ("Completions", 0), ("Duration", 0), ("Age", 0),
                       ("Containers", 1), ("Images", 1), ("Selector", 1)]),
    ("cronjobs", "batch", [("Name", 0), ("Schedule", 0), ("Timezone", 0), ("Suspend", 0), ("Active", 0),
                           ("Last Schedule", 0), ("Age", 0), ("Containers", 1), ("Images", 1), ("Selector", 1)]),
    ("poddisruptionbudgets", "policy", [("Name", 0), ("Min Available", 0), ("Max Unavailable", 0),
                                        ("Allowed Disruptions", 0), ("Age", 0)]),
    ("replicationcontrollers", "", [("Name", 0), ("Desired", 0), ("Current", 0), ("Ready", 0), ("Age", 0),
                                    ("Containers", 1), ("Images", 1), ("Selector", 1)]),
])
def test_columns_are_kubectls(resource: str, group: str, columns: list) -> None:
    info = registry.lookup(group, "v1", resource)
    defs = table(registry.kind_of(info).printer, [], now=NOW)["columnDefinitions"]
    assert [(d["name"], d["priority"]) for d in defs] == columns and all(d["description"] for d in defs)


@pytest.mark.parametrize("spec, status, meta, shown", [
    ({"completions": 3}, {"succeeded": 1, "startTime": ago(90)}, {}, ("Running", "1/3", "90s")),
    ({"completions": 1}, {"succeeded": 1, "startTime": ago(300), "completionTime": ago(263),
                          "conditions": [{"type": "Complete", "status": "True"}]}, {}, ("Complete", "1/1", "37s")),
    ({"parallelism": 4}, {}, {}, ("Running", "0/1 of 4", "")),
    ({"completions": 2}, {"conditions": [{"type": "FailureTarget", "status": "True"}]},
     {"deletionTimestamp": ago(1)}, ("Terminating", "0/2", "")),
    ({"completions": 2, "suspend": True}, {"conditions": [{"type": "Suspended", "status": "True"}]}, {},
     ("Suspended", "0/2", "")),
    ({"completions": 2}, {"conditions": [{"type": "Failed", "status": "True"}]}, {}, ("Failed", "0/2", "")),
])
def test_job_rows(spec: dict, status: dict, meta: dict, shown: tuple) -> None:
    obj = {"metadata": {"name": "pi", "creationTimestamp": ago(600), **meta}, "spec": spec, "status": status}
    row = cells("jobs", "batch", obj)
    assert (row["Status"], row["Completions"], row["Duration"]) == shown and row["Age"] == "10m"


def test_cronjob_pdb_and_rc_rows() -> None:
    cj = cronjob(timeZone="Europe/Berlin")
    cj["metadata"]["creationTimestamp"] = ago(7200)
    cj["status"] = {"active": [{"name": "hello-1"}], "lastScheduleTime": ago(65)}
    row = cells("cronjobs", "batch", cj)
    assert (row["Schedule"], row["Timezone"], row["Suspend"], row["Active"], row["Last Schedule"], row["Age"]) == \
        ("*/5 * * * *", "Europe/Berlin", "False", 1, "65s", "120m")
    assert cells("cronjobs", "batch", cronjob())["Last Schedule"] == "<none>"
    pdb = {"metadata": {"name": "p", "creationTimestamp": ago(5)}, "spec": {"minAvailable": "50%"},
           "status": {"disruptionsAllowed": 2}}
    assert list(cells("poddisruptionbudgets", "policy", pdb).values()) == ["p", "50%", "N/A", 2, "5s"]
    rc = {"metadata": {"name": "r", "creationTimestamp": ago(5)},
          "spec": {"replicas": 3, "selector": {"b": "2", "a": "1"}, "template": {"spec": {"containers": [
              {"name": "c", "image": "busybox"}]}}}, "status": {"replicas": 2, "readyReplicas": 1}}
    assert list(cells("replicationcontrollers", "", rc).values()) == ["r", 3, 2, 1, "5s", "c", "busybox", "a=1,b=2"]
