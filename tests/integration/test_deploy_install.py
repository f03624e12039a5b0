"""deploy/install.sh: the units and settings it writes, its refusals, and that the commands in
its units really start a working etcd, control plane and agent.

install.sh runs with --root TMPDIR, so nothing outside the temporary directory changes. The
units' ExecStart lines are expanded the way systemd does (EnvironmentFile, `${VAR}` as one
argument, `$VAR` split on whitespace); the last tests run them on loopback addresses: a secured
cluster (its credentials made by the command install.sh prints, an agent joining with a
bootstrap token), a 3-member etcd with peer TLS, and the guide's backup and restore.
"""

from __future__ import annotations

import configparser
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import sysconfig
from pathlib import Path

import aiohttp
import pytest

from agent.main import parse_args as agent_args
from controlplane.auth import bootstrap_token as bt
from controlplane.main import parse_args as controlplane_args

from ..cluster import Client, free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "deploy" / "install.sh"
UNITS = "etc/systemd/system"
CLUSTER3 = "n1=http://10.0.0.1:2380,n2=http://10.0.0.2:2380,n3=http://10.0.0.3:2380"
TOKEN = "abcdef.0123456789abcdef"
HASH = "sha256:" + "ab" * 32
JOIN = ("--token", TOKEN, "--ca-cert-hash", HASH)


def install(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(INSTALL), "--root", str(root), *args],
                          capture_output=True, text=True, timeout=60)


def installed(root: Path, *args: str) -> subprocess.CompletedProcess:
    done = install(root, *args)
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A real virtualenv with pyctl's console scripts, as install.sh makes in /opt/pyctl/venv.

    It is editable and sees the test environment's packages (a .pth line naming the site-packages
    of the interpreter running the tests), so it builds in seconds and offline, and its pip and
    build backend are the project's own, never the machine's base interpreter's."""
    path = tmp_path_factory.mktemp("pyctl") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    python = path / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "_pyctl_test_env.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "-e", str(REPO)], check=True, timeout=300)
    return path


