"""`pyctl cluster up/down` end to end: one real 3-node cluster for the whole module (etcd, the
control plane, a registry, a runc agent per node netns), driven with the pyctl CLI as a user
would, then removed, leaving the host as it was.

The cluster is secure by default: the API refuses anonymous and plain-HTTP requests, the node
gateway refuses plain TCP, Secrets are sealed in etcd, and kubectl reaches it over HTTPS with
the client config `up` writes.

The scenario follows DESIGN §7: nodes Ready → a Deployment spreads over the nodes → pod to pod
across nodes → scale → rolling update → the control plane, etcd, the registry and an agent are
SIGKILLed in turn and the cluster's supervisor brings each back → a node dies and its replicas
come back elsewhere → kubectl sees the same pods → delete → `down` → nothing of the cluster is
left, the supervisor included.

Other engineers' tests change this host at the same time (links, mounts, cgroups, processes of
their own), so "nothing is left" compares the snapshots on everything that carries this
cluster's identifiers (its name, bridge, veths, subnets, state dir, cgroup parents).
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import ipaddress
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import grpc
import pytest

from pyctl.localcluster import procs, state, supervision
from pyctl.localcluster.hostnet import nsenter
from pyctl.localcluster.state import Cluster
from tests.cluster import wait_until
from tests.e2e.helpers import processes_mentioning

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runc") or not shutil.which("conmon")
                       or not shutil.which("docker-registry"),
                       reason="needs root, runc, conmon and docker-registry"),
]

ROUTES_READY = (Path(__file__).parents[2] / "agent" / "network" / "routes.py").exists()
DEMO = "localhost:5000/pyctl/demo"


def deployment(image: str, replicas: int) -> dict[str, Any]:
    labels = {"app": "web"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "terminationGracePeriodSeconds": 2,
                         "containers": [{"name": "web", "image": image, "ports": [{"containerPort": 8080}],
                                         "readinessProbe": {"httpGet": {"path": "/", "port": 8080},
                                                            "periodSeconds": 1}}]}}}}


def eventually(predicate, timeout: float = 120.0):  # type: ignore[no-untyped-def]
    try:
        return asyncio.run(wait_until(predicate, timeout, interval=0.5))
    except AssertionError as e:
        raise AssertionError(f"{e}\n{_explain()}") from None


def unless_unavailable(predicate):  # type: ignore[no-untyped-def]
    """A wait's predicate for while a component restarts: a pyctl command that fails (the API
    answers 503 until its etcd connection is back) means "not yet", not a failed test."""
    def check():  # type: ignore[no-untyped-def]
        try:
            return predicate()
        except AssertionError:
            return False
    return check


def _explain() -> str:
    """What a failed wait leaves to read: pods, nodes and events of the module's cluster, its
    processes and what its supervisor did."""
    env = _current[0] if _current else None
    if env is None:
        return ""
    out = [env.pyctl(*args, check=False, timeout=60).stdout for args in
           (("get", "nodes", "-o", "wide"), ("get", "pods", "-o", "wide"), ("get", "events"))]
    if env.cluster is not None:
        out.append(env.pyctl("cluster", "status", "--name", env.cluster.name, check=False, timeout=60).stdout)
        out.append(supervision.tail(env.cluster.dir / "logs" / "supervisor.log", 20))
    return "\n".join(out)[-8000:]



@dataclass
class Env:
    cluster: Cluster
    kubeconfig: str
    workdir: Path
    before: dict[str, set[str]]

    def run(self, *argv: str, check: bool = True, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                             env={**os.environ, "PYCTL_CONFIG": self.kubeconfig})
        if check and res.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}\n"
                                 f"{_explain()}")
        return res

    def pyctl(self, *args: str, check: bool = True, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "pyctl", *args, check=check, timeout=timeout)

    def apply(self, doc: dict[str, Any]) -> None:
        path = self.workdir / "web.json"
        path.write_text(json.dumps(doc))
        self.pyctl("apply", "-f", str(path))

    def all_pods(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = json.loads(self.pyctl("get", "pods", "-o", "json").stdout)["items"]
        return items

    def pods(self) -> list[dict[str, Any]]:
        """The pods not being deleted."""
        return [p for p in self.all_pods() if not p["metadata"].get("deletionTimestamp")]

    def ready_pods(self) -> list[dict[str, Any]]:
        return [p for p in self.pods() if p.get("status", {}).get("phase") == "Running" and any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in p["status"].get("conditions") or [])]

    def nodes(self) -> dict[str, str]:
        items = json.loads(self.pyctl("get", "nodes", "-o", "json").stdout)["items"]
        return {n["metadata"]["name"]: next((c["status"] for c in n["status"].get("conditions") or []
                                             if c["type"] == "Ready"), "Unknown") for n in items}

    def processes(self) -> dict[str, dict[str, str]]:
        """`pyctl cluster status`'s process table: component → its columns by header."""
        out = self.pyctl("cluster", "status", "--name", self.cluster.name).stdout
        lines = out.split("\n\n")[1].splitlines()
        header = re.split(r"\s{2,}", lines[0].strip())
        return {row[0]: dict(zip(header, row)) for row in (re.split(r"\s{2,}", x.strip()) for x in lines[1:])}


