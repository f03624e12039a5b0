"""The parts of `pyctl cluster` that need no root: names, address allocation, pidfiles, the
CLI's answers to bad input, and the agent's registry mirror mapping."""

from __future__ import annotations

import base64
import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from agent.images.reference import parse_reference
from agent.images.registry import RegistryClient
from agent.main import parse_args
from pyctl.config import KubeConfig
from pyctl.errors import CommandError
from pyctl.localcluster import launcher, procs, security, state


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(state, "ROOT", tmp_path)
    return tmp_path


@pytest.mark.parametrize("name", ["", "Dev", "-a", "a-", "a_b", "twelve-chars"])
def test_bad_cluster_names_are_refused(name: str) -> None:
    with pytest.raises(CommandError, match="invalid cluster name"):
        state.check_name(name)


def test_node_names_addresses_and_pod_cidrs_follow_from_the_cluster(root: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "host_networks", lambda: [])
    c = state.allocate("dev", 3, [])
    assert (c.bridge, c.subnet, c.host_ip, c.cluster_cidr) == ("pyc-dev", "172.30.1.0/24", "172.30.1.1",
                                                              "10.244.0.0/16")
    assert [(n.name, n.netns, n.veth, n.ip, n.pod_cidr) for n in c.nodes] == [
        (f"dev-node-{i}", f"pyctl-dev-node-{i}", f"pyv1-{i}", f"172.30.1.{10 + i}", f"10.244.{i}.0/24")
        for i in (1, 2, 3)]
    assert all(len(x) <= 15 for n in c.nodes for x in (n.veth, c.bridge))
    assert len({c.etcd_port, c.etcd_peer_port, c.api_port}) == 3


def test_a_second_cluster_avoids_the_first_and_host_routes(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "host_networks", lambda: [ipaddress.ip_network("10.245.7.0/24"),
                                                         ipaddress.ip_network("172.30.2.0/24")])
    first = state.allocate("one", 1, [])
    first.save()
    second = state.allocate("two", 1, [])
    assert (first.subnet, first.cluster_cidr) == ("172.30.1.0/24", "10.244.0.0/16")
    assert (second.subnet, second.cluster_cidr) == ("172.30.3.0/24", "10.246.0.0/16")
    assert not {first.etcd_port, first.etcd_peer_port, first.api_port} & {
        second.etcd_port, second.etcd_peer_port, second.api_port}
    assert state.load("one") == first


def test_a_pidfile_names_one_process_not_a_reused_pid(tmp_path: Path) -> None:
    pidfile = tmp_path / "sleep.pid"
    pid = procs.start(["sleep", "30"], pidfile, tmp_path / "sleep.log")
    assert procs.read_pid(pidfile) == pid
    pidfile.write_text(f"{pid} 1\n")  # same pid, another start time: not ours
    assert procs.read_pid(pidfile) is None
    pidfile.write_text(f"{pid} {procs._start_time(pid)}\n")
    procs.stop(pidfile)
    assert not pidfile.exists()


def test_cluster_cli_rejects_bad_input_with_one_line() -> None:
    res = subprocess.run([sys.executable, "-m", "pyctl", "cluster", "status", "--name", "No_Way"],
                         capture_output=True, text=True)
    assert res.returncode == 1
    assert res.stderr.startswith("error: invalid cluster name 'No_Way'")
    res = subprocess.run([sys.executable, "-m", "pyctl", "cluster"], capture_output=True, text=True)
    assert res.returncode == 1 and "a sub-command is required: up, down, status" in res.stderr


def test_registry_mirror_serves_a_registry_by_another_endpoint() -> None:
    client = RegistryClient(mirrors={"localhost:5000": "http://172.30.1.1:5000/"})
    mirrored = parse_reference("localhost:5000/pyctl/demo:1.0")
    assert client._url(mirrored, "manifests/1.0") == "http://172.30.1.1:5000/v2/pyctl/demo/manifests/1.0"
    other = parse_reference("localhost:5001/pyctl/demo:1.0")
    assert client._url(other, "manifests/1.0") == "http://localhost:5001/v2/pyctl/demo/manifests/1.0"


