"""The real processes a benchmark runs against: etcd, `pyctl-controlplane`, hollow agents.

Each runs as its own subprocess (so its RSS and CPU can be read and py-spy can attach), on
loopback ports, and dies with the benchmark (setpriv --pdeathsig) even if it is killed; the
control plane's own child (its scheduler, controllers and gateway) dies with it in turn.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass

import aiohttp

from tests.cluster import Etcd, free_port, wait_until

__all__ = ["Etcd", "Process", "start_controlplane", "start_hollow_nodes", "free_port", "stop_all", "wait_for"]


async def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    """tests.cluster.wait_until, failing with a TimeoutError that names `what`."""
    try:
        return await wait_until(predicate, timeout, interval)
    except AssertionError:
        raise TimeoutError(f"{what}: not within {timeout:.0f}s") from None


@dataclass
class Process:
    name: str
    proc: subprocess.Popen
    stop_signal: int = signal.SIGTERM

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 20) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def stop_all(*things) -> None:
    """Stop each of `things` (anything with a .stop(); None is skipped) in the order given."""
    for t in things:
        if t is not None:
            t.stop()


def spawn(name: str, *args: str, log: str | None = None) -> Process:
    out = open(log, "ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(["setpriv", "--pdeathsig", "KILL", "--", sys.executable, *args],
                            stdout=out, stderr=out if log else subprocess.DEVNULL,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return Process(name, proc)


async def start_controlplane(etcd: Etcd, components: str = "all", log: str | None = None, *,
                             port: int = 0, gateway: str = "", extra: tuple[str, ...] = ()
                             ) -> tuple[Process, str, str]:
    """`pyctl-controlplane` on free loopback ports (or those given: a restart that agents
    reconnect to), with `extra` flags; returns (process, API URL, gateway address)."""
    port, gw = port or free_port(), gateway or f"127.0.0.1:{free_port()}"
    p = spawn("controlplane", "-m", "controlplane", "--etcd-servers", etcd.url, *extra,
              "--listen", f"127.0.0.1:{port}", "--gateway-listen", gw, "--components", components,
              "--compaction-interval", "3600",
              # 500+ hollow nodes need more than the default /16's 256 podCIDRs (bookkeeping only:
              # hollow nodes report 127.0.0.1, so no route is ever programmed for them).
              "--cluster-cidr", "10.64.0.0/10", log=log)
    url = f"http://127.0.0.1:{port}"
    await wait_serving(p, url + "/api/v1/namespaces/default", "pyctl-controlplane", 60, log)
    return p, url, gw


async def wait_serving(p: Process, url: str, what: str, timeout: float, log: str | None = None) -> None:
    """Until GET `url` answers 200; if `p` exits first, fail at once with its log's last words."""
    async def up() -> bool:
        if p.proc.poll() is not None:
            tail = open(log, errors="replace").read()[-1500:] if log else ""
            raise RuntimeError(f"{what} exited with {p.proc.returncode}:\n{tail}")
        with contextlib.suppress(aiohttp.ClientError, OSError):
            async with aiohttp.ClientSession() as s, s.get(url) as r:
                return r.status == 200
        return False
    await wait_for(up, timeout, f"{what} to serve")


def start_hollow_nodes(gateway: str, count: int, prefix: str = "hollow", log: str | None = None) -> Process:
    """`count` hollow agents in one process (bench/hollow_nodes.py)."""
    return spawn("hollow-nodes", "-m", "bench.hollow_nodes", gateway, str(count), prefix, log=log)


def start_hollow_agent(gateway: str, name: str, log: str | None = None) -> Process:
    """One `pyctl-agent --runtime hollow`, as an operator would run it. Stopped with SIGINT: the
    agent leaves SIGTERM's default (pods and rules outlive it by design), and only an interrupt
    runs its cleanup, which removes the hollow runtime's log directory."""
    agent = spawn("agent", "-m", "agent", "--server", gateway, "--node-name", name, "--runtime", "hollow",
                  "--node-ip", "127.0.0.1", "--agent-listen", "127.0.0.1:0", log=log)
    agent.stop_signal = signal.SIGINT
    return agent