_current: list[Env] = []


# -- what the host looks like ------------------------------------------------------------------

def _lines(*argv: str) -> set[str]:
    res = subprocess.run(list(argv), capture_output=True, text=True)
    return {line.strip() for line in res.stdout.splitlines() if line.strip()}


def _processes() -> set[str]:
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cgroups = (entry / "cgroup").read_text().replace("\n", " ")
            zombie = (entry / "stat").read_text().rpartition(")")[2].split()[0] == "Z"
        except (OSError, IndexError):
            continue
        if not zombie:
            out.add(f"{entry.name} {cmd} [{cgroups}]")
    return out


def snapshot() -> dict[str, set[str]]:
    cgroups = {str(d) for ctrl in Path("/sys/fs/cgroup").iterdir() if ctrl.is_dir() and not ctrl.is_symlink()
               for d in ctrl.iterdir() if d.is_dir()}
    with open("/proc/self/mountinfo") as f:
        mounts = {line.split()[4] for line in f}
    return {
        "netns": _lines("ip", "netns", "list"),
        "links": {line.split(":")[1].strip().split("@")[0] for line in _lines("ip", "-o", "link")},
        "routes": _lines("ip", "route", "show", "table", "all"),
        "mounts": mounts,
        "cgroups": cgroups,
        "runc": _lines("runc", "list", "-q"),
        "processes": _processes(),
        "forward": _lines("iptables", "-S", "FORWARD"),
        "sysctl": {f"ip_forward={Path('/proc/sys/net/ipv4/ip_forward').read_text().strip()}"},
        "loops": {f"{f.parent.parent.name} {f.read_text().strip()}"  # local volumes' images
                  for f in Path("/sys/block").glob("loop*/loop/backing_file")},
    }


def markers(c: Cluster) -> list[str]:
    """Strings only this cluster's leftovers would contain."""
    net = ipaddress.ip_network(c.subnet)
    return [str(c.dir), c.bridge, f"pyv{c.index}-", f"{c.name}-node-", str(net.network_address)[:-1],
            c.cluster_cidr, c.service_cidr, *(n.cgroup_parent for n in c.nodes)]


# -- the cluster -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    name = "e2e" + uuid.uuid4().hex[:6]
    workdir = tmp_path_factory.mktemp("cluster")
    kubeconfig = str(workdir / "config")
    before = snapshot()
    # The gateway renews node leases every 10 s: a shorter grace period makes healthy nodes flap.
    e = Env(None, kubeconfig, workdir, before)  # type: ignore[arg-type]
    _current.append(e)
    try:
        e.pyctl("cluster", "up", "--name", name, "--nodes", "3", "--wait", "240s",
                "--node-monitor-grace-period", "20s", "--pod-eviction-timeout", "5s", timeout=280)
        e.cluster = state.load(name)  # type: ignore[assignment]
        yield e
    finally:
        _current.clear()
        if state.load(name) is not None:
            e.pyctl("cluster", "down", "--name", name, check=False)


