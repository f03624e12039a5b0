"""The gateway forwards a node's usage report with the node's name and its own pods only: a pod
bound to another node, or a uid that is not the pod's, is dropped. The session is the real one;
its hub is a stand-in with the two things `_usage` touches (the pod index and the forwarder)."""

from __future__ import annotations

from pyctl_proto import node_pb2 as pb

from controlplane.gateway.session import Session

POD = {"metadata": {"namespace": "default", "name": "web", "uid": "u1"}, "spec": {"nodeName": "node-a"}}


class Hub:
    def __init__(self) -> None:
        self.forwarded: list[pb.NodeMetrics] = []
        self.pods = self
        self.usage = self

    def get(self, namespace: str, name: str) -> dict | None:
        return POD if (namespace, name) == ("default", "web") else None

    def submit(self, report: pb.NodeMetrics) -> None:
        self.forwarded.append(report)


def report(uid: str = "u1", name: str = "web") -> pb.NodeMetrics:
    return pb.NodeMetrics(pods=[pb.PodUsage(namespace="default", name=name, uid=uid)])


def test_only_the_nodes_own_pods_are_forwarded():
    hub = Hub()
    own = Session(hub, context=None, node="node-a")  # type: ignore[arg-type]
    own._usage(report())
    assert hub.forwarded[-1].node == "node-a" and [p.name for p in hub.forwarded[-1].pods] == ["web"]
    for session, sent in ((Session(hub, context=None, node="node-b"), report()),  # type: ignore[arg-type]
                          (own, report(uid="someone-else")), (own, report(name="nosuch"))):
        session._usage(sent)
        assert list(hub.forwarded[-1].pods) == [] and hub.forwarded[-1].node == session.node
