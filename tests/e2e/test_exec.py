"""`exec` end to end, as root: a real runc agent behind a real gateway and API server; the
agent's gRPC Exec runs `runc exec`, the API server relays it over the WebSocket channel
protocol, and `pyctl exec` and the real `kubectl exec` drive it."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import aiohttp
import grpc
import pytest

from agent.execio import set_size
from agent.node import Agent
from agent.nodeinfo import local_registration
from agent.pods import PodTimings
from agent.server import AgentServer
from agent.session import SessionConfig
from controlplane.gateway import GatewayConfig, start_gateway
from pyctl_proto import node_pb2 as pb
from pyctl_proto import node_pb2_grpc

from ..cluster import wait_until
from ..integration.kubectl import Kubectl
from ..integration.test_pyctl import REPO, pyctl
from .helpers import container, pod, processes_mentioning
from .test_runtime import Node, node, pytestmark  # noqa: F401  (the fixture and the root/runc skip)

FAST = GatewayConfig(heartbeat_period=0.2, lease_renew_interval=0.5, status_flush_interval=0.05)
PODS = "/api/v1/namespaces/default/pods"


# -- the agent's Exec RPC --------------------------------------------------------------------

async def agent_exec(port: int, name: str, command: list[str], stdin: bytes | None = None,
                     tty: bool = False, size: tuple[int, int] | None = None) -> list[pb.ExecOutput]:
    async def inputs():
        yield pb.ExecInput(start=pb.ExecStart(namespace="default", pod=name, container="c",
                                              command=command, stdin=stdin is not None, tty=tty))
        if size:
            yield pb.ExecInput(resize=pb.TerminalSize(width=size[0], height=size[1]))
        if stdin is not None:
            yield pb.ExecInput(stdin=stdin)
            yield pb.ExecInput(close_stdin=True)

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        return [out async for out in node_pb2_grpc.AgentStub(channel).Exec(inputs())]


def joined(outputs: list[pb.ExecOutput], kind: str) -> bytes:
    return b"".join(getattr(o, kind) for o in outputs if o.WhichOneof("msg") == kind)


@pytest.fixture
async def served(node: Node):  # noqa: F811
    server = AgentServer(node.rt, "127.0.0.1:0")
    port = await server.start()
    p = pod("box", [container("c", "sleep", "3600")])
    await node.rt.start_pod(p)
    await node.wait(p["metadata"]["uid"], "c", "running")
    yield port
    await server.stop()


async def test_agent_exec_streams_output_stdin_and_the_exit_code(served) -> None:
    out = await agent_exec(served, "box", ["sh", "-c", "echo hi; echo oops >&2; exit 3"])
    assert (joined(out, "stdout"), joined(out, "stderr"), out[-1].exit_code) == (b"hi\n", b"oops\n", 3)
    out = await agent_exec(served, "box", ["cat"], stdin=b"abc\n")
    assert (joined(out, "stdout"), out[-1].exit_code) == (b"abc\n", 0)


async def test_agent_exec_with_a_tty_honours_resize(served) -> None:
    # The resize goes before the line `read` waits for, so stty sees the new size.
    out = await agent_exec(served, "box", ["sh", "-c", "read line; stty size; tty"], stdin=b"go\r",
                           tty=True, size=(100, 30))
    assert joined(out, "stdout").endswith(b"30 100\r\n/dev/pts/0\r\n") and out[-1].exit_code == 0


async def test_agent_exec_errors_are_clear(served) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await agent_exec(served, "box", ["nosuch"])
    assert err.value.code() == grpc.StatusCode.UNKNOWN
    assert 'exec: "nosuch": executable file not found in $PATH' in err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await agent_exec(served, "gone", ["true"])
    assert (err.value.code(), err.value.details()) == (grpc.StatusCode.NOT_FOUND,
                                                       'pod "gone" is not running on this node')


# -- through the API server: pyctl and kubectl ------------------------------------------------

@pytest.fixture
async def cluster(api, client, node: Node):  # noqa: F811
    gateway = await start_gateway(api.url, "127.0.0.1:0", FAST)
    agent = Agent(gateway.address, local_registration("e1", node.rt.version, "127.0.0.1"), node.rt,
                  host_ip="127.0.0.1", pod_timings=PodTimings(resync_period=0.2, backoff_base=0.2),
                  session_config=SessionConfig(backoff_base=0.05, backoff_max=0.5),
                  listen="127.0.0.1:0").start()
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "box"},
                "spec": {"nodeName": "e1", "containers": [{"name": "c", "image": "busybox",
                                                             "command": ["sleep", "3600"]}]}}
    status, body = await client.request("POST", PODS, manifest)
    assert status == 201, body

    async def running() -> bool:
        _, got = await client.request("GET", f"{PODS}/box")
        return any("running" in (s.get("state") or {})
                   for s in (got.get("status") or {}).get("containerStatuses") or [])
    await wait_until(running, timeout=60)
    yield client
    await agent.stop()
    await gateway.stop()


async def test_pyctl_exec_prints_output_and_exits_with_the_command_s_code(cluster, api) -> None:
    r = await pyctl(api.url, "exec", "box", "--", "sh", "-c", "echo hi; echo oops >&2; exit 3")
    assert (r.code, r.out, r.err) == (3, "hi\n", "oops\ncommand terminated with exit code 3\n")
    r = await pyctl(api.url, "exec", "box", "-c", "c", "--", "ls", "-d", "/tmp")
    assert (r.code, r.out, r.err) == (0, "/tmp\n", "")


async def test_pyctl_exec_pipes_stdin(cluster, api) -> None:
    r = await pyctl(api.url, "exec", "-i", "box", "--", "cat", stdin="abc\n")
    assert (r.code, r.out) == (0, "abc\n")
    r = await pyctl(api.url, "exec", "-i", "box", "--", "wc", "-c", stdin="x" * 100_000)
    assert (r.code, r.out.strip()) == (0, "100000")


async def test_pyctl_exec_of_a_missing_command_fails_clearly(cluster, api) -> None:
    r = await pyctl(api.url, "exec", "box", "--", "nosuch", "arg")
    assert r.code == 1 and r.out == ""
    assert r.err.startswith("error: error executing command in container: ")  # as kubectl
    assert 'exec: "nosuch": executable file not found in $PATH' in r.err
    r = await pyctl(api.url, "exec", "box", "-c", "other", "--", "true")
    assert (r.code, r.err) == (1, "Error from server (BadRequest): container other is not valid "
                                  "for pod box\n")
    r = await pyctl(api.url, "exec", "box")
    assert r.code == 1 and "you must specify at least one command for the container" in r.err


async def test_kubectl_exec(cluster, api, tmp_path) -> None:
    kubectl = Kubectl(api.url, tmp_path)
    assert await kubectl.run("exec", "box", "--", "echo", "ok") == (0, "ok\n", "")
    rc, out, err = await kubectl.run("exec", "box", "--", "sh", "-c", "echo bye; exit 4")
    assert (rc, out) == (4, "bye\n") and "command terminated with exit code 4" in err
    rc, out, err = await kubectl.run("exec", "-i", "box", "--", "cat", stdin="from-stdin\n")
    assert (rc, out) == (0, "from-stdin\n"), err
    rc, _, err = await kubectl.run("exec", "box", "--", "nosuch")
    assert rc != 0 and 'exec: "nosuch": executable file not found in $PATH' in err


async def test_websocket_tty_resize_and_v4(cluster, api) -> None:
    url = f"{api.url}{PODS}/box/exec"
    query = [("command", "sh"), ("command", "-c"), ("command", "read line; stty size; echo $line"),
             ("stdin", "true"), ("stdout", "true"), ("tty", "true")]
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url, params=query, protocols=("v4.channel.k8s.io",)) as ws:
            assert ws.protocol == "v4.channel.k8s.io"
            await ws.send_bytes(b"\x04" + json.dumps({"Width": 120, "Height": 40}).encode())
            await ws.send_bytes(b"\x00hello\r")
            out, status = b"", None
            async for msg in ws:
                assert msg.data[0] in (1, 3), msg.data  # a terminal has no stderr channel
                if msg.data[0] == 1:
                    out += msg.data[1:]
                else:
                    status = json.loads(msg.data[1:])
    assert status == {"metadata": {}, "status": "Success"}
    assert out.replace(b"\r\n", b"\n").endswith(b"40 120\nhello\n")


async def on_terminal(argv: list[str], env: dict[str, str], width: int, height: int,
                      keys: bytes) -> tuple[int, bytes]:
    """Run a client on a pseudo-terminal of our own sized width x height, type `keys` at the
    remote shell's prompt, and return its exit code and everything the terminal showed."""
    master, slave = os.openpty()
    set_size(slave, width, height)
    proc = await asyncio.create_subprocess_exec(*argv, cwd=str(REPO), env=env, stdin=slave, stdout=slave,
                                                stderr=slave, start_new_session=True)
    os.close(slave)
    try:
        # Type only once the shell prompts: the client's switch to raw mode flushes earlier input.
        out = await asyncio.wait_for(asyncio.to_thread(read_until, master, b"# "), 60)
        os.write(master, keys)
        out += await asyncio.wait_for(asyncio.to_thread(read_until, master, None), 60)
        return await asyncio.wait_for(proc.wait(), 30), out
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        os.close(master)