def test_nodes_ready_on_their_own_network(env: Env) -> None:
    c = env.cluster
    eventually(lambda: env.nodes() == {f"{c.name}-node-{i}": "True" for i in (1, 2, 3)}, timeout=60)
    # Pod traffic that reaches the host is dropped there: the cluster CIDR is blackholed.
    routes = _lines("ip", "route", "show", "type", "blackhole")
    assert any(ipaddress.ip_network(c.cluster_cidr).subnet_of(ipaddress.ip_network(r.split()[1]))
               for r in routes if len(r.split()) > 1), routes
    for n in c.nodes:  # nothing in a node netns can leave the bridge's subnet
        node_routes = env.run(*nsenter(n), "ip", "route").stdout
        assert "default" not in node_routes
    procs_ = env.processes()
    for comp in ("supervisor", "etcd", "controlplane", "registry", *(f"agent-{n.name}" for n in c.nodes)):
        assert procs_[comp]["STATUS"] == "running", procs_


def test_api_and_gateway_refuse_strangers(env: Env) -> None:
    c = env.cluster
    assert c.api_url.startswith("https://")
    assert "security: HTTPS" in env.pyctl("cluster", "status", "--name", c.name).stdout
    # Anonymous, over a verified TLS connection: 401, as kube-apiserver answers.
    direct = urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=str(c.dir / "pki" / "ca.crt"))))
    with pytest.raises(urllib.error.HTTPError) as refused:
        direct.open(f"{c.api_url}/api/v1/namespaces/default/secrets", timeout=30)
    assert refused.value.code == 401
    # Plain HTTP gets no HTTP answer at all.
    plain = http.client.HTTPConnection("127.0.0.1", c.api_port, timeout=30)
    with pytest.raises((http.client.HTTPException, OSError)):
        plain.request("GET", "/api/v1/nodes")
        plain.getresponse()
    plain.close()
    # The node gateway speaks TLS only: a plaintext gRPC client cannot even reach a method (a
    # plaintext server would answer UNIMPLEMENTED for this one).
    with grpc.insecure_channel(f"{c.host_ip}:{c.gateway_port}") as channel:
        call = channel.unary_unary("/pyctl.node.v1.NodeService/Nothing")
        with pytest.raises(grpc.RpcError) as failed:
            call(b"", timeout=30)
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE, failed.value
    # No bootstrap token outlives `up`: every node has joined.
    assert "No bootstrap tokens" in env.pyctl("token", "list").stderr


def test_secrets_are_sealed_in_etcd(env: Env) -> None:
    c = env.cluster
    word = "hunter2-" + uuid.uuid4().hex[:8]
    env.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sealed"},
               "data": {"password": base64.b64encode(word.encode()).decode()}})
    got = json.loads(env.pyctl("get", "secret", "sealed", "-o", "json").stdout)
    assert base64.b64decode(got["data"]["password"]).decode() == word
    raw = subprocess.run(["etcdctl", "--endpoints", f"http://127.0.0.1:{c.etcd_port}", "get",
                          "/registry/secrets/default/sealed", "--print-value-only"],
                         capture_output=True, timeout=60, check=True).stdout
    assert raw.startswith(b"k8s:enc:aesgcm:v1:"), raw[:40]
    assert word.encode() not in raw and base64.b64encode(word.encode()) not in raw
    env.pyctl("delete", "secret", "sealed")


