"""The node's credentials: joining with a bootstrap token, the node certificate on disk, renewal.

Kept in `<state-dir>/pki/`: `node.pem` (the node certificate followed by its key, one file so
a renewal replaces both at once, as the kubelet's kubelet-client-current.pem) and `ca.crt`
(the cluster CA), both 0600. The key is made here and never sent anywhere: the gateway gets
a CSR. Discovery follows kubeadm: fetch the chain the gateway presents on its join port
without trusting it, keep the CA whose SubjectPublicKeyInfo hashes to --ca-cert-hash, and
from then on verify the gateway against that CA only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import os
import re
import socket
import ssl
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import grpc

if TYPE_CHECKING:
    from cryptography import x509

# cryptography is imported where certificates are read or made, not here: it is a fifth of an
# idle agent's memory (about 10 MiB), and an agent without credentials never needs it.

from pyctl_proto import node_pb2 as pb
from pyctl_proto import node_pb2_grpc

log = logging.getLogger(__name__)

# The node protocol's identity conventions. The agent never imports the control plane, so
# they are stated here and in controlplane/auth (bootstrap_token.py, nodecert.py); a unit
# test checks that both sides agree.
NODE_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
KUBELET_CLIENT = "kube-apiserver-kubelet-client"
"""The only client CN the agent's own server answers: the API server's."""
TOKEN_RE = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")
HASH_RE = re.compile(r"^sha256:[0-9a-f]{64}$")

RPC_TIMEOUT = 30.0
OPTIONS = [("grpc.enable_retries", 0)]
RENEW_FRACTION = 2 / 3
"""Renew once this much of not_before..not_after has passed (a third is left)."""
RENEW_POLL_MAX = 60.0
"""Longest sleep between looks at the certificate (clocks jump; files get restored)."""


class JoinError(Exception):
    """Joining failed; the message is for the operator."""


class JoinUnreachable(JoinError):
    """The join port did not answer (yet): worth retrying, as the control plane may be starting."""


def ca_cert_hash(ca_pem: bytes) -> str:
    """kubeadm's discovery hash: `sha256:` + hex SHA-256 of the CA's DER SubjectPublicKeyInfo."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key = x509.load_pem_x509_certificate(ca_pem).public_key()
    return "sha256:" + hashlib.sha256(key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()


def join_flag_error(token: str, ca_hash: str) -> str:
    """What is wrong with --token / --ca-cert-hash ("" when both are well-formed)."""
    if not TOKEN_RE.match(token):
        return ("--token: the token is malformed: expected the form [a-z0-9]{6}.[a-z0-9]{16} "
                "(see `pyctl token create`)")
    if ca_hash and not HASH_RE.match(ca_hash.lower()):
        return f"--ca-cert-hash {ca_hash!r}: expected sha256:<64 hex digits>"
    return ""


def new_csr(node: str) -> tuple[bytes, bytes]:
    """(key PEM, CSR PEM) for `node`: a fresh P-256 key and a request over it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, NODES_GROUP),
                         x509.NameAttribute(NameOID.COMMON_NAME, NODE_PREFIX + node)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, csr.public_bytes(serialization.Encoding.PEM)


def _write_private(path: Path, data: bytes) -> None:
    """Replace `path` atomically with a 0600 file: a crash leaves the old file or the new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class NodeCredentials:
    """The node certificate, key and cluster CA in `directory` (see the module docstring)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.node_pem = self.directory / "node.pem"
        self.ca_file = self.directory / "ca.crt"
        self._lock = threading.Lock()  # the agent server's credential fetcher runs on gRPC's threads
        self.generation = 0
        """Bumped on every save: the agent server picks up a renewed certificate."""

    def exists(self) -> bool:
        return self.node_pem.exists() and self.ca_file.exists()

    def save(self, key_pem: bytes, cert_pem: bytes, ca_pem: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._lock:
            _write_private(self.ca_file, ca_pem)
            _write_private(self.node_pem, cert_pem + key_pem)
            self.generation += 1

    def load(self) -> tuple[bytes, bytes, bytes]:
        """(certificate PEM, key PEM, CA PEM)."""
        with self._lock:
            data, ca = self.node_pem.read_bytes(), self.ca_file.read_bytes()
        marker = data.index(b"-----BEGIN PRIVATE KEY-----")
        return data[:marker], data[marker:], ca

    def certificate(self) -> x509.Certificate:
        from cryptography import x509

        return x509.load_pem_x509_certificate(self.load()[0])

    def node_name(self) -> str:
        from cryptography.x509.oid import NameOID

        cn = self.certificate().subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        return str(cn).removeprefix(NODE_PREFIX)

    def renew_at(self) -> dt.datetime:
        c = self.certificate()
        return c.not_valid_before_utc + (c.not_valid_after_utc - c.not_valid_before_utc) * RENEW_FRACTION

    def channel_credentials(self) -> grpc.ChannelCredentials:
        cert, key, ca = self.load()
        return grpc.ssl_channel_credentials(ca, key, cert)


def gateway_channel(server: str, credentials: NodeCredentials | None,
                    options: list[tuple[str, Any]] | None = None) -> grpc.aio.Channel:
    """A channel to the gateway: mutual TLS with the node certificate as it is on disk now, or
    plaintext where the cluster runs without node credentials (`credentials` None)."""
    if credentials is None:
        return grpc.aio.insecure_channel(server, options=options)
    return grpc.aio.secure_channel(server, credentials.channel_credentials(), options=options)


def fetch_ca(join_server: str, pinned: str, timeout: float = 10.0) -> bytes:
    """The CA in the chain the gateway presents, if its SPKI hash is `pinned`; JoinError if none is."""
    from cryptography import x509

    host, _, port = join_server.rpartition(":")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # nothing is trusted yet: the pin decides below
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as raw, \
                ctx.wrap_socket(raw) as tls:
            # Public since Python 3.13; before, the same method on the private SSL object.
            chain_of = (getattr(tls, "get_unverified_chain", None)
                        or tls._sslobj.get_unverified_chain)  # type: ignore[attr-defined]
            chain = [str(c.public_bytes()).encode() for c in chain_of() or []]  # PEM text
    except ssl.SSLError as exc:  # something answered, but not a gateway's TLS: retrying won't help
        raise JoinError(f"the gateway's join port {join_server} does not speak TLS as expected: {exc}") from None
    except OSError as exc:
        raise JoinUnreachable(f"cannot reach the gateway's join port {join_server}: {exc}") from None
    except ValueError as exc:
        raise JoinError(f"cannot reach the gateway's join port {join_server}: {exc}") from None
    for pem in chain[1:]:  # the CA, not the serving cert itself
        cert = x509.load_pem_x509_certificate(pem)
        if ca_cert_hash(pem) == pinned:
            try:
                is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            except x509.ExtensionNotFound:
                is_ca = False
            if is_ca:
                return pem
    raise JoinError(f"no CA presented by {join_server} matches --ca-cert-hash {pinned}: refusing to "
                    "trust this server (is it the right control plane? re-run `pyctl token create` "
                    "for the current hash)")


async def join(join_server: str, token: str, node: str, ca_pem: bytes, credentials: NodeCredentials) -> None:
    """Trade the token and a CSR for a node certificate and save it; nothing is written on failure."""
    key_pem, csr_pem = new_csr(node)
    async with grpc.aio.secure_channel(join_server, grpc.ssl_channel_credentials(ca_pem),
                                       options=OPTIONS) as channel:
        try:
            issued = await node_pb2_grpc.NodeServiceStub(channel).Join(
                pb.JoinRequest(token=token, node_name=node, csr_pem=csr_pem), timeout=RPC_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            kind = JoinUnreachable if exc.code() == grpc.StatusCode.UNAVAILABLE else JoinError
            raise kind(f"joining {join_server} as node {node} failed: {exc.details()}") from None
    if ca_cert_hash(issued.ca_pem) != ca_cert_hash(ca_pem):
        raise JoinError("the gateway answered with another CA than the one pinned")
    credentials.save(key_pem, issued.cert_pem, issued.ca_pem)
    log.info("node %s joined the cluster at %s; credentials in %s", node, join_server, credentials.directory)


async def renew(server: str, credentials: NodeCredentials) -> None:
    """A fresh key and certificate, asked for with the current certificate."""
    key_pem, csr_pem = new_csr(credentials.node_name())
    async with grpc.aio.secure_channel(server, credentials.channel_credentials(),
                                       options=OPTIONS) as channel:
        issued = await node_pb2_grpc.NodeServiceStub(channel).Renew(pb.RenewRequest(csr_pem=csr_pem),
                                                                     timeout=RPC_TIMEOUT)
    credentials.save(key_pem, issued.cert_pem, issued.ca_pem)


async def keep_renewed(server: str, credentials: NodeCredentials, on_renewed: Callable[[], None],
                       retry: float = 5.0) -> None:
    """Renew whenever a third of the certificate's lifetime is left, until cancelled."""
    while True:
        left = (credentials.renew_at() - dt.datetime.now(dt.timezone.utc)).total_seconds()
        if left > 0:
            await asyncio.sleep(min(left, RENEW_POLL_MAX))
            continue
        try:
            await renew(server, credentials)
        except (grpc.aio.AioRpcError, OSError, ValueError) as exc:
            log.warning("renewing the node certificate failed (retrying in %.0fs): %s", retry, exc)
            await asyncio.sleep(retry)
            continue
        log.info("node certificate renewed; valid until %s", credentials.certificate().not_valid_after_utc)
        on_renewed()
