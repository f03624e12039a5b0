"""Node identity on a secured control plane: join tokens, node certificates, mutual TLS between
the gateway and agents and between the API server and agents, and certificate renewal.

Real etcd, the real HTTPS API server with the cluster PKI, the real gateway, and hollow agents
(in process, or the `pyctl-agent` CLI as a subprocess) with real credentials on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import stat
import sys

import grpc
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from agent.credentials import NodeCredentials, fetch_ca, join
from agent.hollow import hollow_agent
from agent.podtokens import GatewayTokens
from agent.pods import PodTimings
from agent.session import SessionConfig
from controlplane.auth import bootstrap_token as bt
from controlplane.auth.pki import issue, load_ca
from controlplane.gateway import GatewayConfig, start_gateway
from controlplane.gateway.security import GatewayTls
from pyctl_proto import node_pb2 as pb
from pyctl_proto import node_pb2_grpc

from ..cluster import free_port, stop_process, wait_until
from .secure_api import SecureApiServer, call, secure_api  # noqa: F401 (a fixture)
from .test_pyctl import REPO, pyctl

PODS = "/api/v1/namespaces/default/pods"
SECRETS = "/api/v1/namespaces/kube-system/secrets"
EXEC_QUERY = [("command", "ls"), ("stdout", "true"), ("stderr", "true")]
HOLLOW_EXEC = "hollow node n1: containers are simulated and nothing runs, so there is nothing to exec into"


async def start_secured_gateway(api: SecureApiServer, lifetime: float = 3600.0):
    config = GatewayConfig(heartbeat_period=0.2, lease_renew_interval=0.5, status_flush_interval=0.05,
                           tls=GatewayTls.from_pki(api.pki, lifetime), join_listen="127.0.0.1:0")
    return await start_gateway(api.url, "127.0.0.1:0", config)


@pytest.fixture
async def gateway(secure_api):
    handle = await start_secured_gateway(secure_api)
    yield handle
    await handle.stop()


@pytest.fixture
async def agents():
    started = []

    def start(server: str, name: str, creds: NodeCredentials):
        a = hollow_agent(server, name, pod_timings=PodTimings(resync_period=0.2, backoff_base=0.2),
                         session_config=SessionConfig(backoff_base=0.05, backoff_max=0.5),
                         credentials=creds).start()
        started.append(a)
        return a

    yield start
    await asyncio.gather(*(a.stop() for a in started))


async def make_token(api: SecureApiServer, ttl: float = 3600.0) -> str:
    token = bt.generate()
    async with api.session("admin") as admin:
        status, body = await call(admin, "POST", SECRETS, bt.secret_for(token, ttl))
    assert status == 201, body
    return token


async def joined(api, gateway, tmp_path, name: str) -> NodeCredentials:
    creds = NodeCredentials(tmp_path / name / "pki")
    await join(gateway.join_address, await make_token(api), name, api.pki.ca_cert.read_bytes(), creds)
    return creds


async def create_pod(api: SecureApiServer, name: str, node: str) -> None:
    async with api.session("admin") as admin:
        status, body = await call(admin, "POST", PODS, {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}})
    assert status == 201, body


async def node_ready(api: SecureApiServer, name: str) -> bool:
    async with api.session("admin") as admin:
        status, node = await call(admin, "GET", f"/api/v1/nodes/{name}")
    conds = {c["type"]: c["status"] for c in (node.get("status") or {}).get("conditions", [])} if status == 200 else {}
    return conds.get("Ready") == "True"


async def run_agent(*args: str, capture: bool = False) -> asyncio.subprocess.Process:
    """`pyctl-agent --runtime hollow ARGS`; its output is kept only with `capture` (a long-running
    agent would otherwise fill the pipe nobody reads)."""
    out = asyncio.subprocess.PIPE if capture else asyncio.subprocess.DEVNULL
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "--runtime", "hollow", "--agent-listen", "127.0.0.1:0", *args,
        cwd=str(REPO), env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=out, stderr=out)




async def failed_join(*args: str) -> tuple[int, str]:
    proc = await run_agent(*args, capture=True)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, err.decode()


# -- tokens ------------------------------------------------------------------------------------

async def test_pyctl_token_create_list_delete(secure_api, tmp_path):
    config = secure_api.kubeconfig("admin", tmp_path / "admin.kubeconfig")
    created = await pyctl(None, "token", "create", "--ttl", "2h", "--description", "rack 4", config=config)
    assert created.code == 0, created.err
    token = created.out.splitlines()[0]
    assert bt.TOKEN_RE.match(token), created.out
    ca_hash = bt.ca_cert_hash(secure_api.pki.ca_cert.read_bytes())
    assert (f"pyctl-agent --server 127.0.0.1:7443 --token {token} --ca-cert-hash {ca_hash}"
            in created.out)
    token_id, secret = token.split(".")

    listed = await pyctl(None, "token", "list", config=config)
    assert listed.code == 0, listed.err
    header, row = listed.out.splitlines()
    assert header.split() == ["ID", "TTL", "EXPIRES", "DESCRIPTION"]
    assert row.split()[0] == token_id and row.split()[1] in ("1h", "2h", "119m", "120m")
    assert row.endswith("rack 4") and secret not in listed.out

    deleted = await pyctl(None, "token", "delete", token_id, config=config)
    assert (deleted.code, deleted.out.strip()) == (0, f'bootstrap token "{token_id}" deleted')
    again = await pyctl(None, "token", "delete", token_id, config=config)
    assert (again.code, again.err.strip()) == (1, f'error: bootstrap token "{token_id}" not found')
    empty = await pyctl(None, "token", "list", config=config)
    assert empty.out == "" and "No bootstrap tokens found" in empty.err


# -- joining -------------------------------------------------------------------------------------

async def test_agent_joins_with_a_token_and_the_ca_hash(secure_api, gateway, tmp_path):
    token = await make_token(secure_api)
    ca_hash = bt.ca_cert_hash(secure_api.pki.ca_cert.read_bytes())
    state = tmp_path / "node-1"
    proc = await run_agent("--server", gateway.address, "--join-server", gateway.join_address,
                           "--node-name", "node-1", "--state-dir", str(state),
                           "--token", token, "--ca-cert-hash", ca_hash)
    try:
        await wait_until(lambda: node_ready(secure_api, "node-1"), timeout=60)
    finally:
        await stop_process(proc)
    node_pem = state / "pki" / "node.pem"
    for f in (node_pem, state / "pki" / "ca.crt"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(node_pem.read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:node-1"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:nodes"
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(secure_api.pki.ca_cert.read_bytes()))

    # The token is not needed again: a restart without it uses the certificate on disk.
    async with secure_api.session("admin") as admin:
        await call(admin, "DELETE", f"{SECRETS}/{bt.secret_name(token.split('.')[0])}")
    restarted = await run_agent("--server", gateway.address, "--node-name", "node-1", "--state-dir", str(state))
    try:
        await wait_until(lambda: gateway.gateway.sessions.get("node-1") is not None, timeout=60)
    finally:
        await stop_process(restarted)


async def test_expired_deleted_and_malformed_tokens_cannot_join(secure_api, gateway, tmp_path):
    ca_hash = bt.ca_cert_hash(secure_api.pki.ca_cert.read_bytes())
    common = ("--server", gateway.address, "--join-server", gateway.join_address, "--node-name", "thief",
              "--ca-cert-hash", ca_hash)
    async with secure_api.session("admin") as admin:
        expired = bt.generate()
        secret = bt.secret_for(expired, 3600)
        secret["data"]["expiration"] = base64.b64encode(b"2020-01-01T00:00:00Z").decode()
        assert (await call(admin, "POST", SECRETS, secret))[0] == 201
    code, err = await failed_join(*common, "--state-dir", str(tmp_path / "a"), "--token", expired)
    assert code == 1
    assert f"join refused: token {expired.split('.')[0]} expired at 2020-01-01T00:00:00Z" in err
    assert not (tmp_path / "a" / "pki" / "node.pem").exists()

    deleted = await make_token(secure_api)
    async with secure_api.session("admin") as admin:
        await call(admin, "DELETE", f"{SECRETS}/{bt.secret_name(deleted.split('.')[0])}")
    code, err = await failed_join(*common, "--state-dir", str(tmp_path / "b"), "--token", deleted)
    assert code == 1 and f"token {deleted.split('.')[0]} is not known to the cluster" in err
    assert not (tmp_path / "b" / "pki" / "node.pem").exists()

    code, err = await failed_join(*common, "--state-dir", str(tmp_path / "c"), "--token", "not-a-token")
    assert code == 2 and "the token is malformed" in err  # a usage error, found before any dial

    code, err = await failed_join(*common[:-1], "sha256:" + "0" * 64, "--state-dir", str(tmp_path / "d"),
                                  "--token", await make_token(secure_api))
    assert code == 1 and "matches --ca-cert-hash" in err and "refusing to trust" in err
    assert not await node_ready(secure_api, "thief")


async def test_a_node_may_join_again_under_its_name(secure_api, gateway, tmp_path):
    """Reinstalling a node (its key is gone) is a second join with a valid token: allowed."""
    first = await joined(secure_api, gateway, tmp_path / "install-1", "again")
    second = await joined(secure_api, gateway, tmp_path / "install-2", "again")
    assert first.node_name() == second.node_name() == "again"
    assert first.certificate().public_key() != second.certificate().public_key()


async def test_an_agent_started_before_the_gateway_waits_for_its_join_port(secure_api, tmp_path):
    """The join port may open after the agent starts (a control plane still starting, a node booted
    first): the agent retries an unreachable join port until --join-timeout, then says why."""
    token = await make_token(secure_api)
    ca_hash = bt.ca_cert_hash(secure_api.pki.ca_cert.read_bytes())
    gw_port, join_port = free_port(), free_port()
    proc = await run_agent("--server", f"127.0.0.1:{gw_port}", "--join-server", f"127.0.0.1:{join_port}",
                           "--node-name", "early", "--state-dir", str(tmp_path / "early"),
                           "--token", token, "--ca-cert-hash", ca_hash)
    handle = None
    try:
        await asyncio.sleep(1.0)  # it has dialled the closed join port by now
        assert proc.returncode is None, "the agent gave up on a join port that was not open yet"
        config = GatewayConfig(heartbeat_period=0.2, lease_renew_interval=0.5, status_flush_interval=0.05,
                               tls=GatewayTls.from_pki(secure_api.pki, 3600.0), join_listen=f"127.0.0.1:{join_port}")
        handle = await start_gateway(secure_api.url, f"127.0.0.1:{gw_port}", config)
        await wait_until(lambda: node_ready(secure_api, "early"), timeout=60)
    finally:
        await stop_process(proc)
        if handle is not None:
            await handle.stop()

    # Nothing ever answers: it gives up after --join-timeout with the reason, and writes nothing.
    code, err = await failed_join("--server", f"127.0.0.1:{free_port()}", "--join-server", f"127.0.0.1:{free_port()}",
                                  "--node-name", "never", "--state-dir", str(tmp_path / "never"), "--join-timeout", "2",
                                  "--token", token, "--ca-cert-hash", ca_hash)
    assert code == 1 and "cannot reach the gateway's join port" in err and "retrying" in err, err
    assert not (tmp_path / "never" / "pki" / "node.pem").exists()


async def test_the_pinned_ca_is_found_in_the_join_ports_chain(secure_api, gateway):
    ca = secure_api.pki.ca_cert.read_bytes()
    assert await asyncio.to_thread(fetch_ca, gateway.join_address, bt.ca_cert_hash(ca)) == ca


# -- node authorization ----------------------------------------------------------------------------

def register(name: str) -> pb.AgentMessage:
    return pb.AgentMessage(register=pb.Register(node_name=name))


async def test_a_node_cert_speaks_only_for_its_node(secure_api, gateway, tmp_path, agents):
    creds_a = await joined(secure_api, gateway, tmp_path, "node-a")
    creds_b = await joined(secure_api, gateway, tmp_path, "node-b")
    agents(gateway.address, "node-b", creds_b)
    await wait_until(lambda: node_ready(secure_api, "node-b"), timeout=30)
    await create_pod(secure_api, "on-b", "node-b")

    async with grpc.aio.secure_channel(gateway.address, creds_a.channel_credentials()) as channel:
        call_as_b = node_pb2_grpc.NodeServiceStub(channel).Session()
        await call_as_b.write(register("node-b"))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call_as_b.read()
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "node node-a may not register as node-b" in refused.value.details()

        session = node_pb2_grpc.NodeServiceStub(channel).Session()
        await session.write(register("node-a"))
        assert (await session.read()).WhichOneof("msg") == "registered"
        await session.write(pb.AgentMessage(pod_status=pb.PodStatusBatch(updates=[pb.PodStatusUpdate(
            namespace="default", name="on-b", status_json=json.dumps({"phase": "Failed"}))])))
        while (msg := await asyncio.wait_for(session.read(), 30)).WhichOneof("msg") != "error":
            pass
        assert "pod default/on-b" in msg.error.message and "not bound to node node-a" in msg.error.message
        session.cancel()
    async with secure_api.session("admin") as admin:
        _, pod = await call(admin, "GET", f"{PODS}/on-b")
    assert (pod.get("status") or {}).get("phase") != "Failed"


async def test_without_a_node_cert_there_is_no_session(secure_api, gateway):
    async def session_error(channel) -> grpc.aio.AioRpcError:
        call_ = node_pb2_grpc.NodeServiceStub(channel).Session()
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await call_.write(register("intruder"))
            await call_.read()
        return failed.value

    async with grpc.aio.insecure_channel(gateway.address) as plain:  # no TLS at all
        assert (await session_error(plain)).code() == grpc.StatusCode.UNAVAILABLE
    ca = grpc.ssl_channel_credentials(secure_api.pki.ca_cert.read_bytes())
    async with grpc.aio.secure_channel(gateway.address, ca) as no_cert:  # TLS, no client cert
        assert (await session_error(no_cert)).code() == grpc.StatusCode.UNAVAILABLE
    async with grpc.aio.secure_channel(gateway.join_address, ca) as join_port:
        err = await session_error(join_port)
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED and "a node certificate is required" in err.details()
    # A client cert from the cluster CA that is not a node's (the admin's) is refused too.
    admin = issue(load_ca(secure_api.pki), "admin", groups=("system:masters",))
    creds = grpc.ssl_channel_credentials(secure_api.pki.ca_cert.read_bytes(), admin.key, admin.cert)
    async with grpc.aio.secure_channel(gateway.address, creds) as as_admin:
        err = await session_error(as_admin)
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED and "is not a node's" in err.details()
    assert gateway.gateway.sessions == {}


async def test_pod_tokens_go_over_one_channel_made_again_with_a_renewed_certificate(secure_api, gateway,
                                                                                        tmp_path):
    """The agent keeps one channel for its pods' tokens (a channel per pod start cost a TLS
    handshake each); a certificate saved since is used from the next request on."""
    creds = await joined(secure_api, gateway, tmp_path, "node-a")
    other = await joined(secure_api, gateway, tmp_path, "node-b")
    async with secure_api.session("admin") as admin:
        status, body = await call(admin, "POST", "/api/v1/namespaces/default/serviceaccounts",
                                  {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}})
    assert status == 201, body
    await create_pod(secure_api, "on-a", "node-a")
    async with secure_api.session("admin") as admin:
        _, pod = await call(admin, "GET", f"{PODS}/on-a")
    def request() -> pb.PodTokenRequest:
        return pb.PodTokenRequest(namespace="default", pod="on-a", uid=pod["metadata"]["uid"],
                                  expiration_seconds=3600)
    fetch = GatewayTokens(gateway.address, "node-a", creds)
    try:
        # The gateway learns the pod from its watch: asked until it has (refused until then).
        async def issued() -> bool:
            try:
                return bool((await fetch(request())).token)
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.PERMISSION_DENIED, exc.details()
                return False
        await wait_until(issued, timeout=30)
        channel = fetch._channel
        assert (await fetch(request())).token and fetch._channel is channel
        # node-b's certificate saved as this node's: the next request is node-b's, and refused.
        cert, key, ca = other.load()
        creds.save(key, cert, ca)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await fetch(request())
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "is not bound to node node-b" in refused.value.details()
    finally:
        await fetch.close()


# -- renewal -----------------------------------------------------------------------------------

async def test_the_agent_renews_its_certificate_before_expiry(secure_api, tmp_path, agents):
    gateway = await start_secured_gateway(secure_api, lifetime=12.0)
    try:
        creds = await joined(secure_api, gateway, tmp_path, "short")
        first = creds.certificate()
        agent = agents(gateway.address, "short", creds)
        await wait_until(lambda: node_ready(secure_api, "short"), timeout=30)
        await wait_until(lambda: creds.certificate().serial_number != first.serial_number, timeout=30)
        renewed = creds.certificate()
        assert renewed.not_valid_after_utc > first.not_valid_after_utc
        assert renewed.subject == first.subject
        # The session came back with the new certificate; the node stayed registered.
        await wait_until(lambda: agent.session.sessions >= 2 and agent.session.connected.is_set(), timeout=30)
        assert await node_ready(secure_api, "short")
        # Once the first certificate has expired, the agent's server presents a renewed one:
        # the API server (which checks validity) still reaches it for logs.
        await create_pod(secure_api, "p", "short")
        await wait_until(lambda: dt.datetime.now(dt.timezone.utc) > first.not_valid_after_utc, timeout=30)
        async with secure_api.session("admin") as admin:
            async def logged() -> str:
                async with admin.get(f"{PODS}/p/log") as resp:
                    return await resp.text() if resp.status == 200 else ""
            assert "[hollow] container c started" in await wait_until(logged, timeout=30)
        assert await node_ready(secure_api, "short")
    finally:
        await gateway.stop()


# -- the agent's own server --------------------------------------------------------------------------

async def test_logs_over_mutual_tls_and_only_for_the_api_server(secure_api, gateway, tmp_path, agents):
    creds = await joined(secure_api, gateway, tmp_path, "n1")
    agent = agents(gateway.address, "n1", creds)
    await wait_until(lambda: node_ready(secure_api, "n1"), timeout=30)
    await create_pod(secure_api, "web", "n1")
    async with secure_api.session("admin") as admin:
        async def logged() -> str:
            async with admin.get(f"{PODS}/web/log") as resp:
                return await resp.text() if resp.status == 200 else ""
        text = await wait_until(logged, timeout=30)
        assert "[hollow] container c started" in text
        # Exec goes the same way: the hollow agent's own refusal comes back, so it was reached.
        async with admin.ws_connect(f"{PODS}/web/exec", params=EXEC_QUERY,
                                    protocols=("v5.channel.k8s.io",)) as ws:
            messages = [msg.data async for msg in ws]
    assert json.loads(messages[-1][1:])["message"] == HOLLOW_EXEC

    # Anyone else with a cluster certificate (the admin's) is refused by the agent...
    address = f"127.0.0.1:{agent.server.port}"
    ca = secure_api.pki.ca_cert.read_bytes()
    other = issue(load_ca(secure_api.pki), "admin", groups=("system:masters",))
    options = [("grpc.ssl_target_name_override", "n1")]
    refused = await logs_error(grpc.aio.secure_channel(
        address, grpc.ssl_channel_credentials(ca, other.key, other.cert), options=options))
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "may not use the node agent's API" in refused.details()
    # ...and so is a caller without a client certificate, or without TLS (no handshake).
    for channel in (grpc.aio.secure_channel(address, grpc.ssl_channel_credentials(ca), options=options),
                    grpc.aio.insecure_channel(address)):
        assert (await logs_error(channel)).code() == grpc.StatusCode.UNAVAILABLE


async def logs_error(channel: grpc.aio.Channel) -> grpc.aio.AioRpcError:
    """How the agent ends a Logs call for pod default/web on `channel` (closed here)."""
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            async for _ in node_pb2_grpc.AgentStub(channel).Logs(pb.LogsRequest(namespace="default", pod="web")):
                pass
    return failed.value


# -- the whole path through the command lines ------------------------------------------------------

async def test_controlplane_with_pki_token_create_and_agent_join(etcd, tmp_path):
    """pyctl-controlplane --pki-dir secures its gateway; the join command pyctl prints works."""
    kubeconfig, port, gw, join_port = tmp_path / "admin.kubeconfig", free_port(), free_port(), free_port()
    cp = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controlplane", "--etcd-servers", etcd.url, "--listen", f"127.0.0.1:{port}",
        "--gateway-listen", f"127.0.0.1:{gw}", "--gateway-join-listen", f"127.0.0.1:{join_port}",
        "--pki-dir", str(tmp_path / "pki"), "--write-kubeconfig", str(kubeconfig),
        cwd=str(REPO), env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    agent = None
    try:
        await wait_until(lambda: kubeconfig.exists(), timeout=60)

        async def token_created():
            r = await pyctl(None, "token", "create", config=kubeconfig)
            return r.out if r.code == 0 else None
        out = await wait_until(token_created, timeout=60, interval=0.5)
        command = out.split("Join a node with:")[1].split()
        assert command[:3] == ["pyctl-agent", "--server", "127.0.0.1:7443"]
        flags = dict(zip(command[3::2], command[4::2]))
        agent = await run_agent("--server", f"127.0.0.1:{gw}", "--join-server", f"127.0.0.1:{join_port}",
                                "--node-name", "cli-node", "--state-dir", str(tmp_path / "node"),
                                "--token", flags["--token"], "--ca-cert-hash", flags["--ca-cert-hash"])

        async def ready():
            r = await pyctl(None, "get", "node", "cli-node", "--no-headers", config=kubeconfig)
            return r.code == 0 and r.out.split()[1] == "Ready"
        await wait_until(ready, timeout=90, interval=0.5)
        assert (tmp_path / "node" / "pki" / "node.pem").exists()
    finally:
        if agent is not None:
            await stop_process(agent)
        await stop_process(cp)
