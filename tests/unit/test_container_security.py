"""What a container's securityContext becomes in its OCI config: seccomp, capabilities,
runAsNonRoot, readOnlyRootFilesystem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.runtime import bundle, seccomp
from agent.runtime.base import ContainerState
from agent.status import pod_status

FILES = bundle.PodFiles("h", "/n", "/i", "/u", "/hosts", "/resolv", "/hostname",
                        volumes={"scratch": "/pod/volumes/scratch"})


def config(sc: dict[str, Any] | None = None, pod_sc: dict[str, Any] | None = None,
           image: dict[str, Any] | None = None, seccomp_dir: Path = Path("/nonexistent"),
           **container: Any) -> dict[str, Any]:
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
           "spec": {"securityContext": pod_sc or {}}}
    c = {"name": "c", "securityContext": sc or {}, **container}
    return bundle.config(pod, c, image or {}, "/rootfs", FILES, "/pyctl/podu1/c", seccomp_dir=seccomp_dir)


def allowed(profile: dict[str, Any]) -> set[str]:
    return {n for r in profile["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args")
            for n in r["names"]}


def test_runtime_default_is_applied_when_nothing_is_said() -> None:
    prof = config()["linux"]["seccomp"]
    assert prof["defaultAction"] == "SCMP_ACT_ERRNO" and prof["defaultErrnoRet"] == 1
    names = allowed(prof)
    assert {"read", "openat", "execve", "futex", "socket", "epoll_pwait", "clock_gettime"} <= names
    for blocked in ("mount", "umount2", "kexec_load", "init_module", "finit_module", "delete_module",
                    "bpf", "keyctl", "add_key", "request_key", "unshare", "setns", "swapon", "reboot",
                    "open_by_handle_at", "perf_event_open", "io_uring_setup", "userfaultfd"):
        assert blocked not in names, blocked


def test_clone_may_not_make_namespaces_and_clone3_falls_back() -> None:
    rules = config()["linux"]["seccomp"]["syscalls"]
    clone = next(r for r in rules if r["names"] == ["clone"])
    assert clone["args"] == [{"index": 0, "value": 0x7E020000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]
    clone3 = next(r for r in rules if r["names"] == ["clone3"])
    assert clone3["action"] == "SCMP_ACT_ERRNO" and clone3["errnoRet"] == 38  # ENOSYS


def test_architectures_and_arch_only_calls() -> None:
    x86 = seccomp.profile(bundle.DEFAULT_CAPS, arch="x86_64")
    arm = seccomp.profile(bundle.DEFAULT_CAPS, arch="aarch64")
    assert x86["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert "arch_prctl" in allowed(x86) and "arch_prctl" not in allowed(arm)
    assert "set_tls" in allowed(arm) and "set_tls" not in allowed(x86)


def test_ptrace_only_on_kernels_where_seccomp_cannot_be_bypassed() -> None:
    assert "ptrace" in allowed(seccomp.profile(bundle.DEFAULT_CAPS, kernel="6.1.0-13-amd64"))
    assert "ptrace" not in allowed(seccomp.profile(bundle.DEFAULT_CAPS, kernel="4.4.0"))
    with_cap = seccomp.profile(bundle.DEFAULT_CAPS + ["CAP_SYS_PTRACE"], kernel="4.4.0")
    assert "ptrace" in allowed(with_cap)


def test_capabilities_unlock_their_calls() -> None:
    prof = config({"capabilities": {"add": ["SYS_ADMIN", "SYS_MODULE"]}})["linux"]["seccomp"]
    assert {"mount", "unshare", "setns", "init_module", "finit_module"} <= allowed(prof)
    assert {"kexec_load", "keyctl"}.isdisjoint(allowed(prof))
    assert any(r["names"] == ["clone"] and not r.get("args") for r in prof["syscalls"])


def test_unconfined_and_privileged_have_no_filter() -> None:
    assert "seccomp" not in config({"seccompProfile": {"type": "Unconfined"}})["linux"]
    assert "seccomp" not in config(pod_sc={"seccompProfile": {"type": "Unconfined"}})["linux"]
    assert "seccomp" not in config({"privileged": True})["linux"]
    # The container's choice wins over the pod's.
    cfg = config({"seccompProfile": {"type": "RuntimeDefault"}},
                 pod_sc={"seccompProfile": {"type": "Unconfined"}})
    assert cfg["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"


def test_localhost_profile_comes_from_the_seccomp_dir(tmp_path: Path) -> None:
    own = {"defaultAction": "SCMP_ACT_LOG", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "audit.json").write_text(json.dumps(own))
    sc = {"seccompProfile": {"type": "Localhost", "localhostProfile": "profiles/audit.json"}}
    assert config(sc, seccomp_dir=tmp_path)["linux"]["seccomp"] == own

    missing = {"seccompProfile": {"type": "Localhost", "localhostProfile": "nope.json"}}
    with pytest.raises(bundle.ConfigError, match=f'cannot load seccomp profile "{tmp_path}/nope.json"'):
        config(missing, seccomp_dir=tmp_path)
    escape = {"seccompProfile": {"type": "Localhost", "localhostProfile": "../etc/x.json"}}
    with pytest.raises(bundle.ConfigError, match="relative path without '..'"):
        config(escape, seccomp_dir=tmp_path)


def test_capabilities_add_drop_and_all() -> None:
    caps = config({"capabilities": {"drop": ["NET_RAW", "CAP_CHOWN"], "add": ["NET_ADMIN"]}})["process"]["capabilities"]
    assert "CAP_NET_RAW" not in caps["bounding"] and "CAP_CHOWN" not in caps["bounding"]
    assert "CAP_NET_ADMIN" in caps["bounding"] and caps["effective"] == caps["bounding"] == caps["permitted"]
    only = config({"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}})["process"]["capabilities"]
    assert only["bounding"] == only["effective"] == ["CAP_NET_BIND_SERVICE"]
    everything = config({"capabilities": {"add": ["ALL"]}})["process"]["capabilities"]
    assert set(everything["bounding"]) == set(bundle.ALL_CAPS)


def test_a_non_root_user_gets_only_the_added_capabilities_through_the_ambient_set() -> None:
    plain = config({"runAsUser": 1000})["process"]["capabilities"]
    assert plain["effective"] == plain["permitted"] == plain["ambient"] == []
    assert "CAP_CHOWN" in plain["bounding"]
    added = config({"runAsUser": 1000, "capabilities": {"add": ["NET_BIND_SERVICE"]}})["process"]["capabilities"]
    assert added["effective"] == added["permitted"] == added["inheritable"] == added["ambient"] == \
        ["CAP_NET_BIND_SERVICE"]


@pytest.mark.parametrize("sc, pod_sc, image, message", [
    ({"runAsNonRoot": True}, {}, {}, "container has runAsNonRoot and image will run as root"),
    ({}, {"runAsNonRoot": True}, {"User": "0:0"}, "container has runAsNonRoot and image will run as root"),
    ({"runAsNonRoot": True}, {}, {"User": "nginx"},
     "container has runAsNonRoot and image has non-numeric user (nginx), cannot verify user is non-root"),
    ({"runAsNonRoot": True, "runAsUser": 0}, {}, {"User": "1000"}, "container's runAsUser breaks non-root policy"),
])
def test_run_as_non_root_refuses_root(sc, pod_sc, image, message) -> None:
    with pytest.raises(bundle.ConfigError) as err:
        config(sc, pod_sc=pod_sc, image=image)
    assert str(err.value) == f'{message} (pod: "p_ns(u1)", container: c)'


def test_run_as_non_root_accepts_a_non_root_user() -> None:
    assert config({"runAsNonRoot": True}, image={"User": "1000"})["process"]["user"]["uid"] == 1000
    assert config({"runAsNonRoot": True}, pod_sc={"runAsUser": 7}, image={})["process"]["user"]["uid"] == 7


def test_read_only_root_keeps_volumes_and_dev_writable() -> None:
    cfg = config({"readOnlyRootFilesystem": True},
                 volumeMounts=[{"name": "scratch", "mountPath": "/scratch"}])
    assert cfg["root"]["readonly"] is True
    by_dest = {m["destination"]: m for m in cfg["mounts"]}
    assert "rw" in by_dest["/scratch"]["options"]
    assert by_dest["/dev"]["type"] == "tmpfs" and "ro" not in by_dest["/dev"]["options"]
    assert config()["root"]["readonly"] is False


def test_a_container_that_cannot_be_configured_waits_with_create_container_config_error() -> None:
    from agent.runtime.base import RuntimePod
    pod = {"metadata": {"name": "p", "uid": "u1"}, "spec": {"restartPolicy": "Never",
                                                           "containers": [{"name": "c", "image": "busybox"}]}}
    c = ContainerState(name="c", image="busybox", state="exited", exit_code=128,
                       reason="CreateContainerConfigError",
                       message="container has runAsNonRoot and image will run as root")
    status = pod_status(pod, RuntimePod("u1", "default", "p", containers=[c]), "10.0.0.1")
    assert status["phase"] == "Pending"
    assert status["containerStatuses"][0]["state"] == {"waiting": {
        "reason": "CreateContainerConfigError",
        "message": "container has runAsNonRoot and image will run as root"}}
