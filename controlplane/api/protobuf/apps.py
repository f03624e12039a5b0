"""Tables for apps/v1 Deployment and ReplicaSet (numbers from k8s.io/api apps/v1 generated.proto)."""

from __future__ import annotations

from .meta import INT_OR_STRING, TIME
from .schema import BOOL, I32, I64, Table, f, rep

KINDS = {"Deployment": "Deployment", "ReplicaSet": "ReplicaSet"}

MESSAGES: dict[str, Table] = {
    "Deployment": {1: f("metadata", "ObjectMeta"), 2: f("spec", "DeploymentSpec"),
                   3: f("status", "DeploymentStatus")},
    "DeploymentSpec": {
        1: f("replicas", I32, keep=True), 2: f("selector", "LabelSelector"), 3: f("template", "PodTemplateSpec"),
        4: f("strategy", "DeploymentStrategy"), 5: f("minReadySeconds", I32),
        6: f("revisionHistoryLimit", I32, keep=True), 7: f("paused", BOOL),
        9: f("progressDeadlineSeconds", I32, keep=True),
    },
    "DeploymentStrategy": {1: f("type"), 2: f("rollingUpdate", "RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: f("maxUnavailable", INT_OR_STRING), 2: f("maxSurge", INT_OR_STRING)},
    "DeploymentStatus": {
        1: f("observedGeneration", I64), 2: f("replicas", I32), 3: f("updatedReplicas", I32),
        4: f("availableReplicas", I32), 5: f("unavailableReplicas", I32), 6: rep("conditions", "DeploymentCondition"),
        7: f("readyReplicas", I32), 8: f("collisionCount", I32, keep=True), 9: f("terminatingReplicas", I32, keep=True),
    },
    "DeploymentCondition": {1: f("type"), 2: f("status"), 4: f("reason"), 5: f("message"),
                            6: f("lastUpdateTime", TIME), 7: f("lastTransitionTime", TIME)},
    "ReplicaSet": {1: f("metadata", "ObjectMeta"), 2: f("spec", "ReplicaSetSpec"),
                   3: f("status", "ReplicaSetStatus")},
    "ReplicaSetSpec": {1: f("replicas", I32, keep=True), 2: f("selector", "LabelSelector"),
                       3: f("template", "PodTemplateSpec"), 4: f("minReadySeconds", I32)},
    "ReplicaSetStatus": {1: f("replicas", I32), 2: f("fullyLabeledReplicas", I32), 3: f("observedGeneration", I64),
                         4: f("readyReplicas", I32), 5: f("availableReplicas", I32),
                         7: f("terminatingReplicas", I32, keep=True)},
}
