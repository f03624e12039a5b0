"""Tables for k8s.io/apimachinery meta/v1 messages every object carries (field numbers
are the protocol's, from apimachinery's meta/v1 generated.proto), and the special types."""

from __future__ import annotations

from .schema import BOOL, I64, Schema, Table, f, int_or_string, mp, quantity, raw_json, rep, time_

# Message names used by the other tables for the types that are not JSON objects.
TIME, QUANTITY, INT_OR_STRING, FIELDS_V1, RAW_EXTENSION = (
    "Time", "Quantity", "IntOrString", "FieldsV1", "RawExtension")

MESSAGES: dict[str, Table] = {
    "ObjectMeta": {
        1: f("name"), 2: f("generateName"), 3: f("namespace"), 4: f("selfLink"), 5: f("uid"),
        6: f("resourceVersion"), 7: f("generation", I64), 8: f("creationTimestamp", TIME),
        9: f("deletionTimestamp", TIME), 10: f("deletionGracePeriodSeconds", I64, keep=True),
        11: mp("labels"), 12: mp("annotations"), 13: rep("ownerReferences", "OwnerReference"),
        14: rep("finalizers"), 17: rep("managedFields", "ManagedFieldsEntry"),
    },
    "OwnerReference": {
        1: f("kind"), 3: f("name"), 4: f("uid"), 5: f("apiVersion"),
        6: f("controller", BOOL, keep=True), 7: f("blockOwnerDeletion", BOOL, keep=True),
    },
    "ManagedFieldsEntry": {
        1: f("manager"), 2: f("operation"), 3: f("apiVersion"), 4: f("time", TIME),
        6: f("fieldsType"), 7: f("fieldsV1", FIELDS_V1), 8: f("subresource"),
    },
    "LabelSelector": {1: mp("matchLabels"), 2: rep("matchExpressions", "LabelSelectorRequirement")},
    "LabelSelectorRequirement": {1: f("key"), 2: f("operator"), 3: rep("values")},
    "DeleteOptions": {
        1: f("gracePeriodSeconds", I64, keep=True), 2: f("preconditions", "Preconditions"),
        3: f("orphanDependents", BOOL, keep=True), 4: f("propagationPolicy"), 5: rep("dryRun"),
        6: f("ignoreStoreReadErrorWithClusterBreakingPotential", BOOL, keep=True),
    },
    "Preconditions": {1: f("uid"), 2: f("resourceVersion")},
    "Condition": {
        1: f("type"), 2: f("status"), 3: f("observedGeneration", I64), 4: f("lastTransitionTime", TIME),
        5: f("reason"), 6: f("message"),
    },
}

def install(schema: Schema) -> None:
    schema.add(MESSAGES)
    schema.special.update({TIME: time_, QUANTITY: quantity, INT_OR_STRING: int_or_string,
                           FIELDS_V1: raw_json, RAW_EXTENSION: raw_json})
