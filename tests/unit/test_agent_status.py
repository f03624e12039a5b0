"""Pod status rules: containers that never started because their image could not be pulled, a
crashing container waiting for its back-off, and a pod whose containers were stopped for deletion."""

from __future__ import annotations

from agent.runtime.base import ContainerState, RuntimePod
from agent.status import pod_status

POD = {"metadata": {"name": "p", "uid": "u"},
       "spec": {"restartPolicy": "Always", "containers": [{"name": "web", "image": "reg/x:1"}]}}


def _pull_failed() -> RuntimePod:
    c = ContainerState(name="web", image="reg/x:1", state="exited", reason="ErrImagePull", exit_code=128,
                       message='failed to pull and unpack image "reg/x:1": manifest unknown')
    return RuntimePod(uid="u", namespace="default", name="p", containers=[c])


def test_image_pull_failure_is_pending_with_err_image_pull():
    status = pod_status(POD, _pull_failed(), "10.0.0.1")
    assert status["phase"] == "Pending"
    waiting = status["containerStatuses"][0]["state"]["waiting"]
    assert waiting == {"reason": "ErrImagePull",
                       "message": 'failed to pull and unpack image "reg/x:1": manifest unknown'}


def test_image_pull_back_off_keeps_the_registry_message():
    status = pod_status(POD, _pull_failed(), "10.0.0.1", backing_off={"web"})
    waiting = status["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "ImagePullBackOff"
    assert waiting["message"] == ('Back-off pulling image "reg/x:1": failed to pull and unpack image '
                                  '"reg/x:1": manifest unknown')
    assert status["phase"] == "Pending"


def test_crashing_container_is_still_crash_loop_back_off():
    c = ContainerState(name="web", image="reg/x:1", state="exited", reason="Error", exit_code=1)
    status = pod_status(POD, RuntimePod(uid="u", namespace="default", name="p", containers=[c]), "h",
                        backing_off={"web"})
    assert status["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert status["phase"] == "Running"


def test_a_pod_with_one_container_that_never_ran_is_pending_like_the_kubelet_says():
    pod = {**POD, "spec": {**POD["spec"], "containers": [*POD["spec"]["containers"],
                                                         {"name": "side", "image": "reg/y:1"}]}}
    side = ContainerState(name="side", image="reg/y:1", state="running", ready=True)
    rp = _pull_failed()
    rp.containers.append(side)
    assert pod_status(pod, rp, "h")["phase"] == "Pending"
    # Once it has run, a later failure to start it again leaves the pod Running.
    rp.containers[0].restart_count = 1
    assert pod_status(pod, rp, "h")["phase"] == "Running"


def _crashed_twice() -> RuntimePod:
    """The second run (exit 3, OOMKilled) has died; the first (exit 1) is its last_state."""
    first = ContainerState(name="web", container_id="runc://a-0", state="exited", reason="Error", exit_code=1,
                           started_at="2024-01-01T00:00:00Z", finished_at="2024-01-01T00:00:01Z")
    second = ContainerState(name="web", container_id="runc://a-1", state="exited", reason="OOMKilled",
                            exit_code=3, started_at="2024-01-01T00:00:02Z", finished_at="2024-01-01T00:00:03Z",
                            restart_count=1, last_state=first)
    return RuntimePod(uid="u", namespace="default", name="p", containers=[second])


def test_crash_loop_back_off_shows_the_newest_dead_run_as_last_state():
    cs = pod_status(POD, _crashed_twice(), "h", backing_off={"web"})["containerStatuses"][0]
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["lastState"] == {"terminated": {
        "exitCode": 3, "reason": "OOMKilled", "startedAt": "2024-01-01T00:00:02Z",
        "finishedAt": "2024-01-01T00:00:03Z", "containerID": "runc://a-1"}}
    assert cs["restartCount"] == 1
    # Not backing off (about to restart): the dead run is the state, the one before the lastState.
    cs = pod_status(POD, _crashed_twice(), "h")["containerStatuses"][0]
    assert cs["state"]["terminated"]["exitCode"] == 3 and cs["lastState"]["terminated"]["exitCode"] == 1


def test_a_pod_stopped_for_deletion_is_terminal_and_not_ready():
    stopped = ContainerState(name="web", container_id="runc://a-0", state="exited", reason="Error",
                             exit_code=143, started_at="2024-01-01T00:00:00Z", finished_at="2024-01-01T00:00:09Z")
    rp = RuntimePod(uid="u", namespace="default", name="p", containers=[stopped])
    assert pod_status(POD, rp, "h")["phase"] == "Running"  # restartPolicy Always: it would restart
    status = pod_status(POD, rp, "h", terminating=True)
    assert status["phase"] == "Failed"
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["Ready"] == conditions["ContainersReady"] == "False"
    assert status["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 143
    stopped.exit_code, stopped.reason = 0, "Completed"
    assert pod_status(POD, rp, "h", terminating=True)["phase"] == "Succeeded"
