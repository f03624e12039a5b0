"""Tables for policy/v1 PodDisruptionBudget (numbers from k8s.io/api policy/v1 generated.proto):
`kubectl create poddisruptionbudget` sends it as protobuf. The Eviction is in subresources.py."""

from __future__ import annotations

from .meta import INT_OR_STRING, TIME
from .schema import I32, I64, Table, f, mp, rep

KINDS = {"PodDisruptionBudget": "PodDisruptionBudget"}

MESSAGES: dict[str, Table] = {
    "PodDisruptionBudget": {1: f("metadata", "ObjectMeta"), 2: f("spec", "PodDisruptionBudgetSpec"),
                            3: f("status", "PodDisruptionBudgetStatus")},
    "PodDisruptionBudgetSpec": {1: f("minAvailable", INT_OR_STRING), 2: f("selector", "LabelSelector"),
                                3: f("maxUnavailable", INT_OR_STRING), 4: f("unhealthyPodEvictionPolicy", keep=True)},
    "PodDisruptionBudgetStatus": {1: f("observedGeneration", I64), 2: mp("disruptedPods", TIME),
                                  3: f("disruptionsAllowed", I32), 4: f("currentHealthy", I32),
                                  5: f("desiredHealthy", I32), 6: f("expectedPods", I32),
                                  7: rep("conditions", "Condition")},
}