def test_a_second_cluster_runs_beside_the_first(env: Env) -> None:
    first = env.cluster
    name = first.name[:-1] + ("x" if first.name[-1] != "x" else "y")
    other_config = str(env.workdir / "other-config")
    try:
        env.pyctl("cluster", "up", "--name", name, "--nodes", "1", "--kubeconfig", other_config, timeout=280)
        second = state.load(name)
        assert second is not None
        assert second.bridge != first.bridge and second.index != first.index
        assert not ipaddress.ip_network(second.subnet).overlaps(ipaddress.ip_network(first.subnet))
        assert not ipaddress.ip_network(second.cluster_cidr).overlaps(ipaddress.ip_network(first.cluster_cidr))
        assert second.api_port != first.api_port and second.etcd_port != first.etcd_port
        assert (second.dir / "pki" / "ca.crt").read_bytes() != (first.dir / "pki" / "ca.crt").read_bytes()
        nodes = json.loads(env.pyctl("--kubeconfig", other_config, "get", "nodes", "-o", "json").stdout)["items"]
        assert [n["metadata"]["name"] for n in nodes] == [f"{name}-node-1"]
    finally:
        env.pyctl("cluster", "down", "--name", name, "--kubeconfig", other_config, check=False)
    assert state.load(name) is None
    # The first one never noticed (eventually: a loaded machine may delay a heartbeat past the
    # short grace period this module uses).
    eventually(lambda: env.nodes() == {n.name: "True" for n in first.nodes}, timeout=60)