def test_agent_registry_mirror_flag() -> None:
    args = parse_args(["--server", "x:7443", "--registry-mirror", "localhost:5000=http://10.0.0.1:5000"])
    assert args.registry_mirror == {"localhost:5000": "http://10.0.0.1:5000"}
    with pytest.raises(SystemExit):
        parse_args(["--server", "x:7443", "--registry-mirror", "localhost:5000"])


def test_a_new_cluster_is_secure_and_keeps_its_ca(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "host_networks", lambda: [])
    c = state.allocate("sec", 1, [])
    assert c.secure and c.api_url.startswith("https://127.0.0.1:")
    security.ensure_files(c)
    ca = (c.dir / "pki" / "ca.crt").read_bytes()
    key = security.encryption_config(c)
    assert key.stat().st_mode & 0o777 == 0o600
    sealed = key.read_bytes()
    san = x509.load_pem_x509_certificate((c.dir / "pki" / "apiserver.crt").read_bytes()).extensions \
        .get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} >= {c.host_ip, "127.0.0.1"}
    security.ensure_files(c)  # `up` again: nothing is made anew
    assert (c.dir / "pki" / "ca.crt").read_bytes() == ca and key.read_bytes() == sealed
    argv = next(x for x in launcher.components(c, ["--token", "t"]) if x.name == "controlplane").argv
    flags = dict(zip(argv, argv[1:]))
    assert flags["--pki-dir"] == str(c.dir / "pki") and flags["--authorization-mode"] == "RBAC"
    assert flags["--encryption-provider-config"] == str(key)
    # Nothing listens beyond loopback and the cluster's bridge.
    assert flags["--gateway-listen"].startswith(c.host_ip + ":")
    assert flags["--gateway-join-listen"] == f"{c.host_ip}:{c.gateway_port + 1}"
    agent = next(x for x in launcher.components(c, ["--token", "t"]) if x.name.startswith("agent-")).argv
    assert agent[-2:] == ["--token", "t"]  # not joined yet
    # Records from before `secure` existed describe insecure clusters.
    c.save()
    doc = json.loads((c.dir / "cluster.json").read_text())
    del doc["secure"]
    (c.dir / "cluster.json").write_text(json.dumps(doc))
    old = state.load("sec")
    assert old is not None and not old.secure and old.api_url.startswith("http://")


def test_client_config_gets_the_ca_and_admin_cert_and_keeps_other_contexts(
        root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "host_networks", lambda: [])
    c = state.allocate("sec", 1, [])
    security.ensure_files(c)
    path = str(tmp_path / "config")
    other = KubeConfig(path)
    other.set_cluster("prod", server="https://10.0.0.1:6443")
    other.set_context("prod", cluster="prod")
    other.use_context("prod")
    other.save()
    security.write_client_config(c, path)
    cfg = KubeConfig.load(path)
    assert cfg.current_context == "sec" and cfg.context("prod") is not None
    conn = cfg.connection()
    assert conn.server == c.api_url
    assert base64.b64decode(conn.ca_data or "") == (c.dir / "pki" / "ca.crt").read_bytes()
    assert base64.b64decode(conn.cert_data or "") == (c.dir / "pki" / "admin.crt").read_bytes()
    security.forget_client_config(c, path)
    cfg = KubeConfig.load(path)
    assert cfg.cluster("sec") is None and cfg.user("sec-admin") is None and cfg.context("sec") is None
    assert cfg.cluster("prod") is not None and cfg.current_context == ""


def test_insecure_is_labelled_and_changes_nothing_on_a_secure_cluster(root: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "host_networks", lambda: [])
    c = state.allocate("plain", 1, [], secure=False)
    assert c.api_url.startswith("http://") and security.controlplane_flags(c) == []
    assert "OFF" in security.describe(c)
    res = subprocess.run([sys.executable, "-m", "pyctl", "cluster", "up", "--help"], capture_output=True, text=True)
    assert "--insecure" in res.stdout and "DEBUGGING ONLY" in res.stdout
