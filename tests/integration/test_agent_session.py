"""The agent's side of the assignment protocol, without a server: seq chaining and gaps.

Also the architecture rule that the agent never imports the control plane.
"""

from __future__ import annotations

import ast
import json
import pathlib

from agent.nodeinfo import hollow_registration
from agent.pods import PodManager
from agent.runtime.hollow import VERSION, HollowRuntime
from agent.session import AgentSession
from pyctl_proto import node_pb2 as pb

ROOT = pathlib.Path(__file__).resolve().parents[2]


def assignment(name: str, action=pb.PodAssignment.UPSERT) -> pb.PodAssignment:
    pod = {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
           "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]}}
    return pb.PodAssignment(action=action, pod_json=json.dumps(pod))


async def test_a_gap_in_the_sequence_asks_for_a_snapshot_and_ignores_increments_until_then():
    pods = PodManager(HollowRuntime("n1"), "127.0.0.1")
    s = AgentSession("127.0.0.1:1", hollow_registration("n1", VERSION), pods)
    try:
        s._assignments(pb.Assignments(type=pb.Assignments.COMPLETE, seq=1, changes=[assignment("a")]))
        s._assignments(pb.Assignments(type=pb.Assignments.INCREMENTAL, seq=2, prev_seq=1,
                                      changes=[assignment("b")]))
        assert set(pods.desired) == {"uid-a", "uid-b"} and s.last_seq == 2
        # seq 3 was lost: 4 does not chain to 2.
        s._assignments(pb.Assignments(type=pb.Assignments.INCREMENTAL, seq=4, prev_seq=3,
                                      changes=[assignment("a", pb.PodAssignment.REMOVE)]))
        assert s._resync and s.resyncs == 1 and set(pods.desired) == {"uid-a", "uid-b"}
        s._assignments(pb.Assignments(type=pb.Assignments.INCREMENTAL, seq=5, prev_seq=4,
                                      changes=[assignment("c")]))
        assert "uid-c" not in pods.desired and s.resyncs == 1  # one request per gap
        s._assignments(pb.Assignments(type=pb.Assignments.COMPLETE, seq=6, changes=[assignment("b"),
                                                                                    assignment("c")]))
        assert set(pods.desired) == {"uid-b", "uid-c"} and s.last_seq == 6
    finally:
        await pods.stop()


def test_the_agent_never_imports_the_control_plane():
    offenders = []
    for path in (ROOT / "agent").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] == "controlplane"]
    assert offenders == []
