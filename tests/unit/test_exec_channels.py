"""The WebSocket remote-command channel framing, on both sides: what the API server sends
and reads (controlplane/api/exec.py) and what pyctl reads and sends (pyctl/remotecommand.py)."""

from __future__ import annotations

import json

from controlplane.api import exec as server
from controlplane.api.errors import ApiError
from pyctl import remotecommand as client
from pyctl_proto import node_pb2 as pb


def test_frames_carry_the_channel_in_the_first_byte() -> None:
    assert server.frame(server.STDOUT, b"hi\n") == b"\x01hi\n"
    assert server.frame(server.STDERR, b"") == b"\x02"
    assert server.unframe(b"\x00abc") == (0, b"abc")
    assert server.unframe(b"\xff\x00") == (255, b"\x00")  # v5: the client closed stdin
    assert server.unframe(b"") == (-1, b"")


def test_exit_status_is_success_or_non_zero_exit_code_and_pyctl_reads_the_code_back() -> None:
    ok = server.exit_status(0, ["true"])
    assert ok == {"metadata": {}, "status": "Success"}
    failed = server.exit_status(3, ["sh", "-c", "exit 3"])
    assert failed["status"] == "Failure" and failed["reason"] == "NonZeroExitCode"
    assert failed["details"] == {"causes": [{"reason": "ExitCode", "message": "3"}]}
    assert failed["message"] == ("command terminated with non-zero exit code: error executing command "
                                 "[sh -c exit 3], exit code 3")
    wire = json.loads(server.frame(server.ERROR, json.dumps(failed).encode())[1:])
    assert (client.exit_code(ok), client.exit_code(wire)) == (0, 3)


def test_an_error_status_has_no_exit_code() -> None:
    status = server.failure(ApiError(400, "hollow node n1: nothing runs"))
    assert status == {"metadata": {}, "status": "Failure", "message": "hollow node n1: nothing runs",
                      "reason": "BadRequest", "code": 400}
    assert client.exit_code(status) is None
    assert client.exit_code({"status": "Failure", "reason": "NonZeroExitCode",
                             "details": {"causes": [{"reason": "ExitCode", "message": "x"}]}}) is None


def test_resize_round_trip_and_bad_resizes_are_ignored() -> None:
    message = client.resize_message(120, 40)
    channel, payload = server.unframe(message)
    assert channel == server.RESIZE and server.size(payload) == pb.TerminalSize(width=120, height=40)
    for bad in (b"", b"{", b'{"Width": 0, "Height": 5}', b'{"Width": "x", "Height": 5}', b"[1, 2]",
                b'{"Width": 70000, "Height": 5}'):
        assert server.size(bad) is None, bad


def test_checks_before_the_upgrade() -> None:
    import pytest

    def pod(node: str = "n1", phase: str = "Running", state: str = "running") -> dict:
        return {"metadata": {"name": "p"}, "spec": {"nodeName": node},
                "status": {"phase": phase, "containerStatuses": [{"name": "c", "state": {state: {}}}]}}

    server.check_runnable(pod(), "c")
    for bad, message in ((pod(node=""), "pod p does not have a host assigned"),
                         (pod(phase="Succeeded"), "cannot exec into a container in a completed pod; "
                                                  "current phase is Succeeded"),
                         (pod(state="terminated"), 'container not found ("c")'),
                         (pod(state="waiting"), 'container not found ("c")')):
        with pytest.raises(ApiError) as err:
            server.check_runnable(bad, "c")
        assert (err.value.code, err.value.message) == (400, message)
