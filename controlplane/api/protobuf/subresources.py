"""Tables for the bodies of subresource writes sent by typed clients: policy/v1 Eviction
(`kubectl drain`), autoscaling/v1 Scale and core/v1 Binding (numbers from k8s.io/api's
policy/v1, autoscaling/v1 and core/v1 generated.proto)."""

from __future__ import annotations

from .schema import I32, Table, f

# apiVersion -> kind -> message
KINDS = {"policy/v1": {"Eviction": "Eviction"}, "autoscaling/v1": {"Scale": "Scale"},
         "v1": {"Binding": "Binding"}}

MESSAGES: dict[str, Table] = {
    "Eviction": {1: f("metadata", "ObjectMeta"), 2: f("deleteOptions", "DeleteOptions")},
    "Scale": {1: f("metadata", "ObjectMeta"), 2: f("spec", "ScaleSpec"), 3: f("status", "ScaleStatus")},
    "ScaleSpec": {1: f("replicas", I32)},
    "ScaleStatus": {1: f("replicas", I32), 2: f("selector")},
    "Binding": {1: f("metadata", "ObjectMeta"), 2: f("target", "ObjectReference")},
}
