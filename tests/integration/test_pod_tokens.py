"""NodeService.PodToken: a node's agent gets its pods' ServiceAccount tokens through the gateway
(real API server with a signing key, real gateway over gRPC on loopback; insecure gateway, so
the node names itself as in Register), and only for pods bound to that node. Admission mounts
the token volume in pods on such a server."""

from __future__ import annotations

import base64
import json

import grpc
import pytest

from agent.podtokens import GatewayTokens, PodTokens
from controlplane.auth.pki import _key_pem, _new_key
from controlplane.gateway import GatewayConfig, start_gateway
from pyctl_proto import node_pb2 as pb

from ..cluster import ApiServer, Client

PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture
async def signing_api(etcd, tmp_path):
    key = tmp_path / "sa.key"
    key.write_bytes(_key_pem(_new_key()))
    server = await ApiServer(etcd, service_account_signing_key_file=str(key)).start()
    yield server
    await server.stop()


@pytest.fixture
async def gateway(signing_api):
    handle = await start_gateway(signing_api.url, "127.0.0.1:0", GatewayConfig())
    yield handle
    await handle.stop()


async def make_pod(client: Client, name: str, node: str) -> dict:
    status, created = await client.request("POST", PODS, {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}})
    assert status == 201, created
    return created


async def test_a_node_gets_tokens_for_its_own_pods_only(signing_api, gateway):
    client = Client(signing_api.url)
    fetch = GatewayTokens(gateway.address, "n1")
    try:
        assert (await client.request("POST", "/api/v1/namespaces/default/serviceaccounts",
                                     {"apiVersion": "v1", "kind": "ServiceAccount",
                                      "metadata": {"name": "default"}}))[0] == 201
        created = await make_pod(client, "p", "n1")
        # Admission mounted the token volume (this server signs tokens).
        volume = created["spec"]["volumes"][0]
        assert volume["name"].startswith("kube-api-access-")
        uid = created["metadata"]["uid"]

        tokens = PodTokens(fetch)
        source = volume["projected"]["sources"][0]["serviceAccountToken"]
        assert await tokens.ensure(created)
        token = tokens.token(created, source).decode()
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert claims["sub"] == "system:serviceaccount:default:default"
        assert claims["kubernetes.io"]["pod"] == {"name": "p", "uid": uid}
        assert claims["kubernetes.io"]["node"]["name"] == "n1"
        assert claims["exp"] - claims["iat"] == 3607
        status, body = await client.request("GET", PODS, headers={"Authorization": f"Bearer {token}"})
        assert status == 200  # no RBAC on this server: authenticated, then allowed

        async def ask(node: str, **fields) -> pb.IssuedToken:
            request = pb.PodTokenRequest(**{"namespace": "default", "pod": "p", "uid": uid,
                                            "expiration_seconds": 3600, **fields})
            as_node = GatewayTokens(gateway.address, node)
            try:
                return await as_node(request)
            finally:
                await as_node.close()

        for node, fields, code in (("n2", {}, grpc.StatusCode.PERMISSION_DENIED),   # not its pod
                                   ("n1", {"uid": "other"}, grpc.StatusCode.PERMISSION_DENIED),  # a former pod
                                   ("n1", {"expiration_seconds": 60}, grpc.StatusCode.INVALID_ARGUMENT)):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await ask(node, **fields)
            assert refused.value.code() == code, refused.value.details()
        assert "is not bound to node n2" in (await _details(ask, "n2"))
        assert (await ask("n1", audience="vault")).token
    finally:
        await fetch.close()
        await client.close()


async def _details(ask, node: str) -> str:
    try:
        await ask(node)
    except grpc.aio.AioRpcError as exc:
        return exc.details() or ""
    return ""
