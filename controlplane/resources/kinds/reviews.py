"""Reviews the API server answers at once and never stores (api/access/review.py)."""

from __future__ import annotations

from ..info import ResourceInfo
from ..kind import Kind


def _review(group: str, resource: str, kind: str) -> Kind:
    return Kind(ResourceInfo(group, "v1", resource, kind, kind.lower(), False, verbs=("create",)))


SELF_SUBJECT_ACCESS_REVIEW = _review("authorization.k8s.io", "selfsubjectaccessreviews",
                                     "SelfSubjectAccessReview")
SELF_SUBJECT_RULES_REVIEW = _review("authorization.k8s.io", "selfsubjectrulesreviews",
                                     "SelfSubjectRulesReview")
SELF_SUBJECT_REVIEW = _review("authentication.k8s.io", "selfsubjectreviews", "SelfSubjectReview")
TOKEN_REVIEW = _review("authentication.k8s.io", "tokenreviews", "TokenReview")
