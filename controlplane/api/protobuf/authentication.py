"""Tables for authentication.k8s.io/v1 TokenRequest (`kubectl create token`) and TokenReview
(numbers from k8s.io/api authentication/v1 generated.proto)."""

from __future__ import annotations

from .meta import TIME
from .schema import BOOL, I64, Table, f, mp, rep

KINDS = {"TokenRequest": "TokenRequest", "TokenReview": "TokenReview"}

MESSAGES: dict[str, Table] = {
    "TokenRequest": {1: f("metadata", "ObjectMeta"), 2: f("spec", "TokenRequestSpec"),
                     3: f("status", "TokenRequestStatus")},
    "TokenRequestSpec": {1: rep("audiences"), 3: f("boundObjectRef", "BoundObjectReference"),
                         4: f("expirationSeconds", I64)},
    "BoundObjectReference": {1: f("kind"), 2: f("apiVersion"), 3: f("name"), 4: f("uid")},
    "TokenRequestStatus": {1: f("token"), 2: f("expirationTimestamp", TIME)},
    "TokenReview": {1: f("metadata", "ObjectMeta"), 2: f("spec", "TokenReviewSpec"),
                    3: f("status", "TokenReviewStatus")},
    "TokenReviewSpec": {1: f("token"), 2: rep("audiences")},
    "TokenReviewStatus": {1: f("authenticated", BOOL), 2: f("user", "UserInfo"), 3: f("error"),
                          4: rep("audiences")},
    "UserInfo": {1: f("username"), 2: f("uid"), 3: rep("groups"), 4: mp("extra", "ExtraValue")},
    "ExtraValue": {1: rep("items")},
}
