"""`pods/exec` against hollow agents (no root): the API server's checks before the WebSocket
upgrade answer as kube does (400 BadRequest Status), and a hollow node, where nothing runs,
refuses the exec with a clear Status on the error channel (pyctl and kubectl show it)."""

from __future__ import annotations

import json

import aiohttp
import pytest

from ..cluster import wait_until
from .kubectl import Kubectl
from .test_logs import PODS, cluster, create_running, pod  # noqa: F401  (the fixture)
from .test_pyctl import pyctl

HOLLOW = "hollow node n1: containers are simulated and nothing runs, so there is nothing to exec into"
QUERY = [("command", "ls"), ("command", "/"), ("stdout", "true"), ("stderr", "true")]


async def websocket_status(url: str, params, protocols=("v5.channel.k8s.io",)) -> tuple[str | None, dict]:
    """The subprotocol the server chose and the Status it sent on channel 3 (the last message)."""
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url, params=params, protocols=protocols) as ws:
            messages = [msg.data async for msg in ws]
    assert messages and messages[-1][0] == 3, messages
    return ws.protocol, json.loads(messages[-1][1:])


async def test_a_hollow_node_refuses_exec_with_a_clear_status(cluster, api):  # noqa: F811
    await create_running(cluster, pod("web"))
    for protocol in ("v5.channel.k8s.io", "v4.channel.k8s.io"):
        chosen, status = await websocket_status(f"{api.url}{PODS}/web/exec", QUERY, (protocol,))
        assert chosen == protocol
        assert status == {"metadata": {}, "status": "Failure", "message": HOLLOW,
                          "reason": "BadRequest", "code": 400}


async def test_pyctl_and_kubectl_show_the_refusal(cluster, api, tmp_path):  # noqa: F811
    await create_running(cluster, pod("web"))
    r = await pyctl(api.url, "exec", "web", "--", "ls", "/")
    assert (r.code, r.out, r.err) == (1, "", f"error: {HOLLOW}\n")
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "front"},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
    assert (await cluster.request("POST", "/api/v1/namespaces/default/services", service))[0] == 201
    r = await pyctl(api.url, "exec", "svc/front", "--", "ls", "/")  # one pod the service selects
    assert (r.code, r.out, r.err) == (1, "", f"error: {HOLLOW}\n")
    rc, out, err = await Kubectl(api.url, tmp_path).run("exec", "web", "--", "ls", "/")
    assert (rc, out) == (1, "") and HOLLOW in err


async def test_checks_before_the_upgrade_are_kube_statuses(cluster, api):  # noqa: F811
    async def exec_status(name: str, query=QUERY) -> tuple[int, str, str]:
        status, body = await cluster.request("GET", f"{PODS}/{name}/exec", params=query)
        return status, body["reason"], body["message"]

    assert await exec_status("nosuch") == (404, "NotFound", 'pods "nosuch" not found')
    status, body = await cluster.request("POST", PODS, {**pod("pending"), "spec": {
        "containers": [{"name": "c", "image": "busybox"}], "nodeSelector": {"none": "x"}}})
    assert status == 201, body
    assert await exec_status("pending") == (400, "BadRequest", "pod pending does not have a host assigned")

    await create_running(cluster, pod("web"))
    assert await exec_status("web", [("stdout", "true")]) == (400, "BadRequest",
                                                             "you must specify at least 1 command")
    assert await exec_status("web", [("command", "ls")]) == (
        400, "BadRequest", "you must specify at least one of stdin, stdout, stderr")
    assert await exec_status("web", QUERY + [("container", "x")]) == (
        400, "BadRequest", "container x is not valid for pod web")
    code, reason, message = await exec_status("web")  # all valid, but not a WebSocket
    assert (code, reason) == (400, "BadRequest") and message.startswith("Upgrade request required")

    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await websocket_status(f"{api.url}{PODS}/web/exec", QUERY, ("channel.k8s.io",))
    assert err.value.status == 400

    done = pod("done", **{"pyctl.io/hollow-run-seconds": "0.2"})
    done["spec"]["restartPolicy"] = "Never"
    assert (await cluster.request("POST", PODS, done))[0] == 201

    async def succeeded() -> bool:
        return (await cluster.request("GET", f"{PODS}/done"))[1]["status"].get("phase") == "Succeeded"
    await wait_until(succeeded)
    assert await exec_status("done") == (
        400, "BadRequest", "cannot exec into a container in a completed pod; current phase is Succeeded")
    r = await pyctl(api.url, "exec", "pending", "--", "ls")
    assert (r.code, r.err) == (1, "Error from server (BadRequest): pod pending does not have a "
                                  "host assigned\n")