def unit(root: Path, name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((root / UNITS / name).read_text().replace("\\\n", " "))
    return parser


def env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; systemd drops the double quotes around a value."""
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return {k: v[1:-1] if v[:1] == v[-1:] == '"' and len(v) > 1 else v
            for k, v in (ln.split("=", 1) for ln in lines)}


def exec_start(root: Path, name: str) -> list[str]:
    """The unit's ExecStart as the argv systemd would run, its EnvironmentFile read under root."""
    service = unit(root, name)["Service"]
    env = env_file(root / service["EnvironmentFile"].lstrip("-/"))
    argv: list[str] = []
    for word in shlex.split(service["ExecStart"]):
        if word.startswith("${") and word.endswith("}"):
            argv.append(env[word[2:-1]])
        elif word.startswith("$"):
            argv.extend(env[word[1:]].split())
        else:
            argv.append(word)
    return argv


def verify(root: Path, *names: str) -> None:
    """systemd's own check of the units where the machine has it (it needs the binaries)."""
    if shutil.which("systemd-analyze") is None:
        return
    for name in names:
        done = subprocess.run(["systemd-analyze", "verify", str(root / UNITS / name)],
                              capture_output=True, text=True, timeout=60)
        problems = [ln for ln in done.stderr.splitlines() if name in ln]
        assert done.returncode == 0 and not problems, done.stderr


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_server_writes_etcd_and_controlplane_units(tmp_path, venv):
    installed(tmp_path, "--role", "server", "--venv", str(venv), "--etcd-name", "cp1")
    assert files_under(tmp_path) == ["etc/pyctl/controlplane.env", "etc/pyctl/etcd.env",
                                     f"{UNITS}/pyctl-controlplane.service", f"{UNITS}/pyctl-etcd.service"]
    verify(tmp_path, "pyctl-etcd.service", "pyctl-controlplane.service")

    etcd = exec_start(tmp_path, "pyctl-etcd.service")
    assert etcd[0] == "/usr/bin/etcd"
    flags = dict(zip(etcd[1::2], etcd[2::2]))
    assert flags["--name"] == "cp1"
    assert flags["--initial-cluster"] == "cp1=http://127.0.0.1:2380"
    assert flags["--listen-client-urls"] == "http://127.0.0.1:2379"
    assert flags["--auto-compaction-retention"] == "1h"
    assert flags["--data-dir"] == "/var/lib/etcd/pyctl"
    assert unit(tmp_path, "pyctl-etcd.service")["Service"]["User"] == "etcd"

    cp = exec_start(tmp_path, "pyctl-controlplane.service")
    assert cp[0] == f"{venv}/bin/pyctl-controlplane"
    args = controlplane_args(cp[1:])
    assert args.etcd_servers == "http://127.0.0.1:2379"
    assert args.listen == "127.0.0.1:6443" and args.gateway_listen == "0.0.0.0:7443"
    # Secure by default: the cluster CA, RBAC, Secrets encrypted with a key install.sh makes once.
    assert args.pki_dir == "/var/lib/pyctl/pki" and args.authorization_mode == "RBAC"
    assert args.encryption_provider_config == "/etc/pyctl/encryption-config.yaml"
    done = installed(tmp_path, "--role", "server", "--venv", str(venv), "--etcd-name", "cp1")
    assert (f"would run: {venv}/bin/python {REPO}/deploy/server-credentials.py --pki-dir /var/lib/pyctl/pki"
            in done.stdout)
    assert "--admin-kubeconfig /etc/pyctl/admin.kubeconfig --server https://127.0.0.1:6443" in done.stdout
    assert f"{venv}/bin/pyctl --kubeconfig /etc/pyctl/admin.kubeconfig token create" in done.stdout
    # The default IngressClass, once the control plane is up.
    assert f"would run: {venv}/bin/python -m pyctl.addons --kubeconfig /etc/pyctl/admin.kubeconfig" in done.stdout
    cp_unit = unit(tmp_path, "pyctl-controlplane.service")
    assert "pyctl-etcd.service" in cp_unit["Unit"]["After"].split()
    assert cp_unit["Service"]["Restart"] == "always"
    assert cp_unit["Service"]["User"] == "pyctl"  # it needs no privileges


def test_member_of_three_member_etcd(tmp_path):
    installed(tmp_path, "--role", "server", "--etcd-name", "n2", "--etcd-initial-cluster", CLUSTER3)
    flags = exec_start(tmp_path, "pyctl-etcd.service")
    flags = dict(zip(flags[1::2], flags[2::2]))
    assert flags["--initial-cluster"] == CLUSTER3
    assert flags["--initial-advertise-peer-urls"] == "http://10.0.0.2:2380"
    assert flags["--listen-client-urls"] == "http://10.0.0.2:2379,http://127.0.0.1:2379"
    assert flags["--initial-cluster-state"] == "new"
    # The control plane may fail over to every member; its own host's member comes first.
    cp = controlplane_args(exec_start(tmp_path, "pyctl-controlplane.service")[1:])
    assert cp.etcd_servers == "http://10.0.0.2:2379,http://10.0.0.1:2379,http://10.0.0.3:2379"


def test_https_peers_get_peer_tls_flags(tmp_path):
    cluster = CLUSTER3.replace("http:", "https:")
    installed(tmp_path, "--role", "server", "--etcd-name", "n1", "--etcd-initial-cluster", cluster,
              "--etcd-pki", "/etc/pyctl/pki")
    etcd = exec_start(tmp_path, "pyctl-etcd.service")
    assert "--peer-client-cert-auth" in etcd
    assert etcd[etcd.index("--peer-cert-file") + 1] == "/etc/pyctl/pki/peer.crt"
    assert etcd[etcd.index("--listen-peer-urls") + 1] == "https://10.0.0.1:2380"


@pytest.mark.parametrize("name", ["n1", "n2", "n3"])
def test_etcd_examples_are_what_install_writes(tmp_path, name):
    """deploy/etcd/README.md promises its example files are install.sh's output for its commands."""
    installed(tmp_path, "--role", "server", "--etcd-name", name, "--etcd-initial-cluster",
              CLUSTER3.replace("http:", "https:"), "--etcd-pki", "/etc/pyctl/pki",
              "--etcd-cluster-token", "pyctl-prod")
    example = REPO / "deploy" / "etcd" / f"{name}.env"
    assert (tmp_path / "etc/pyctl/etcd.env").read_text() == example.read_text()


def test_agent_unit_keeps_containers_across_restarts(tmp_path, venv):
    installed(tmp_path, "--role", "agent", "--venv", str(venv), "--server", "10.0.0.1",
              "--node-name", "worker-1", *JOIN)
    assert files_under(tmp_path) == ["etc/pyctl/agent.env", f"{UNITS}/pyctl-agent.service"]
    verify(tmp_path, "pyctl-agent.service")
    agent = unit(tmp_path, "pyctl-agent.service")
    assert agent["Service"]["KillMode"] == "process"
    assert agent["Service"]["Restart"] == "always"
    assert "network-online.target" in agent["Unit"]["After"].split()
    assert "network-online.target" in agent["Unit"]["Wants"].split()
    assert agent["Install"]["WantedBy"] == "multi-user.target"

    argv = exec_start(tmp_path, "pyctl-agent.service")
    assert argv[0] == f"{venv}/bin/pyctl-agent"
    args = agent_args(argv[1:])
    assert (args.server, args.node_name, args.runtime) == ("10.0.0.1:7443", "worker-1", "runc")
    assert args.state_dir == "/var/lib/pyctl-agent"
    assert (args.token, args.ca_cert_hash, args.join_server) == (TOKEN, HASH, "10.0.0.1:7444")
    assert (tmp_path / "etc/pyctl/agent.env").stat().st_mode & 0o777 == 0o600  # it holds the token


def test_second_run_changes_nothing(tmp_path):
    args = ("--role", "agent", "--server", "10.0.0.1:7443", "--node-name", "w1", *JOIN)
    installed(tmp_path, *args)
    before = {p: (tmp_path / p).stat().st_mtime_ns for p in files_under(tmp_path)}
    again = installed(tmp_path, *args)
    assert {p: (tmp_path / p).stat().st_mtime_ns for p in files_under(tmp_path)} == before
    assert "wrote:" not in again.stdout
    assert "systemctl start --no-block pyctl-agent.service" in again.stdout  # not restart


def test_changed_option_rewrites_and_restarts(tmp_path):
    installed(tmp_path, "--role", "agent", "--server", "10.0.0.1:7443", "--node-name", "w1", *JOIN)
    again = installed(tmp_path, "--role", "agent", "--server", "10.0.0.9:7443", "--node-name", "w1", *JOIN)
    assert "wrote: /etc/pyctl/agent.env" in again.stdout
    assert "systemctl restart --no-block pyctl-agent.service" in again.stdout
    assert env_file(tmp_path / "etc/pyctl/agent.env")["SERVER"] == "10.0.0.9:7443"


def test_a_unit_changed_since_the_last_run_is_rewritten_and_restarted(tmp_path):
    args = ("--role", "server", "--etcd-name", "cp1")
    installed(tmp_path, *args)
    edited = tmp_path / UNITS / "pyctl-etcd.service"
    edited.write_text(edited.read_text().replace("Restart=always", "Restart=no"))
    again = installed(tmp_path, *args)
    assert "wrote: /etc/systemd/system/pyctl-etcd.service" in again.stdout
    assert "systemctl restart --no-block pyctl-etcd.service" in again.stdout
    assert "systemctl start --no-block pyctl-controlplane.service" in again.stdout
    assert unit(tmp_path, "pyctl-etcd.service")["Service"]["Restart"] == "always"


@pytest.mark.parametrize("args, message", [
    (["--role", "bogus"], "--role must be server or agent, got 'bogus'"),
    ([], "--role is required"),
    (["--role", "agent"], "--server HOST:PORT is required"),
    (["--role", "agent", "--server", "10.0.0.1:99999"], "--server must be HOST:PORT"),
    (["--role", "agent", "--server", "h:7443"], "--token is required for --role agent"),
    (["--role", "agent", "--server", "h:7443", "--token", "abc"], "--token: the token is malformed"),
    (["--role", "agent", "--server", "h:7443", "--token", TOKEN], "--ca-cert-hash sha256:HEX is required"),
    (["--role", "agent", "--server", "h:7443", *JOIN[:3], "md5:00"], "--ca-cert-hash must be sha256:"),
    (["--role", "agent", "--server", "h:7443", *JOIN, "--etcd-name", "n1"], "--etcd-name applies only to --role server"),
    (["--role", "agent", "--server", "h:7443", *JOIN, "--runtime", "docker"], "--runtime must be runc or hollow"),
    (["--role", "server", "--token", TOKEN], "--token applies only to --role agent"),
    (["--role", "server", "--pki-dir", "relative"], "--pki-dir must be an absolute path"),
    (["--role", "server", "--server", "h:7443"], "--server applies only to --role agent"),
    (["--role", "server", "--etcd-name", "n4", "--etcd-initial-cluster", CLUSTER3],
     "--etcd-name 'n4' is not a member of --etcd-initial-cluster"),
    (["--role", "server", "--etcd-name", "n1", "--etcd-initial-cluster", "n1=10.0.0.1:2380"],
     "entries must be NAME=http(s)://IP:PORT, got 'n1=10.0.0.1:2380'"),
    (["--role", "server", "--etcd-name", "n1", "--etcd-initial-cluster", CLUSTER3.replace("http:", "https:")],
     "https peer URLs in --etcd-initial-cluster need --etcd-pki"),
    (["--role", "server", "--components", "scheduler"], "--components must include apiserver"),
    (["--role", "server", "--external-etcd", "http://10.0.0.5:2379", "--etcd-name", "x"],
     "--etcd-name configures the local etcd member"),
    (["--role", "server", "--etcd-cluster-token", "a b"], "--etcd-cluster-token may hold"),
    (["--role", "server", "--source", "/etc/hostname"], "is neither a wheel (.whl) nor a pyctl checkout"),
    (["--role", "agent", "--server", "h:7443", *JOIN, "--extra-args", '--x "y"'], "--extra-args must be one line"),
    (["--role", "server", "--bogus", "1"], "unknown option '--bogus'"),
    (["--role", "server", "--etcd-name"], "--etcd-name needs a value"),
])
def test_bad_arguments_fail_and_write_nothing(tmp_path, args, message):
    done = install(tmp_path, *args)
    assert done.returncode != 0
    assert message in done.stderr
    assert done.stdout == ""
    assert files_under(tmp_path) == []


def test_help_shows_examples():
    done = subprocess.run(["bash", str(INSTALL), "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0
    assert "examples:" in done.stdout and "--role server --etcd-name n1" in done.stdout


def test_dry_run_prints_the_files_and_writes_nothing(tmp_path):
    done = subprocess.run(["bash", str(INSTALL), "--role", "agent", "--server", "10.0.0.1:7443", *JOIN, "--dry-run"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "--- /etc/pyctl/agent.env" in done.stdout and 'SERVER="10.0.0.1:7443"' in done.stdout
    assert "would run: systemctl enable --quiet pyctl-agent.service" in done.stdout
    assert list(tmp_path.iterdir()) == []


# -- the rendered commands, run ------------------------------------------------------------------

class Services:
    """Processes started from units' ExecStart lines, stopped in reverse order on exit."""

    def __init__(self, logs: Path) -> None:
        self.logs, self.procs = logs, []

    def start(self, root: Path, name: str) -> None:
        log = (self.logs / f"{root.name}-{name}.log").open("ab")
        # setpriv: the kernel kills the process if the test dies, as tests/cluster.py does for etcd.
        # etcd runs as root here; the unit's User=etcd only matters under systemd.
        self.procs.append(subprocess.Popen(["setpriv", "--pdeathsig", "KILL", "--", *exec_start(root, name)],
                                           stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))

    def stop(self) -> None:
        while self.procs:
            proc = self.procs.pop()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def __enter__(self) -> "Services":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


async def ready(client: Client, timeout: float = 90) -> None:
    async def answers() -> bool:
        try:
            return (await client.request("GET", "/readyz"))[0] == 200
        except aiohttp.ClientError:
            return False

    await wait_until(answers, timeout=timeout, interval=0.5)


def secrets_flags(where: Path) -> tuple[str, ...]:
    """The server's CA, encryption key and admin kubeconfig in `where` instead of /var/lib, /etc."""
    return ("--pki-dir", str(where / "pki"), "--encryption-config", str(where / "encryption-config.yaml"),
            "--admin-kubeconfig", str(where / "admin.kubeconfig"))


def make_credentials(done: subprocess.CompletedProcess) -> None:
    """Run the credentials command install.sh printed (under --root it only shows it), as a
    real install runs it before the first start."""
    line = next(ln for ln in done.stdout.splitlines() if "server-credentials.py" in ln)
    subprocess.run(shlex.split(line.split("would run: ", 1)[1]), check=True, capture_output=True, timeout=60)


async def admin_client(url: str, pki: Path) -> Client:
    """A Client that trusts the cluster CA and presents the admin certificate."""
    client = Client(url)
    await client.session.close()
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    client.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
    return client


def server_on_loopback(root: Path, venv: Path, data: Path, **ports: int) -> None:
    """install.sh --role server as a single member, every port a free loopback one, its
    credentials made in data's directory."""
    done = installed(root, "--role", "server", "--venv", str(venv), "--etcd-name", "t",
                     "--etcd-initial-cluster", f"t=http://127.0.0.1:{ports['peer']}",
                     "--etcd-client-port", str(ports["client"]), "--etcd-data-dir", str(data),
                     "--api-listen", f"127.0.0.1:{ports['api']}", "--gateway-listen",
                     f"127.0.0.1:{ports['gateway']}", *secrets_flags(data.parent),
                     "--extra-args", f"--gateway-join-listen 127.0.0.1:{ports['join']}")
    make_credentials(done)


needs_etcd = pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd is not installed (deploy/install-deps.sh)")


@needs_etcd
async def test_unit_commands_run_a_cluster(tmp_path, venv):
    """etcd, the control plane and a (hollow) agent, each started from its unit's ExecStart on
    loopback ports, make a secured cluster: the API answers only with a certificate, and the
    agent joins with a bootstrap token and the CA hash, then turns Ready."""
    ports = {k: free_port() for k in ("client", "peer", "api", "gateway", "join")}
    root = tmp_path / "root"
    server_on_loopback(root, venv, tmp_path / "etcd", **ports)
    pki = tmp_path / "pki"
    assert (tmp_path / "encryption-config.yaml").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "admin.kubeconfig").stat().st_mode & 0o777 == 0o600
    client = await admin_client(f"https://127.0.0.1:{ports['api']}", pki)
    try:
        with Services(tmp_path) as services:
            services.start(root, "pyctl-etcd.service")
            services.start(root, "pyctl-controlplane.service")
            await ready(client)
            anonymous = aiohttp.ClientSession(connector=aiohttp.TCPConnector(
                ssl=ssl.create_default_context(cafile=str(pki / "ca.crt"))))
            async with anonymous:
                async with anonymous.get(f"https://127.0.0.1:{ports['api']}/api/v1/nodes") as resp:
                    assert resp.status == 401
            token = bt.generate()
            status, _ = await client.request("POST", f"/api/v1/namespaces/{bt.NAMESPACE}/secrets",
                                             bt.secret_for(token, 600))
            assert status == 201
            installed(root, "--role", "agent", "--venv", str(venv), "--server", f"127.0.0.1:{ports['gateway']}",
                      "--node-name", "unit-node", "--runtime", "hollow", "--node-ip", "127.0.0.1",
                      "--state-dir", str(tmp_path / "agent"), "--agent-listen", f"127.0.0.1:{free_port()}",
                      "--token", token, "--ca-cert-hash", bt.ca_cert_hash((pki / "ca.crt").read_bytes()),
                      "--extra-args", f"--join-server 127.0.0.1:{ports['join']}")
            services.start(root, "pyctl-agent.service")

            async def node_ready() -> bool:
                status, node = await client.request("GET", "/api/v1/nodes/unit-node")
                conditions = node.get("status", {}).get("conditions", []) if status == 200 else []
                return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

            await wait_until(node_ready, timeout=90, interval=0.5)
            assert all(p.poll() is None for p in services.procs)
    finally:
        await client.close()


@needs_etcd
async def test_backup_and_restore_as_the_operations_guide_says(tmp_path, venv):
    """docs/operations.md: `etcdctl snapshot save`, then stop, move the data dir aside and
    `etcdctl snapshot restore` with the names from etcd.env: what was written before the
    snapshot is back, what came after is gone."""
    ports = {k: free_port() for k in ("client", "peer", "api", "gateway", "join")}
    root, snapshot = tmp_path / "root", tmp_path / "etcd-backup.db"
    server_on_loopback(root, venv, tmp_path / "etcd", **ports)
    client = await admin_client(f"https://127.0.0.1:{ports['api']}", tmp_path / "pki")

    async def namespace(name: str, method: str = "GET") -> int:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} if method == "POST" else None
        path = "/api/v1/namespaces" + ("" if method == "POST" else f"/{name}")
        return (await client.request(method, path, body))[0]

    try:
        with Services(tmp_path) as services:
            services.start(root, "pyctl-etcd.service")
            services.start(root, "pyctl-controlplane.service")
            await ready(client)
            assert await namespace("before-backup", "POST") == 201
            subprocess.run(["etcdctl", "--endpoints", f"http://127.0.0.1:{ports['client']}", "snapshot", "save",
                            str(snapshot)], check=True, capture_output=True, timeout=60)
            assert await namespace("after-backup", "POST") == 201
        restore = subprocess.run(["bash", "-euc", """
            . "$1"
            mv "$DATA_DIR" "$DATA_DIR.before-restore"
            etcdctl snapshot restore "$2" --name "$NAME" --initial-cluster "$INITIAL_CLUSTER" \
                --initial-advertise-peer-urls "$ADVERTISE_PEER_URLS" \
                --initial-cluster-token pyctl-restored-1 --data-dir "$DATA_DIR"
            """, "restore", str(root / "etc/pyctl/etcd.env"), str(snapshot)],
            capture_output=True, text=True, timeout=60)
        assert restore.returncode == 0, restore.stderr
        with Services(tmp_path) as services:
            services.start(root, "pyctl-etcd.service")
            services.start(root, "pyctl-controlplane.service")
            await ready(client)
            assert await namespace("before-backup") == 200
            assert await namespace("after-backup") == 404
    finally:
        await client.close()


@pytest.mark.skipif(shutil.which("etcd") is None or shutil.which("openssl") is None,
                    reason="needs etcd and openssl")
async def test_three_member_etcd_with_peer_tls(tmp_path, venv):
    """Three members rendered as on three hosts (here 127.0.0.1-3, one port pair for all) with
    certificates from deploy/etcd/make-peer-certs.sh form one cluster over TLS, and a control
    plane rendered for member n2 serves from it."""
    peer, etcd_port, api = free_port(), free_port(), free_port()
    ips = {"n1": "127.0.0.1", "n2": "127.0.0.2", "n3": "127.0.0.3"}
    pki = tmp_path / "pki"
    subprocess.run(["bash", str(REPO / "deploy/etcd/make-peer-certs.sh"), str(pki),
                    *(f"{n}={ip}" for n, ip in ips.items())], check=True, capture_output=True, timeout=60)
    cluster = ",".join(f"{n}=https://{ip}:{peer}" for n, ip in ips.items())
    done = {}
    for name in ips:
        done[name] = installed(tmp_path / name, "--role", "server", "--venv", str(venv), "--etcd-name", name,
                         "--etcd-initial-cluster", cluster, "--etcd-client-port", str(etcd_port),
                         "--etcd-pki", str(pki / name), "--etcd-data-dir", str(tmp_path / f"{name}-data"),
                         "--api-listen", f"127.0.0.1:{api}", "--gateway-listen", f"127.0.0.1:{free_port()}",
                         *secrets_flags(tmp_path / f"{name}-secrets"),
                         "--extra-args", f"--gateway-join-listen 127.0.0.1:{free_port()}")
    make_credentials(done["n2"])  # the control plane below is n2's
    client = await admin_client(f"https://127.0.0.1:{api}", tmp_path / "n2-secrets" / "pki")
    try:
        with Services(tmp_path) as services:
            for name in ips:
                services.start(tmp_path / name, "pyctl-etcd.service")
            services.start(tmp_path / "n2", "pyctl-controlplane.service")
            await ready(client)
            endpoints = ",".join(f"http://{ip}:{etcd_port}" for ip in ips.values())
            members = subprocess.run(["etcdctl", "--endpoints", endpoints, "member", "list"],
                                     capture_output=True, text=True, timeout=30, check=True).stdout
        started = sorted(ln.split(", ")[2] for ln in members.splitlines() if ", started, " in ln)
        assert started == ["n1", "n2", "n3"], members
        assert f"https://127.0.0.2:{peer}" in members
    finally:
        await client.close()
