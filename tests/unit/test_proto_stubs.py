"""The committed stubs in pyctl_proto/ are what proto/generate.sh makes from the .proto files.

With the same grpcio-tools as made them, the files must be identical. With another
version the generated text differs in version headers and layout, so there the test
compares what matters: the serialized descriptor of each .proto, and the service stubs
with their version lines set aside.
"""

from __future__ import annotations

import ast
import pathlib
import re
import os
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "pyctl_proto"
_VERSION_LINE = re.compile(r"^(# Protobuf Python Version:.*|GRPC_GENERATED_VERSION = .*)$", re.M)


def _descriptor(text: str) -> bytes:
    m = re.search(r"AddSerializedFile\((b'.*?')\)", text, re.S)
    assert m, "no serialized descriptor in a _pb2 module"
    return ast.literal_eval(m.group(1))


def _versions(pb2: str, grpc: str) -> tuple[str, str]:
    """The protobuf and grpcio-tools versions a pair of generated modules names."""
    proto = re.search(r"^# Protobuf Python Version: (.*)$", pb2, re.M)
    tools = re.search(r"^GRPC_GENERATED_VERSION = (.*)$", grpc, re.M)
    return (proto.group(1) if proto else "", tools.group(1) if tools else "")


def test_committed_stubs_match_the_proto_files(tmp_path):
    # The interpreter running the tests has grpcio-tools (the [test] extra); the machine's
    # python3 need not.
    subprocess.run(["bash", str(ROOT / "proto" / "generate.sh"), str(tmp_path)], check=True,
                   capture_output=True, env={**os.environ, "PYTHON": sys.executable})
    generated = sorted(p.name for p in tmp_path.iterdir() if p.name != "__init__.py")
    assert "node_pb2.py" in generated and "node_pb2_grpc.py" in generated
    def versions(d: pathlib.Path) -> tuple[str, str]:
        return _versions((d / "node_pb2.py").read_text(), (d / "node_pb2_grpc.py").read_text())

    same_tools = versions(tmp_path) == versions(COMMITTED)
    stale = []
    for name in generated:
        new, old = (tmp_path / name).read_text(), (COMMITTED / name).read_text() \
            if (COMMITTED / name).exists() else ""
        if same_tools:
            ok = new == old
        elif name.endswith("_pb2.py"):
            ok = bool(old) and _descriptor(new) == _descriptor(old)
        elif name.endswith("_grpc.py"):
            ok = _VERSION_LINE.sub("", new) == _VERSION_LINE.sub("", old)
        else:
            ok = True  # .pyi layout varies between generator versions
        if not ok:
            stale.append(name)
    assert not stale, f"pyctl_proto is stale for {stale}: run proto/generate.sh"


def test_stubs_import_under_their_own_package_name():
    from pyctl_proto import node_pb2, node_pb2_grpc

    msg = node_pb2.AgentMessage(register=node_pb2.Register(node_name="n1"))
    assert node_pb2.AgentMessage.FromString(msg.SerializeToString()).register.node_name == "n1"
    assert hasattr(node_pb2_grpc, "NodeServiceStub") and hasattr(node_pb2_grpc, "AgentStub")