def test_deployment_spreads_over_the_nodes(env: Env) -> None:
    env.apply(deployment(f"{DEMO}:1.0", 3))
    env.pyctl("rollout", "status", "deployment/web", "--timeout=180s", timeout=200)
    pods = eventually(lambda: (p := env.ready_pods()) and len(p) == 3 and p)
    assert {p["spec"]["nodeName"] for p in pods} == {n.name for n in env.cluster.nodes}
    for p in pods:  # each pod's IP lies in its node's podCIDR
        node = next(n for n in env.cluster.nodes if n.name == p["spec"]["nodeName"])
        assert ipaddress.ip_address(p["status"]["podIP"]) in ipaddress.ip_network(node.pod_cidr)
    # CNI turned forwarding on for its pods inside each node netns only, never on the host.
    for n in env.cluster.nodes:
        assert env.run(*nsenter(n), "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    assert snapshot()["sysctl"] == env.before["sysctl"]


@pytest.mark.skipif(not ROUTES_READY, reason="cross-node pod routes (agent/network/routes.py, host-gw "
                                             "routes per node netns) have not landed yet")
def test_pod_on_another_node_answers_by_pod_ip(env: Env) -> None:
    pods = env.ready_pods()
    here = env.cluster.nodes[0]
    target = next(p for p in pods if p["spec"]["nodeName"] != here.name)
    # From the node's own pod gateway address: pods route only the cluster CIDR back.
    source = str(ipaddress.ip_network(here.pod_cidr)[1])
    fetch = ("import http.client, sys; c = http.client.HTTPConnection(sys.argv[1], 8080, timeout=3, "
             "source_address=(sys.argv[2], 0)); c.request('GET', '/'); print(c.getresponse().read().decode())")
    body = eventually(lambda: env.run(*nsenter(here), sys.executable, "-c", fetch, target["status"]["podIP"],
                                      source, check=False).stdout, timeout=60)
    assert "pyctl demo" in body


def test_pods_reach_a_service_by_cluster_ip_and_name_from_every_node(env: Env) -> None:
    env.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    ip = json.loads(env.pyctl("get", "svc", "web", "-o", "json").stdout)["spec"]["clusterIP"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(env.cluster.service_cidr)
    pods = env.ready_pods()
    count = lambda: sum(len(s.get("addresses") or []) for s in json.loads(  # noqa: E731
        env.pyctl("get", "endpoints", "web", "-o", "json").stdout).get("subsets") or [])
    eventually(lambda: count() == len(pods), timeout=60)
    fetch = ("import http.client, sys\nfor _ in range(6):\n c = http.client.HTTPConnection(sys.argv[1], 80, "
             "timeout=3); c.request('GET', '/'); print(c.getresponse().status)")
    for p in pods:  # from inside each pod: half or more of the answers come from other nodes
        node = next(n for n in env.cluster.nodes if n.name == p["spec"]["nodeName"])
        netns = Path(node.state_dir) / "runtime" / "pods" / p["metadata"]["uid"] / "ns" / "net"
        eventually(lambda: env.run("nsenter", f"--net={netns}", "--", sys.executable, "-c", fetch, ip,
                                   check=False).stdout.split() == ["200"] * 6, timeout=60)
    # busybox nslookup tries every search domain and exits 1 when any is NXDOMAIN: read its answer.
    out = env.pyctl("exec", pods[0]["metadata"]["name"], "--", "nslookup", "web", check=False).stdout
    assert f"Name:\tweb.default.svc.cluster.local\nAddress: {ip}" in out, out


def test_scale_to_five(env: Env) -> None:
    env.pyctl("scale", "deployment", "web", "--replicas=5")
    pods = eventually(lambda: (p := env.ready_pods()) and len(p) == 5 and p, timeout=180)
    assert len({p["spec"]["nodeName"] for p in pods}) == 3


def test_rolling_update(env: Env) -> None:
    env.apply(deployment(f"{DEMO}:1.1", 5))
    env.pyctl("rollout", "status", "deployment/web", "--timeout=200s", timeout=220)
    pods = eventually(lambda: (p := env.ready_pods()) and len(p) == 5
                      and all(x["spec"]["containers"][0]["image"] == f"{DEMO}:1.1" for x in p) and p,
                      timeout=120)
    assert len(pods) == 5


def test_a_claim_gets_a_local_volume_from_the_default_class(env: Env) -> None:
    classes = json.loads(env.pyctl("get", "storageclass", "-o", "json").stdout)["items"]
    assert [(c["metadata"]["name"], c["provisioner"], c["volumeBindingMode"]) for c in classes] == [
        ("local-path", "pyctl.io/local-path", "WaitForFirstConsumer")]  # `up` installed it, as k3s does
    ns = "volumes"  # not default: the other tests count the pods there
    env.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    env.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": ns},
               "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "32Mi"}}}})
    env.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "keeper", "namespace": ns}, "spec": {
        "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "c", "image": f"{DEMO}:1.0", "command": ["sh", "-c", "echo kept > /data/f; sleep 3600"],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}})
    pod = eventually(lambda: (p := json.loads(env.pyctl("get", "pod", "keeper", "-n", ns, "-o", "json").stdout))
                     .get("status", {}).get("phase") == "Running" and p, timeout=120)
    claim = json.loads(env.pyctl("get", "pvc", "data", "-n", ns, "-o", "json").stdout)
    volume = json.loads(env.pyctl("get", "pv", claim["spec"]["volumeName"], "-o", "json").stdout)
    node = next(n for n in env.cluster.nodes if n.name == pod["spec"]["nodeName"])
    path = Path(volume["spec"]["local"]["path"])
    assert path.parent == Path(node.state_dir) / "volumes" and os.path.ismount(path)
    eventually(lambda: (path / "f").exists() and (path / "f").read_text() == "kept\n", timeout=60)
    # Left in place: `down` must take the volume (its mount, loop device and files) with the cluster.


def _container(pod: dict[str, Any]) -> tuple[Any, ...]:
    """What changes if a pod's container is started anew."""
    st = pod["status"]["containerStatuses"][0]
    return st.get("containerID"), st.get("restartCount"), (st.get("state") or {}).get("running")


# Each kill ends with a scale that must converge; the last leaves the 5 replicas the next test expects.
KILLS = [("controlplane", 4), ("etcd", 5), ("registry", 4), ("agent", 5)]


@pytest.mark.parametrize(("victim", "replicas"), KILLS, ids=[k for k, _ in KILLS])
def test_a_killed_process_is_restarted_by_the_supervisor(env: Env, victim: str, replicas: int) -> None:
    c = env.cluster
    node = None
    if victim == "agent":  # one that runs pods: they must be re-adopted, not restarted
        node = next(n for n in c.nodes if any(p["spec"]["nodeName"] == n.name for p in env.ready_pods()))
        victim = f"agent-{node.name}"
    before = env.processes()[victim]
    pid = procs.read_pid(c.dir / "run" / f"{victim}.pid")
    assert pid is not None and before["PID"] == str(pid) and before["STATUS"] == "running", before
    containers = {p["metadata"]["uid"]: _container(p) for p in env.ready_pods()
                  if node is not None and p["spec"]["nodeName"] == node.name}
    os.kill(pid, signal.SIGKILL)
    row = eventually(lambda: (r := env.processes()[victim])["STATUS"] == "running" and r["PID"] != str(pid)
                     and r, timeout=120)
    assert int(row["RESTARTS"]) == int(before["RESTARTS"]) + 1, row
    assert row["LAST EXIT"].startswith("killed by SIGKILL, "), row
    eventually(unless_unavailable(lambda: env.nodes() == {n.name: "True" for n in c.nodes}), timeout=120)
    if node is not None:  # restarted inside its node's netns, and it kept the node's containers
        assert os.stat(f"/proc/{row['PID']}/ns/net").st_ino == os.stat(f"/run/netns/{node.netns}").st_ino
        eventually(unless_unavailable(lambda: {p["metadata"]["uid"]: _container(p) for p in env.ready_pods()
                                               if p["metadata"]["uid"] in containers} == containers), timeout=60)
    if victim == "registry":  # it serves the images it held
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        req = urllib.request.Request(f"http://{c.registry}/v2/pyctl/demo/manifests/1.1", method="HEAD", headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json, "
                      "application/vnd.docker.distribution.manifest.v2+json"})
        assert direct.open(req, timeout=30).status == 200
    # And the cluster still does its job: a scale converges.
    env.pyctl("scale", "deployment", "web", f"--replicas={replicas}")
    eventually(lambda: len(env.ready_pods()) == replicas and len(env.pods()) == replicas, timeout=180)


def _supervisors(c: Cluster) -> list[int]:
    return processes_mentioning(f"pyctl.localcluster.supervisor --cluster-dir {c.dir}")


def test_killing_the_supervisor_kills_nothing_and_up_again_adopts(env: Env) -> None:
    c = env.cluster
    run = c.dir / "run"
    names = ["etcd", "controlplane", "registry", *(f"agent-{n.name}" for n in c.nodes)]
    pids = {n: procs.read_pid(run / f"{n}.pid") for n in names}
    supervisor = procs.read_pid(run / "supervisor.pid")
    assert supervisor is not None and None not in pids.values()
    assert _supervisors(c) == [supervisor]
    ca = (c.dir / "pki" / "ca.crt").read_bytes()
    restarts = {n: row["RESTARTS"] for n, row in env.processes().items()}
    os.kill(supervisor, signal.SIGKILL)
    eventually(lambda: procs.read_pid(run / "supervisor.pid") is None, timeout=30)
    assert {n: procs.read_pid(run / f"{n}.pid") for n in names} == pids  # everything runs on
    assert env.processes()["supervisor"]["STATUS"] == "down"
    procs.stop(run / "registry.pid")  # and nothing restarts what stops meanwhile
    assert procs.read_pid(run / "registry.pid") is None
    out = env.pyctl("cluster", "up", "--name", c.name, "--nodes", "3").stdout
    assert "starting supervisor" in out and "starting registry" in out, out
    assert "starting etcd" not in out and "starting agent" not in out, out
    assert (c.dir / "pki" / "ca.crt").read_bytes() == ca  # never a new CA for an existing cluster
    # The new supervisor adopted what ran (same pids, no twins) and started only the registry.
    now = {n: procs.read_pid(run / f"{n}.pid") for n in names}
    assert {n: p for n, p in now.items() if n != "registry"} == {n: p for n, p in pids.items() if n != "registry"}
    assert now["registry"] is not None and now["registry"] != pids["registry"]
    new = procs.read_pid(run / "supervisor.pid")
    assert new is not None and new != supervisor and _supervisors(c) == [new]
    # The restart counts carry over to the new supervisor; the registry's exit it only found.
    rows = env.processes()
    assert {n: r["RESTARTS"] for n, r in rows.items() if n != "registry"} == {
        n: r for n, r in restarts.items() if n != "registry"}
    assert int(rows["registry"]["RESTARTS"]) == int(restarts["registry"]) + 1
    assert rows["registry"]["LAST EXIT"].startswith("exited (status unknown)"), rows
    assert len(processes_mentioning(f"--data-dir {c.dir}/etcd ")) == 1
    assert len(processes_mentioning(f"--node-name {c.nodes[0].name} ")) == 1


def test_replicas_of_a_dead_node_come_back_elsewhere(env: Env) -> None:
    c = env.cluster
    victim = next(n for n in c.nodes if any(p["spec"]["nodeName"] == n.name for p in env.ready_pods()))
    pid = procs.read_pid(c.dir / "run" / f"agent-{victim.name}.pid")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    env.run("ip", "link", "set", victim.veth, "down")  # and the node is cut off the bridge
    eventually(lambda: env.nodes()[victim.name] != "True", timeout=120)
    pods = eventually(lambda: (p := [x for x in env.ready_pods() if x["spec"]["nodeName"] != victim.name])
                      and len(p) == 5 and p, timeout=240)
    assert {p["spec"]["nodeName"] for p in pods} <= {n.name for n in c.nodes if n is not victim}


def test_kubectl_lists_the_same_pods(env: Env) -> None:
    if not shutil.which("kubectl"):
        pytest.skip("kubectl is not installed")
    mine = {p["metadata"]["name"] for p in env.all_pods()}
    # Over HTTPS, trusting the cluster CA and presenting the admin certificate from the config.
    theirs = json.loads(env.run("kubectl", "--kubeconfig", env.kubeconfig, "get", "pods", "-o", "json").stdout)
    assert {p["metadata"]["name"] for p in theirs["items"]} == mine


def test_delete_then_down_leaves_the_host_as_it_was(env: Env) -> None:
    c = env.cluster
    env.pyctl("delete", "deployment", "web")
    live = {n.name for n in c.nodes if env.nodes().get(n.name) == "True"}
    # A dead node's pods stay Terminating (no agent confirms); the live nodes' go.
    eventually(lambda: not [p for p in env.all_pods() if p["spec"].get("nodeName") in live], timeout=120)
    # `down` while the supervisor is restarting something: it must not start anything behind down.
    agent = procs.read_pid(c.dir / "run" / f"agent-{c.nodes[0].name}.pid")
    assert agent is not None
    os.kill(agent, signal.SIGKILL)
    supervisor = procs.read_pid(c.dir / "run" / "supervisor.pid")
    assert supervisor is not None
    # A process of the cluster that no pidfile names (its record lost) goes too.
    stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", f"{c.dir}/stray"],
                             start_new_session=True)
    try:
        out = env.pyctl("cluster", "down", "--name", c.name).stdout
        assert stray.wait(30) == -signal.SIGKILL
    finally:
        stray.kill()
    assert f"no pidfile named: {stray.pid}" in out, out
    assert "warning" not in out, out
    after = snapshot()
    ours = markers(c)
    for kind, items in after.items():
        new = {i for i in items - env.before[kind] if any(m in i for m in ours)}
        gone = {i for i in env.before[kind] - items if any(m in i for m in ours)}
        assert not new and not gone, f"{kind}: left {sorted(new)}, removed {sorted(gone)}"
    # What `ip netns add` makes on first use (/run/netns as a mount) is undone too, unless
    # another netns user appeared meanwhile.
    if not after["netns"]:
        assert ("/run/netns" in after["mounts"]) == ("/run/netns" in env.before["mounts"])
    assert not c.dir.exists()  # the PKI and the encryption key with it
    assert not Path(f"/proc/{supervisor}").exists() or _supervisors(c) == []
    config = Path(env.kubeconfig).read_text()
    assert c.name not in config, config  # its cluster, admin user and context are gone
    assert env.pyctl("cluster", "down", "--name", c.name).stdout.startswith("no cluster")
