"""Tables for the authorization.k8s.io/v1 self-reviews `kubectl auth can-i` sends
(numbers from k8s.io/api authorization/v1 generated.proto)."""

from __future__ import annotations

from .schema import BOOL, Table, f, rep

KINDS = {"SelfSubjectAccessReview": "SelfSubjectAccessReview",
         "SelfSubjectRulesReview": "SelfSubjectRulesReview"}

MESSAGES: dict[str, Table] = {
    "SelfSubjectAccessReview": {1: f("metadata", "ObjectMeta"), 2: f("spec", "SelfSubjectAccessReviewSpec"),
                                3: f("status", "SubjectAccessReviewStatus")},
    "SelfSubjectAccessReviewSpec": {1: f("resourceAttributes", "ResourceAttributes"),
                                    2: f("nonResourceAttributes", "NonResourceAttributes")},
    "ResourceAttributes": {1: f("namespace"), 2: f("verb"), 3: f("group"), 4: f("version"), 5: f("resource"),
                           6: f("subresource"), 7: f("name"), 8: f("fieldSelector", "SelectorAttributes"),
                           9: f("labelSelector", "SelectorAttributes")},
    # Field and label selector attributes share one layout {rawSelector, requirements}.
    "SelectorAttributes": {1: f("rawSelector"), 2: rep("requirements", "LabelSelectorRequirement")},
    "NonResourceAttributes": {1: f("path"), 2: f("verb")},
    "SubjectAccessReviewStatus": {1: f("allowed", BOOL), 2: f("reason"), 3: f("evaluationError"),
                                  4: f("denied", BOOL)},
    "SelfSubjectRulesReview": {1: f("metadata", "ObjectMeta"), 2: f("spec", "SelfSubjectRulesReviewSpec"),
                               3: f("status", "SubjectRulesReviewStatus")},
    "SelfSubjectRulesReviewSpec": {1: f("namespace")},
    "SubjectRulesReviewStatus": {1: rep("resourceRules", "ResourceRule"),
                                 2: rep("nonResourceRules", "NonResourceRule"),
                                 3: f("incomplete", BOOL), 4: f("evaluationError")},
    "ResourceRule": {1: rep("verbs"), 2: rep("apiGroups"), 3: rep("resources"), 4: rep("resourceNames")},
    "NonResourceRule": {1: rep("verbs"), 2: rep("nonResourceURLs")},
}
