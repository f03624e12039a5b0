"""The API server's gRPC channel to a node agent (logs, exec): insecure, or mutual TLS.

With kubelet client credentials (kube-apiserver's --kubelet-client-certificate/-key and
--kubelet-certificate-authority, filled from --pki-dir) the API server presents its
`kube-apiserver-kubelet-client` certificate and verifies the agent's against the cluster CA,
checking that it was issued to the pod's node: the node certificate carries the node name
as its DNS SAN, so a node cannot answer for another.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from .config import ApiConfig


@dataclass(frozen=True)
class AgentTls:
    ca: bytes
    cert: bytes
    key: bytes

    @classmethod
    def from_config(cls, config: ApiConfig) -> "AgentTls | None":
        files = (config.kubelet_certificate_authority, config.kubelet_client_certificate,
                 config.kubelet_client_key)
        if not all(files):
            return None
        ca, cert, key = (Path(f).read_bytes() for f in files if f)
        return cls(ca, cert, key)


def agent_channel(address: str, node: str, tls: AgentTls | None) -> grpc.aio.Channel:
    if tls is None:
        return grpc.aio.insecure_channel(address)
    return grpc.aio.secure_channel(address, grpc.ssl_channel_credentials(tls.ca, tls.key, tls.cert),
                                   options=[("grpc.ssl_target_name_override", node)])