async def test_pyctl_exec_it_on_a_terminal_is_raw_and_sized(cluster, api) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYCTL_CONFIG": "/nonexistent"}
    code, out = await on_terminal([sys.executable, "-m", "pyctl", "--server", api.url, "exec", "-it", "box",
                                   "--", "sh"], env, 90, 25, b"stty size; exit 5\r")
    assert code == 5 and b"25 90\r\n" in out and b"command terminated with exit code 5" in out


async def test_kubectl_exec_it_on_a_terminal(cluster, api, tmp_path) -> None:
    kubectl = Kubectl(api.url, tmp_path)
    code, out = await on_terminal(kubectl.argv("exec", "-it", "box", "--", "sh"),
                                  {**os.environ, "HOME": str(tmp_path)}, 77, 21, b"stty size; exit 6\r")
    assert code == 6 and b"21 77\r\n" in out


async def test_python_client_stream(cluster, api) -> None:
    from kubernetes import client as k8s
    from kubernetes.stream import stream

    def run() -> tuple[str, int]:
        cfg = k8s.Configuration()
        cfg.host = api.url
        with k8s.ApiClient(cfg) as api_client:
            core = k8s.CoreV1Api(api_client)
            out = stream(core.connect_get_namespaced_pod_exec, "box", "default",
                         command=["sh", "-c", "echo py; exit 2"], stderr=True, stdin=False, stdout=True,
                         tty=False, _preload_content=False)
            out.run_forever(timeout=60)
            return out.read_stdout(), out.returncode

    assert await asyncio.to_thread(run) == ("py\n", 2)


