"""The secured gateway: its TLS material, who a caller is, and the Join and Renew RPCs.

With a PKI the gateway listens twice. The node port (7443) requires a client certificate
signed by the cluster CA: Session and Renew are served there, and the caller's node name is
taken from its certificate, never from its messages. The join port (7444) is TLS without
client certificates and serves only Join, where a bootstrap token stands in for a certificate.
Two ports, not one with optional client certificates: gRPC Python offers only "require and
verify" or "do not ask" (ssl_server_credentials), so one port cannot serve both kinds of callers.

A second Join under a name that already has a Node is allowed: it is how a node is
reinstalled (its old key is gone); whoever holds a valid token may take over a name, as with
kubeadm's bootstrap tokens, so tokens are short-lived (24h by default) and deleted when done.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import grpc

from pyctl_proto import node_pb2 as pb

from ..auth import bootstrap_token, nodecert
from ..auth.pki import Issued, PkiPaths, load_ca
from ..client import ApiClient, NotFound
from ..resources import registry
from ..resources.validation import dns1123_subdomain

log = logging.getLogger(__name__)

SECRETS = registry.lookup("", "v1", "secrets")


@dataclass(frozen=True)
class GatewayTls:
    serving_key: bytes
    serving_chain: bytes
    """The serving cert followed by the CA: a joining agent pins the CA found in this chain."""
    ca: Issued
    """The cluster CA, with its key: the gateway signs node certificates."""
    node_cert_lifetime: float = nodecert.DEFAULT_LIFETIME

    @classmethod
    def from_pki(cls, pki: PkiPaths, node_cert_lifetime: float = nodecert.DEFAULT_LIFETIME) -> "GatewayTls":
        """The API server's serving cert (same SANs: agents dial the control plane's address)."""
        ca = load_ca(pki)
        return cls(pki.serving_key.read_bytes(), pki.serving_cert.read_bytes() + ca.cert, ca,
                   node_cert_lifetime)

    def node_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials([(self.serving_key, self.serving_chain)],
                                           root_certificates=self.ca.cert, require_client_auth=True)

    def join_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials([(self.serving_key, self.serving_chain)])


async def caller_node(context: grpc.aio.ServicerContext, tls: GatewayTls) -> str:
    """The node named by the caller's certificate; the call is aborted UNAUTHENTICATED without one."""
    pem = (context.auth_context().get("x509_pem_cert") or [b""])[0]
    if not pem:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                            "a node certificate is required: join first (pyctl-agent --token), and "
                            "dial the gateway's node port, not its join port")
    try:
        return nodecert.node_name(nodecert.verified_peer(pem, tls.ca.cert))
    except ValueError as exc:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
    raise AssertionError("unreachable")


async def _sign(context: grpc.aio.ServicerContext, tls: GatewayTls, node: str, csr_pem: bytes) -> pb.Certificate:
    try:
        # Off the event loop: signing is CPU work and sessions share this loop.
        cert = await asyncio.to_thread(nodecert.sign_node, tls.ca, node, csr_pem, tls.node_cert_lifetime)
    except nodecert.CsrError as exc:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    return pb.Certificate(cert_pem=cert, ca_pem=tls.ca.cert)


async def join(request: pb.JoinRequest, context: grpc.aio.ServicerContext, tls: GatewayTls,
               client: ApiClient) -> pb.Certificate:
    name = request.node_name
    if not name or dns1123_subdomain(name):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"node name {name!r} is not a valid node "
                            "name (a lowercase RFC 1123 subdomain)")
    try:
        token_id, _ = bootstrap_token.parse(request.token)
        assert SECRETS is not None
        try:
            secret = await client.get(SECRETS, bootstrap_token.secret_name(token_id),
                                      bootstrap_token.NAMESPACE)
        except NotFound:
            secret = None
        bootstrap_token.check(request.token, secret)
    except bootstrap_token.TokenError as exc:
        log.warning("join of node %s refused: %s", name, exc)
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"join refused: {exc}")
    certificate = await _sign(context, tls, name, request.csr_pem)
    log.info("node %s joined with token %s", name, token_id)
    return certificate


async def renew(request: pb.RenewRequest, context: grpc.aio.ServicerContext, tls: GatewayTls) -> pb.Certificate:
    node = await caller_node(context, tls)
    certificate = await _sign(context, tls, node, request.csr_pem)
    log.info("node %s renewed its certificate", node)
    return certificate
