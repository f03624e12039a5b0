"""The agent's Logs RPC over real runc containers and their conmon-written CRI logs, as root."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from agent.server import AgentServer
from pyctl_proto import node_pb2 as pb
from pyctl_proto import node_pb2_grpc

from .helpers import container, pod
from .test_runtime import Node, node, pytestmark  # noqa: F401  (the fixture and the root/runc skip)


async def logs(port: int, p: dict, name: str = "c", **options) -> bytes:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = node_pb2_grpc.AgentStub(channel).Logs(pb.LogsRequest(
            namespace="default", pod=p["metadata"]["name"], container=name, **options))
        return b"".join([chunk.data async for chunk in call])


@pytest.fixture
async def served(node: Node):  # noqa: F811
    server = AgentServer(node.rt, "127.0.0.1:0")
    port = await server.start()
    yield node, port
    await server.stop()


async def test_logs_tail_timestamps_and_follow_of_a_runc_container(served) -> None:
    node, port = served
    p = pod("talk", [container("c", "sh", "-c",
                               "echo one; echo two; echo three; sleep 1; echo four; sleep 0.5")])
    uid = p["metadata"]["uid"]
    await node.rt.start_pod(p)
    await node.wait(uid, "c", "running")
    await asyncio.sleep(0.3)
    assert await logs(port, p) == b"one\ntwo\nthree\n"
    assert await logs(port, p, tail_lines=1) == b"three\n"
    ts, _, text = (await logs(port, p, tail_lines=1, timestamps=True)).partition(b" ")
    assert ts.endswith(b"Z") and text == b"three\n"
    assert await asyncio.wait_for(logs(port, p, follow=True), 15) == b"one\ntwo\nthree\nfour\n"
    await node.rt.stop_pod(uid, 0.5)


async def test_previous_is_the_last_runs_log(served) -> None:
    node, port = served
    p = pod("again", [container("c", "sh", "-c", "cat /proc/sys/kernel/random/uuid; exit 3")])
    uid = p["metadata"]["uid"]
    await node.rt.start_pod(p)
    await node.wait(uid, "c", "exited")
    first = await logs(port, p)
    assert len(first.strip()) == 36
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await logs(port, p, previous=True)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    await node.rt.restart_container(uid, "c")
    await node.wait(uid, "c", "exited")
    assert await logs(port, p, previous=True) == first
    assert await logs(port, p) not in (b"", first)
    await node.rt.stop_pod(uid, 0.5)