async def test_python_client_stream_with_stdin_in_text_frames(cluster, api) -> None:
    # The official client sends a str as a WebSocket text message, channel character first.
    from kubernetes import client as k8s
    from kubernetes.stream import stream

    def run() -> tuple[str, int | None]:
        cfg = k8s.Configuration()
        cfg.host = api.url
        with k8s.ApiClient(cfg) as api_client:
            core = k8s.CoreV1Api(api_client)
            resp = stream(core.connect_get_namespaced_pod_exec, "box", "default",
                          command=["sh", "-c", "read a; read b; echo \"got $a $b\"; exit 7"],
                          stdin=True, stdout=True, stderr=True, tty=False, _preload_content=False)
            resp.write_stdin("héllo\n")
            resp.write_stdin("world\n")
            resp.run_forever(timeout=30)
            out = resp.read_stdout(timeout=1)  # (bounded: without the input it would wait for ever)
            code = None if resp.is_open() else resp.returncode
            resp.close()
            return out, code

    assert await asyncio.to_thread(run) == ("got héllo world\n", 7)


def read_until(fd: int, marker: bytes | None) -> bytes:
    """What the terminal shows until `marker` (None: until every holder has closed it)."""
    out = b""
    while marker is None or marker not in out:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: every holder of the terminal has closed it
            chunk = b""
        if not chunk:
            return out
        out += chunk
    return out


async def test_a_client_that_goes_away_ends_the_command(cluster, api) -> None:
    query = [("command", "sleep"), ("command", "1234"), ("stdout", "true")]
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{api.url}{PODS}/box/exec", params=query,
                                   protocols=("v5.channel.k8s.io",)) as ws:
            await wait_until(lambda: processes_mentioning("sleep 1234") != [], timeout=30)
            await ws.close()
    await wait_until(lambda: processes_mentioning("sleep 1234") == [], timeout=30)
