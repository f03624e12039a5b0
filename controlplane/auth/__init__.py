"""Identities and what they may do: the cluster PKI, TLS, credentials and RBAC rules.

    pki.py         the cluster CA and the certificates it issues (files an operator backs up)
    tls.py         ssl contexts: the API server's serving context, clients' contexts
    user.py        UserInfo and the well-known user and group names
    authn.py       authenticators: static token file, client certificates, the loopback token
    attributes.py  authorization attributes (user, verb, resource, namespace, ...)
    rbac.py        pure RBAC rule matching over Roles and bindings; aggregated ClusterRole rules
    coverage.py    whether held rules cover rules to grant (escalation checks), and Kubernetes'
                   wording of what is missing
    bootstrap.py   the bootstrap ClusterRoles and ClusterRoleBinding (made at API start)
    kubeconfig.py  writing an admin kubeconfig
    bootstrap_token.py  join tokens (kubeadm's format, kept as Secrets) and the CA's discovery hash
    nodecert.py    node certificates signed from CSRs, node identity from a certificate, and the
                   API server's client cert for dialing agents

How the API server applies them to requests lives with it: controlplane/api/access/.
"""
