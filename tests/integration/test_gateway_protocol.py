"""The gateway's side of the protocol, driven by a raw gRPC client: snapshots and seq
chaining, resync, refused status, and malformed input that ends only the offending stream."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest

from controlplane.gateway import start_gateway
from pyctl_proto import node_pb2 as pb
from pyctl_proto import node_pb2_grpc

from ..cluster import wait_until
from .test_gateway import FAST, PODS, pod

SESSION = "/pyctl.node.v1.NodeService/Session"


@pytest.fixture
async def gateway(api):
    handle = await start_gateway(api.url, "127.0.0.1:0", FAST)
    yield handle
    await handle.stop()


class RawAgent:
    """A bare session: what a (possibly broken) agent sends, and what it gets back."""

    def __init__(self, address: str) -> None:
        self.channel = grpc.aio.insecure_channel(address)
        self.call = node_pb2_grpc.NodeServiceStub(self.channel).Session()

    async def register(self, name: str) -> pb.Registered:
        await self.call.write(pb.AgentMessage(register=pb.Register(
            node_name=name, capacity={"cpu": "1", "memory": "1Gi", "pods": "10"},
            node_info=pb.NodeInfo(container_runtime_version="hollow://0.1"))))
        msg = await self.read()
        assert msg.WhichOneof("msg") == "registered", msg
        return msg.registered

    async def read(self, timeout: float = 10.0) -> pb.ServerMessage:
        return await asyncio.wait_for(self.call.read(), timeout)

    async def next_of(self, kind: str, timeout: float = 10.0):
        while True:
            msg = await self.read(timeout)
            assert msg is not grpc.aio.EOF
            if msg.WhichOneof("msg") == kind:
                return getattr(msg, kind)

    async def close(self) -> None:
        self.call.cancel()
        await self.channel.close()


@pytest.fixture
async def raw(gateway):
    made: list[RawAgent] = []

    def make() -> RawAgent:
        made.append(RawAgent(gateway.address))
        return made[-1]

    yield make
    for r in made:
        await r.close()


def names(assignments: pb.Assignments) -> list[str]:
    return sorted(json.loads(c.pod_json)["metadata"]["name"] for c in assignments.changes)


async def test_snapshot_then_increments_chained_and_resync(client, raw):
    assert (await client.request("POST", PODS, pod("early", "n1")))[0] == 201
    assert (await client.request("POST", PODS, pod("elsewhere", "n2")))[0] == 201
    a = raw()
    reg = await a.register("n1")
    assert reg.heartbeat_period_ms == 200 and reg.session_id
    snap = await a.next_of("assignments")
    assert snap.type == pb.Assignments.COMPLETE and names(snap) == ["early"]

    await client.request("POST", PODS, pod("late", "n1"))
    inc = await a.next_of("assignments")
    assert inc.type == pb.Assignments.INCREMENTAL and inc.prev_seq == snap.seq and names(inc) == ["late"]
    assert inc.changes[0].action == pb.PodAssignment.UPSERT

    await client.request("DELETE", f"{PODS}/early")  # graceful: an UPSERT with deletionTimestamp
    upd = await a.next_of("assignments")
    assert upd.prev_seq == inc.seq and json.loads(upd.changes[0].pod_json)["metadata"]["deletionTimestamp"]

    await a.call.write(pb.AgentMessage(resync=pb.Resync(last_seq=upd.seq)))
    again = await a.next_of("assignments")
    assert again.type == pb.Assignments.COMPLETE and names(again) == ["early", "late"]
    assert again.seq > upd.seq


async def test_heartbeat_is_acked(raw):
    a = raw()
    await a.register("n1")
    await a.call.write(pb.AgentMessage(heartbeat=pb.Heartbeat(seq=7)))
    ack = await a.next_of("heartbeat_ack")
    assert ack.seq == 7


async def test_status_for_another_nodes_pod_is_refused_and_skipped(client, raw):
    await client.request("POST", PODS, pod("theirs", "n2"))
    await client.request("POST", PODS, pod("mine", "n1"))
    a = raw()
    await a.register("n1")
    _, theirs = await client.request("GET", f"{PODS}/theirs")
    _, mine = await client.request("GET", f"{PODS}/mine")
    running = json.dumps({"phase": "Running"})
    await a.call.write(pb.AgentMessage(pod_status=pb.PodStatusBatch(updates=[
        pb.PodStatusUpdate(namespace="default", name="theirs", uid=theirs["metadata"]["uid"], status_json=running),
        pb.PodStatusUpdate(namespace="default", name="mine", uid=mine["metadata"]["uid"], status_json=running),
    ])))
    err = await a.next_of("error")
    assert "theirs" in err.message and "not bound to node n1" in err.message and err.name == "theirs"

    async def mine_running():
        return (await client.request("GET", f"{PODS}/mine"))[1]["status"]["phase"] == "Running"
    await wait_until(mine_running)  # the rest of the batch was written, and the stream lives on
    await asyncio.sleep(0.3)
    assert (await client.request("GET", f"{PODS}/theirs"))[1]["status"]["phase"] == "Pending"
    await a.call.write(pb.AgentMessage(heartbeat=pb.Heartbeat(seq=1)))
    assert (await a.next_of("heartbeat_ack")).seq == 1


@pytest.mark.parametrize("bad, expect", [
    (pb.AgentMessage(), "empty AgentMessage"),
    (pb.AgentMessage(pod_status=pb.PodStatusBatch(updates=[pb.PodStatusUpdate(
        namespace="default", name="x", status_json="{not json")])), "status_json is not JSON"),
    (pb.AgentMessage(register=pb.Register(node_name="n1")), "register sent twice"),
])
async def test_malformed_message_closes_only_that_stream(raw, bad, expect):
    good, broken = raw(), raw()
    await good.register("good")
    await broken.register("n1")
    await broken.call.write(bad)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        while True:
            msg = await broken.read()
            if msg is grpc.aio.EOF:
                break
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT and expect in exc.value.details()
    await good.call.write(pb.AgentMessage(heartbeat=pb.Heartbeat(seq=5)))
    assert (await good.next_of("heartbeat_ack")).seq == 5


async def test_first_message_must_register_with_a_valid_name(raw):
    a = raw()
    await a.call.write(pb.AgentMessage(heartbeat=pb.Heartbeat(seq=1)))
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await a.read()
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "must be register" in exc.value.details()
    b = raw()
    await b.call.write(pb.AgentMessage(register=pb.Register(node_name="Not_A_Name")))
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await b.read()
    assert "not a valid node name" in exc.value.details()


async def test_undecodable_bytes_close_only_that_stream(gateway, raw):
    good = raw()
    await good.register("good")
    channel = grpc.aio.insecure_channel(gateway.address)
    try:
        call = channel.stream_stream(SESSION, request_serializer=lambda b: b,
                                     response_deserializer=pb.ServerMessage.FromString)()
        await call.write(b"\xff\xff\xff\xff not a protobuf")
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await asyncio.wait_for(call.read(), 10)
        assert exc.value.code() != grpc.StatusCode.OK
    finally:
        await channel.close()
    await good.call.write(pb.AgentMessage(heartbeat=pb.Heartbeat(seq=2)))
    assert (await good.next_of("heartbeat_ack")).seq == 2


async def test_a_new_session_for_the_same_node_replaces_the_old(raw):
    old, new = raw(), raw()
    await old.register("n1")
    await new.register("n1")
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        while True:
            msg = await old.read()
            assert msg is not grpc.aio.EOF
    assert exc.value.code() == grpc.StatusCode.ABORTED
    await new.call.write(pb.AgentMessage(heartbeat=pb.Heartbeat(seq=3)))
    assert (await new.next_of("heartbeat_ack")).seq == 3
