"""The agent's volume rules, without root: local volumes with sizes recorded (the `none`
enforcement; loop-mounted images are the e2e tests'), what may be deleted, subPath inside a
volume only, fsGroup as the kubelet applies it, and FailedMount in the kubelet's words."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from agent.volumes import loopfs, subpath
from agent.volumes.claims import ClaimMounts, host_path_problem
from agent.volumes.local import LocalVolumes, VolumeError
from agent.volumes.ownership import needs_change, set_ownership
from pyctl_proto import node_pb2 as pb

GI = 2**30


def keep(root: Path, name: str, size: int = GI, claim: str = "ns/data") -> pb.LocalVolume:
    return pb.LocalVolume(name=name, path=str(root / name), capacity_bytes=size, claim=claim)


def delete(root: Path, name: str) -> pb.LocalVolume:
    return pb.LocalVolume(name=name, path=str(root / name), action=pb.LocalVolume.DELETE)


def phases(report: pb.VolumeReport) -> list[tuple[str, int, str]]:
    return [(s.name, s.phase, s.message) for s in report.volumes]


def nobody(path: str) -> str:
    return ""


def test_local_volumes_are_made_once_recorded_and_deleted_only_when_asked(tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    vols = LocalVolumes(root, capacity=10 * GI, enforcement="none")
    assert vols.ready("pvc-1") == "the local volume pvc-1 has not been made on this node yet"
    report = vols.reconcile(pb.NodeVolumes(volumes=[keep(root, "pvc-1")]), nobody)
    assert phases(report) == [("pvc-1", pb.VolumeState.READY, "")]
    assert vols.ready("pvc-1") == "" and stat.S_IMODE(os.stat(root / "pvc-1").st_mode) == 0o777
    record = json.loads((root / ".pyctl" / "pvc-1.json").read_text())
    assert (record["claim"], record["capacity_bytes"], record["enforcement"]) == ("ns/data", GI, "none")

    (root / "pvc-1" / "data").write_text("precious")
    vols.reconcile(pb.NodeVolumes(volumes=[keep(root, "pvc-1", claim="ns/other")]), nobody)  # again: nothing redone
    assert json.loads((root / ".pyctl" / "pvc-1.json").read_text()) == record
    # A volume the control plane stops mentioning stays: only a DELETE removes data.
    vols.reconcile(pb.NodeVolumes(volumes=[]), nobody)
    assert (root / "pvc-1" / "data").read_text() == "precious"
    # Still named by a pod of this node: refused.
    report = vols.reconcile(pb.NodeVolumes(volumes=[delete(root, "pvc-1")]), lambda path: "ns/web-0")
    assert phases(report) == [("pvc-1", pb.VolumeState.FAILED,
                               "local volume pvc-1 is still used by pod ns/web-0; not deleting")]
    assert (root / "pvc-1" / "data").exists()
    report = vols.reconcile(pb.NodeVolumes(volumes=[delete(root, "pvc-1")]), nobody)
    assert phases(report) == [("pvc-1", pb.VolumeState.DELETED, "")]
    assert not (root / "pvc-1").exists() and not (root / ".pyctl" / "pvc-1.json").exists()
    # Deleting what is gone is done already (a lost report is answered again).
    assert phases(vols.reconcile(pb.NodeVolumes(volumes=[delete(root, "pvc-1")]), nobody))[0][1] == \
        pb.VolumeState.DELETED


@pytest.mark.parametrize("name,path", [
    ("pvc-1", "/etc"),                       # not under the volume dir
    ("../etc", "{root}/../etc"),             # not a volume name
    ("pvc-1", "{root}/pvc-2"),               # another volume's directory
])
def test_nothing_outside_the_volume_dir_is_touched(tmp_path: Path, name: str, path: str) -> None:
    root = tmp_path / "volumes"
    vols = LocalVolumes(root, capacity=GI, enforcement="none")
    lv = pb.LocalVolume(name=name, path=path.format(root=root), action=pb.LocalVolume.DELETE)
    [state] = vols.reconcile(pb.NodeVolumes(volumes=[lv]), nobody).volumes
    assert state.phase == pb.VolumeState.FAILED and state.message.startswith("refusing volume")
    with pytest.raises(VolumeError):
        vols.ensure(name, path.format(root=root), GI, "ns/x")


def test_a_symlinked_volume_directory_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    vols = LocalVolumes(root, capacity=GI, enforcement="none")
    (tmp_path / "elsewhere").mkdir()
    (root / "pvc-9").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(VolumeError, match="symbolic link"):
        vols.delete("pvc-9", str(root / "pvc-9"))
    assert (tmp_path / "elsewhere").is_dir()


def test_the_default_capacity_is_most_of_the_free_space_plus_what_volumes_hold(tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    vols = LocalVolumes(root, enforcement="none")
    st = os.statvfs(root)
    assert vols.capacity == int(st.f_bavail * st.f_frsize * 0.9)
    vols.ensure("pvc-1", str(root / "pvc-1"), 5 * GI, "ns/a")
    again = LocalVolumes(root, enforcement="none")
    assert again.capacity - 5 * GI == pytest.approx(int(os.statvfs(root).f_bavail * os.statvfs(root).f_frsize * 0.9),
                                                    rel=0.01)


def test_an_image_leaves_the_asked_size_usable() -> None:
    for asked in (1, 64 * 2**20, 511 * 2**20, GI, 10 * GI):
        size = loopfs.image_size(asked)
        assert size % 4096 == 0 and size >= asked + loopfs.journal_mib(asked) * 2**20
    assert loopfs.image_size(10 * GI) < 10.5 * GI  # not much more than asked


def test_sub_paths_stay_inside_their_volume(tmp_path: Path) -> None:
    volume, outside = tmp_path / "vol", tmp_path / "secret"
    volume.mkdir()
    outside.mkdir()
    os.chmod(volume, 0o2775)
    made = subpath.resolve(str(volume), "logs/web-0")
    assert made == str(volume / "logs" / "web-0") and os.path.isdir(made)
    assert stat.S_IMODE(os.stat(made).st_mode) & 0o777 == 0o775  # the volume root's mode, not a umask's
    (volume / "file").write_text("x")
    assert subpath.resolve(str(volume), "file") == str(volume / "file")
    (volume / "inner").symlink_to(volume / "logs")
    assert subpath.resolve(str(volume), "inner/web-0") == made  # a link that stays inside is fine
    (volume / "escape").symlink_to(outside)
    for bad, why in (("escape", "leads outside the volume"), ("escape/x", "leads outside the volume"),
                     ("/etc", "must be a relative path"), ("a/../..", "must not contain '..'")):
        with pytest.raises(subpath.SubPathError, match=why):
            subpath.resolve(str(volume), bad)
    assert list(outside.iterdir()) == []  # nothing was made outside
    assert subpath.source(str(volume), "") == str(volume)


def test_fs_group_as_the_kubelet_applies_it(tmp_path: Path) -> None:
    gid = os.getgid()  # a group we may give files without being root
    root = tmp_path / "vol"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "f").write_text("x")
    os.chmod(root / "sub" / "f", 0o600)
    os.chmod(root, 0o755)
    target = tmp_path / "outside"
    target.write_text("not the volume's")
    os.chmod(target, 0o600)
    (root / "link").symlink_to(target)
    assert needs_change(root, gid, read_only=False)
    assert set_ownership(root, gid, "OnRootMismatch")
    assert stat.S_IMODE(os.stat(root / "sub" / "f").st_mode) == 0o660  # group read-write
    assert os.stat(root / "sub").st_mode & 0o2070 == 0o2070  # setgid, group rwx
    assert not needs_change(root, gid, read_only=False)
    os.chmod(root / "sub" / "f", 0o600)
    assert not set_ownership(root, gid, "OnRootMismatch")  # the root is right: not walked
    assert stat.S_IMODE(os.stat(root / "sub" / "f").st_mode) == 0o600
    assert set_ownership(root, gid, "Always")
    assert stat.S_IMODE(os.stat(root / "sub" / "f").st_mode) == 0o660
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600  # a link's target is not the volume's to change


def claim_pod(uid: str = "u1") -> dict:
    return {"metadata": {"name": "web", "namespace": "ns", "uid": uid},
            "spec": {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}}


class Ready:
    def __init__(self, made: set[str]) -> None:
        self.made = made

    def ready(self, name: str) -> str:
        return "" if name in self.made else f"the local volume {name} has not been made on this node yet"


def test_failed_mount_messages_and_what_the_runtime_binds(tmp_path: Path) -> None:
    mounts = ClaimMounts(Ready(set()))
    pod = claim_pod()
    assert mounts.problem(pod).endswith("failed to process volumes=[data]: the claim has not been resolved for "
                                        "this node yet")
    mounts.record(pod, [pb.ClaimVolume(volume="data", claim="data", error="error processing PVC ns/data: PVC is not "
                                                                          "bound")])
    assert mounts.problem(pod) == ("Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes="
                                   "[data], failed to process volumes=[data]: error processing PVC ns/data: PVC is not "
                                   "bound")
    provisioned = pb.ClaimVolume(volume="data", claim="data", persistent_volume="pvc-1", kind="local",
                                 path=str(tmp_path / "pvc-1"), provisioned=True, read_only=True)
    assert mounts.record(pod, [provisioned]) is True and mounts.record(pod, [provisioned]) is False
    assert mounts.problem(pod) == ('MountVolume.SetUp failed for volume "pvc-1" : the local volume pvc-1 has not been '
                                   "made on this node yet")
    mounts.local = Ready({"pvc-1"})
    assert mounts.prepare(pod) == ""
    assert mounts.paths(pod) == ({"data": str(tmp_path / "pvc-1")}, {"data"})
    assert mounts.user_of(str(tmp_path / "pvc-1")) == "ns/web" and mounts.user_of("/other") == ""
    static = pb.ClaimVolume(volume="data", claim="data", persistent_volume="disk", kind="local",
                            path=str(tmp_path / "none"))
    mounts.record(pod, [static])
    assert mounts.problem(pod) == f'MountVolume.SetUp failed for volume "disk" : path "{tmp_path / "none"}" does not exist'
    mounts.retain(set())
    assert mounts.paths(pod) == ({}, set())


def test_only_pods_with_claim_volumes_have_anything_to_prepare(tmp_path: Path) -> None:
    mounts = ClaimMounts(Ready(set()))
    plain = {"metadata": {"name": "p", "namespace": "ns", "uid": "u-plain"},
             "spec": {"volumes": [{"name": "scratch", "emptyDir": {}}], "containers": []}}
    assert not mounts.involved(plain) and mounts.prepare(plain) == ""
    pod = claim_pod()
    assert mounts.involved(pod) and mounts.prepare(pod) != ""  # wanted, not yet resolved
    # Known for the pod from its assignment, even if its spec (as given) names none.
    mounts.record(plain, [pb.ClaimVolume(volume="data", claim="data", error="PVC is not bound")])
    assert mounts.involved(plain)


def test_host_path_types(tmp_path: Path) -> None:
    assert host_path_problem(str(tmp_path / "made"), "DirectoryOrCreate") == "" and (tmp_path / "made").is_dir()
    assert host_path_problem(str(tmp_path / "f"), "FileOrCreate") == "" and (tmp_path / "f").is_file()
    assert host_path_problem(str(tmp_path / "f"), "Directory") == f"hostPath type check failed: {tmp_path / 'f'} is not a directory"
    assert host_path_problem(str(tmp_path / "made"), "File") == f"hostPath type check failed: {tmp_path / 'made'} is not a file"
    assert host_path_problem(str(tmp_path / "missing"), "Socket").endswith("is not a socket file")
    assert host_path_problem(str(tmp_path / "missing"), "") == ""
