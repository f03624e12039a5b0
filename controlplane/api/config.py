"""The API server's settings (`pyctl-controlplane` flags), one documented field each."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApiConfig:
    etcd_servers: tuple[str, ...]
    """etcd client URLs, tried in order."""
    compaction_interval: float = 300.0
    """Seconds between etcd compactions (history kept for at least one interval)."""
    event_ttl: int = 3600
    """Seconds an Event is kept after it was created (etcd deletes it through a lease)."""
    encryption_provider_config: str | None = None
    """A kube EncryptionConfiguration file: the resources (Secrets) sealed at rest, and the keys."""
    tls_cert_file: str | None = None
    """The serving certificate (PEM); with tls_private_key_file, the API serves HTTPS only."""
    tls_private_key_file: str | None = None
    client_ca_file: str | None = None
    """CA bundle that client certificates are verified against (CN = user, O = groups)."""
    token_auth_file: str | None = None
    """Static bearer tokens, kube-apiserver's CSV: token,user,uid,"group1,group2"."""
    loopback_token: str | None = None
    """A secret the in-process components present (user system:apiserver, group system:masters)."""
    authorization_mode: str = "AlwaysAllow"
    """AlwaysAllow, or RBAC (bootstrap roles are then created at start)."""
    kubelet_client_certificate: str | None = None
    """The client cert presented to node agents (logs, exec); with the two below, mutual TLS."""
    kubelet_client_key: str | None = None
    kubelet_certificate_authority: str | None = None
    """The CA node agents' serving certificates are verified against."""
    service_cluster_ip_range: str = "10.96.0.0/16"
    """The IPv4 CIDR Services' ClusterIPs are allocated from (--service-cluster-ip-range)."""
    service_node_port_range: str = "30000-32767"
    """The ports NodePort and LoadBalancer Services' node ports are allocated from
    (--service-node-port-range)."""
    etcd_request_timeout: float = 10.0
    """Seconds one etcd call may take; past it the request fails with 504 (and the endpoint is
    dropped for the next one)."""
    etcd_watch_silence: float = 5.0
    """Seconds the watch cache's etcd watch may hear nothing before it is re-established."""
    service_account_signing_key_file: str | None = None
    """The PEM private key ServiceAccount tokens are signed with (TokenRequest); None: none issued."""
    service_account_key_files: tuple[str, ...] = ()
    """More PEM keys (public or private) tokens are checked against, e.g. a previous signing key."""
    service_account_issuer: str = "https://kubernetes.default.svc.cluster.local"
    """The `iss` of the tokens this server signs, and the one it accepts."""
    api_audiences: tuple[str, ...] = ()
    """What a token presented to this server must be for (one of); empty: the issuer."""
    service_account_max_token_expiration: int = 0
    """Seconds: longer TokenRequests are cut to this (0: no limit)."""
    advertise_address: str = ""
    """The IP this API server is reached at, listed in the `kubernetes` Service's endpoints ("": not listed)."""
    advertise_port: int = 0
    """The port beside advertise_address."""
    endpoint_reconcile_interval: float = 10.0
    """Seconds between renewals of this API server's endpoint lease (it expires after 15 s)."""

    @property
    def audiences(self) -> tuple[str, ...]:
        return self.api_audiences or (self.service_account_issuer,)
