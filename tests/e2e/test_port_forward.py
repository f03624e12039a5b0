"""`port-forward` end to end, as root: a real runc agent behind a real gateway and API server,
a busybox httpd pod on the agent's CNI bridge; the agent's PortForward dials the pod, the
API server relays it over the WebSocket port-forward protocol, and `pyctl port-forward` and
the real `kubectl port-forward` serve it on loopback. Traffic goes only to loopback and to
the pod (in a namespace the test made)."""

from __future__ import annotations

import asyncio
import os

import aiohttp
import grpc
import pytest

from pyctl_proto import node_pb2 as pb
from pyctl_proto import node_pb2_grpc

from ..cluster import wait_until
from ..integration.kubectl import Kubectl
from ..integration.test_port_forward import Forwarder, exchange, forwarding, pyctl_forward
from .test_exec import PODS, cluster  # noqa: F401  (the fixture)
from .test_runtime import node, pytestmark  # noqa: F401  (the fixture and the root/runc skip)

PAGE = b"hello-from-pyctl"
GET = b"GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n"
CLOSED_PORT = 9  # nothing in the pod listens on it
WEB = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
       "spec": {"nodeName": "e1", "containers": [{
           "name": "httpd", "image": "busybox", "ports": [{"name": "http", "containerPort": 8080}],
           "command": ["sh", "-c", "echo hello-from-pyctl > /tmp/index.html && head -c 3000000 /dev/zero > /tmp/big "
                       "&& exec httpd -f -p 8080 -h /tmp"]}, {
           # Counts what a connection sends it (3 MB, more than any flow-control window).
           "name": "sink", "image": "busybox",
           "command": ["sh", "-c", "printf '#!/bin/sh\\nhead -c 3000000 | wc -c\\n' > /tmp/count && "
                                   "chmod +x /tmp/count && exec nc -ll -p 9000 -e /tmp/count"]}]}}
SINK = 9000


