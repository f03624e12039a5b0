"""URL paths to their targets, and the memo of them: it must follow the served kinds as CRDs
come and go (a path that named nothing names a new kind once it is served, and not after)."""

from __future__ import annotations

import pytest

from controlplane.api import paths
from controlplane.api.errors import ApiError
from controlplane.resources import registry
from controlplane.resources.custom.kind import CustomKind

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.memo.example.com"},
    "spec": {"group": "memo.example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "schema": {"openAPIV3Schema": {"type": "object",
                                                          "x-kubernetes-preserve-unknown-fields": True}}}]},
}
WIDGET = "/apis/memo.example.com/v1/namespaces/default/widgets/w1"


def test_a_path_parses_to_its_target_the_same_from_the_memo() -> None:
    path = "/api/v1/namespaces/default/pods/p1/status"
    first, again = paths.parse(path), paths.parse(path)
    assert (first.info.resource, first.namespace, first.name, first.subresource) == ("pods", "default", "p1", "status")
    assert again == first == paths._parse(path)


def test_the_memo_follows_kinds_served_and_withdrawn() -> None:
    with pytest.raises(ApiError):
        paths.parse(WIDGET)
    kind = CustomKind(CRD, CRD["spec"]["versions"][0])
    registry.REGISTRY.register(kind)
    try:
        target = paths.parse(WIDGET)
        assert (target.info.kind, target.namespace, target.name) == ("Widget", "default", "w1")
        # Served again in place (a CRD update): the memo hands out the new kind's info.
        kind2 = CustomKind(CRD, CRD["spec"]["versions"][0])
        registry.REGISTRY.register(kind2)
        assert paths.parse(WIDGET).info is kind2.info
    finally:
        registry.REGISTRY.unregister(kind.info)
    with pytest.raises(ApiError):
        paths.parse(WIDGET)


def test_the_memo_is_bounded() -> None:
    for i in range(paths._MEMO_SIZE + 10):
        paths.parse(f"/api/v1/namespaces/default/pods/p{i}")
    assert len(paths._memo) <= paths._MEMO_SIZE
