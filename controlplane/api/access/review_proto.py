"""Reading a SelfSubject{Access,Rules}Review sent as Kubernetes protobuf (`kubectl auth can-i` does).

The wire format, the `k8s\\0` + runtime.Unknown envelope and the review's message tables live
in controlplane.api.protobuf, shared with every other protobuf request body. The review is
decoded as its kind whatever the envelope's typeMeta says; the answer goes back as JSON.
"""

from __future__ import annotations

from typing import Any

from ..protobuf import ProtoError, decode_as
from ..protobuf.wire import unwrap

__all__ = ["ProtoError", "decode_review", "decode_rules_review"]

_GROUP_VERSION = "authorization.k8s.io/v1"


def _decode(body: bytes, kind: str) -> dict[str, Any]:
    review = decode_as(_GROUP_VERSION, kind, unwrap(body).raw)
    review.setdefault("metadata", {})
    review.setdefault("spec", {})
    review.pop("status", None)  # the server's to fill
    return review


def decode_review(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded SelfSubjectAccessReview; ProtoError if malformed."""
    return _decode(body, "SelfSubjectAccessReview")


def decode_rules_review(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded SelfSubjectRulesReview (its spec is a namespace)."""
    return _decode(body, "SelfSubjectRulesReview")