@pytest.fixture
async def web(cluster):  # noqa: F811  (test_exec's: API server, gateway and a runc agent "e1")
    status, body = await cluster.request("POST", PODS, WEB)
    assert status == 201, body

    async def running() -> bool:
        _, got = await cluster.request("GET", f"{PODS}/web")
        return (got.get("status") or {}).get("phase") == "Running"
    await wait_until(running, timeout=60)
    _, e1 = await cluster.request("GET", "/api/v1/nodes/e1")
    return e1["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]  # the agent's gRPC port


async def served(port: int) -> bytes:
    """The page through a forwarder on 127.0.0.1:port; httpd may take a moment to listen."""
    body = b""
    for _ in range(100):  # bounded
        body = await exchange(port, GET)
        if PAGE in body:
            break
        await asyncio.sleep(0.1)
    return body


async def agent_forward(port: int, remote: int, data: bytes) -> bytes:
    async def inputs():
        yield pb.PortForwardInput(start=pb.PortForwardStart(namespace="default", pod="web", port=remote))
        yield pb.PortForwardInput(data=data)
        yield pb.PortForwardInput(close_write=True)

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        return b"".join([out.data async for out in node_pb2_grpc.AgentStub(channel).PortForward(inputs())])


async def test_the_agent_relays_a_connection_to_the_pod(web) -> None:
    port = web
    body = b""
    for _ in range(100):  # bounded: httpd may take a moment to listen
        try:
            body = await agent_forward(port, 8080, GET)
            break
        except grpc.aio.AioRpcError:
            await asyncio.sleep(0.1)
    assert body.startswith(b"HTTP/1.") and PAGE in body
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await agent_forward(port, CLOSED_PORT, b"x")
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert err.value.details().startswith(f"error forwarding port {CLOSED_PORT} to pod web, uid ")
    assert err.value.details().endswith(f":{CLOSED_PORT}: connect: connection refused")


async def serves_then_refuses(f: Forwarder) -> tuple[int, int, str]:
    """A forwarder of (web's 8080, CLOSED_PORT, SINK): the page, twice at once, large
    transfers both ways, then a refused connection; its local web and closed ports and what
    it said about the refusal."""
    web, closed, sink = await f.listening(3)
    assert PAGE in await served(web)
    first, second = await asyncio.gather(exchange(web, GET), exchange(web, GET))  # concurrent
    assert PAGE in first and PAGE in second
    big = await exchange(web, b"GET /big HTTP/1.0\r\n\r\n")  # more than any flow-control window
    assert big.endswith(b"\r\n\r\n" + bytes(3_000_000))
    assert (await exchange(sink, bytes(3_000_000))).strip() == b"3000000"
    assert await exchange(closed, b"x") == b""
    err = await f.stderr_until("connection refused")
    assert f"error forwarding port {CLOSED_PORT} to pod web" in err
    return web, closed, err


async def test_pyctl_port_forward_serves_the_pod_on_loopback(web, api) -> None:
    async with forwarding(*pyctl_forward(api.url, "pod/web", ":http", f":{CLOSED_PORT}", f":{SINK}")) as f:
        local, closed, err = await serves_then_refuses(f)
        assert f"error: an error occurred forwarding {closed} -> {CLOSED_PORT}: " in err
        assert PAGE in await exchange(local, GET)  # the forwarder survives the refusal


async def test_kubectl_port_forward(web, api, tmp_path) -> None:
    kubectl = Kubectl(api.url, tmp_path)
    argv = kubectl.argv("port-forward", "web", ":8080", f":{CLOSED_PORT}", f":{SINK}",
                        "--address", "127.0.0.1")
    async with forwarding(argv, {**os.environ, "HOME": str(tmp_path)}) as f:
        await serves_then_refuses(f)
        # Unlike pyctl, kubectl gives up on the first error, as against a real cluster.
        assert await asyncio.wait_for(f.proc.wait(), 60) == 1
        assert "error: lost connection to pod" in await f.stderr_until("lost connection")


async def test_pyctl_forwards_a_service_port_to_its_target_port(web, api, client) -> None:
    status, body = await client.request("PATCH", f"{PODS}/web", {"metadata": {"labels": {"app": "web"}}},
                                        headers={"Content-Type": "application/merge-patch+json"})
    assert status == 200, body
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "front"},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}}
    status, body = await client.request("POST", "/api/v1/namespaces/default/services", service)
    assert status == 201, body
    async with forwarding(*pyctl_forward(api.url, "svc/front", ":80")) as f:
        assert PAGE in await served((await f.listening(1))[0])  # port 80 is the pod's 8080


async def test_python_client_portforward(web, api) -> None:
    from kubernetes import client as k8s
    from kubernetes.stream import portforward

    def get() -> bytes:
        cfg = k8s.Configuration()
        cfg.host = api.url
        with k8s.ApiClient(cfg) as api_client:
            pf = portforward(k8s.CoreV1Api(api_client).connect_get_namespaced_pod_portforward, "web",
                             "default", ports="8080")
            sock = pf.socket(8080)
            sock.settimeout(30)
            sock.sendall(GET)
            out = b""
            while chunk := sock.recv(4096):
                out += chunk
            sock.close()
            return out

    body = b""
    for _ in range(50):  # bounded: httpd may take a moment to listen
        body = await asyncio.to_thread(get)
        if PAGE in body:
            break
        await asyncio.sleep(0.1)
    assert body.startswith(b"HTTP/1.") and PAGE in body


async def test_a_websocket_with_no_subprotocol_and_text_frames(web, api) -> None:
    """kr8s offers no subprotocol (the base channel protocol); a client may send text frames."""
    async def get() -> tuple[str | None, bytes]:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"{api.url}{PODS}/web/portforward", params={"ports": "8080"}) as ws:
                await ws.send_str("\x00" + GET.decode())
                out = []
                async for msg in ws:
                    assert msg.type == aiohttp.WSMsgType.BINARY, msg
                    out.append(msg.data)
        data = b"".join(m[1:] for m in out[2:] if m[0] == 0)  # after the two port headers
        return ws.protocol, data

    body = b""
    for _ in range(50):  # bounded: httpd may take a moment to listen
        protocol, body = await asyncio.wait_for(get(), 60)
        assert protocol is None
        if PAGE in body:
            break
        await asyncio.sleep(0.1)
    assert body.startswith(b"HTTP/1.") and PAGE in body
