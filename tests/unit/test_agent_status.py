"""Pod status rules for containers that never started because their image could not be pulled."""

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
