"""Who may do what on this API server: each request's authentication and authorization.

    attributes.py    a request's authorization attributes, from its method, path and query
    authorizer.py    AlwaysAllow and the RBAC authorizer over the watch cache; Forbidden wording
    middleware.py    the aiohttp middleware that authenticates, then authorizes, each request
    review.py        SelfSubjectAccessReview (`kubectl auth can-i`), SelfSubjectRulesReview
                     (`auth can-i --list`), SelfSubjectReview (`auth whoami`)
    review_proto.py  decoding the protobuf reviews kubectl sends

Identities, credentials and RBAC rule matching themselves are controlplane/auth's.
"""
