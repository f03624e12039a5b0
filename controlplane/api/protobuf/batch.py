"""Tables for batch/v1 Job and CronJob (numbers from k8s.io/api batch/v1 generated.proto):
`kubectl create job` and `create cronjob` send them as protobuf."""

from __future__ import annotations

from .meta import TIME
from .schema import BOOL, I32, I64, Table, f, rep

KINDS = {"Job": "Job", "CronJob": "CronJob"}

MESSAGES: dict[str, Table] = {
    "Job": {1: f("metadata", "ObjectMeta"), 2: f("spec", "JobSpec"), 3: f("status", "JobStatus")},
    "JobSpec": {
        1: f("parallelism", I32, keep=True), 2: f("completions", I32, keep=True),
        3: f("activeDeadlineSeconds", I64, keep=True), 4: f("selector", "LabelSelector"),
        5: f("manualSelector", BOOL, keep=True), 6: f("template", "PodTemplateSpec"),
        7: f("backoffLimit", I32, keep=True), 8: f("ttlSecondsAfterFinished", I32, keep=True),
        9: f("completionMode"), 10: f("suspend", BOOL, keep=True), 11: f("podFailurePolicy", "PodFailurePolicy"),
        12: f("backoffLimitPerIndex", I32, keep=True), 13: f("maxFailedIndexes", I32, keep=True),
        14: f("podReplacementPolicy"), 15: f("managedBy"), 16: f("successPolicy", "SuccessPolicy"),
    },
    "PodFailurePolicy": {1: rep("rules", "PodFailurePolicyRule")},
    "PodFailurePolicyRule": {1: f("action"), 2: f("onExitCodes", "PodFailurePolicyOnExitCodesRequirement"),
                             3: rep("onPodConditions", "PodFailurePolicyOnPodConditionsPattern")},
    "PodFailurePolicyOnExitCodesRequirement": {1: f("containerName", keep=True), 2: f("operator"),
                                               3: rep("values", I32)},
    "PodFailurePolicyOnPodConditionsPattern": {1: f("type"), 2: f("status")},
    "SuccessPolicy": {1: rep("rules", "SuccessPolicyRule")},
    "SuccessPolicyRule": {1: f("succeededIndexes", keep=True), 2: f("succeededCount", I32, keep=True)},
    "JobStatus": {
        1: rep("conditions", "JobCondition"), 2: f("startTime", TIME), 3: f("completionTime", TIME),
        4: f("active", I32), 5: f("succeeded", I32), 6: f("failed", I32), 7: f("completedIndexes"),
        8: f("uncountedTerminatedPods", "UncountedTerminatedPods"), 9: f("ready", I32, keep=True),
        10: f("failedIndexes", keep=True), 11: f("terminating", I32, keep=True),
    },
    "JobCondition": {1: f("type"), 2: f("status"), 3: f("lastProbeTime", TIME), 4: f("lastTransitionTime", TIME),
                     5: f("reason"), 6: f("message")},
    "UncountedTerminatedPods": {1: rep("succeeded"), 2: rep("failed")},
    "JobTemplateSpec": {1: f("metadata", "ObjectMeta"), 2: f("spec", "JobSpec")},
    "CronJob": {1: f("metadata", "ObjectMeta"), 2: f("spec", "CronJobSpec"), 3: f("status", "CronJobStatus")},
    "CronJobSpec": {
        1: f("schedule"), 2: f("startingDeadlineSeconds", I64, keep=True), 3: f("concurrencyPolicy"),
        4: f("suspend", BOOL, keep=True), 5: f("jobTemplate", "JobTemplateSpec"),
        6: f("successfulJobsHistoryLimit", I32, keep=True), 7: f("failedJobsHistoryLimit", I32, keep=True),
        8: f("timeZone", keep=True),
    },
    "CronJobStatus": {1: rep("active", "ObjectReference"), 4: f("lastScheduleTime", TIME),
                      5: f("lastSuccessfulTime", TIME)},
}
