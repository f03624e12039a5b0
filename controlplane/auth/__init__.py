"""Who is calling and what they may do: the cluster PKI, TLS, authentication and RBAC.

    pki.py         the cluster CA and the certificates it issues (files an operator backs up)
    tls.py         ssl contexts: the API server's serving context, clients' contexts
    user.py        UserInfo and the well-known user and group names
    authn.py       authenticators: static token file, client certificates, the loopback token
    attributes.py  a request's authorization attributes (verb, resource, namespace, ...)
    rbac.py        pure RBAC rule matching over Roles and bindings; aggregated ClusterRole rules
    coverage.py    whether held rules cover rules to grant (escalation checks), and Kubernetes'
                   wording of what is missing
    authorizer.py  AlwaysAllow and the RBAC authorizer over the watch cache, Forbidden messages
    bootstrap.py   the bootstrap ClusterRoles and ClusterRoleBinding made at API start
    middleware.py  the aiohttp middleware that authenticates then authorizes each request
    review.py      SelfSubjectAccessReview (`kubectl auth can-i`), SelfSubjectRulesReview
                   (`auth can-i --list`), SelfSubjectReview (`auth whoami`)
    review_proto.py  decoding the protobuf review kubectl sends
    serving.py     from flags to a secured server: PKI files, ssl context, the loopback identity
    kubeconfig.py  writing an admin kubeconfig
    bootstrap_token.py  join tokens (kubeadm's format, kept as Secrets) and the CA's discovery hash
    nodecert.py    node certificates signed from CSRs, node identity from a certificate, and the
                   API server's client cert for dialing agents
"""
