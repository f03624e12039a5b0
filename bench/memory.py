"""Memory and idle CPU: the control plane's RSS with many nodes and pods (read at the end of
the scheduler benchmark, when it ran), and one `pyctl-agent --runtime hollow` process's RSS
and CPU share with 0 and with 30 pods, each over a bounded idle window."""

from __future__ import annotations

import asyncio
import os

import aiohttp

from .cluster import Etcd, start_controlplane, start_hollow_agent, stop_all, wait_for
from .podwatch import PodWatch
from .procstat import cpu_share, family_rss_mib, rss_mib
from .report import Section, Table
from .scheduler import DEPLOY, deployment, ready_nodes

AGENT_PODS = 30


async def run(quick: bool, workdir: str, facts: dict) -> Section:
    window = 3.0 if quick else 15.0
    etcd = Etcd().start()
    cp = agent = watch = None
    rows = []
    try:
        cp, url, gw = await start_controlplane(etcd, log=os.path.join(workdir, "memory-controlplane.log"))
        agent = start_hollow_agent(gw, "mem-agent", log=os.path.join(workdir, "memory-agent.log"))
        async with aiohttp.ClientSession() as s:
            await wait_for(lambda: ready_nodes(s, url), 60, "the agent's node Ready", 0.2)
            await asyncio.sleep(1.0)  # registration work done: what follows is idle
            cpu0 = await asyncio.to_thread(cpu_share, agent.pid, window)
            idle_rss = rss_mib(agent.pid)
            rows.append([0, f"{idle_rss:.1f}", f"{cpu0:.2%}"])
            watch = await PodWatch(url).start(s)
            async with s.post(url + DEPLOY, json=deployment("mem", AGENT_PODS)) as r:
                assert r.status == 201, await r.text()
            if not await watch.wait_count("running", AGENT_PODS, 120):
                raise TimeoutError(f"{AGENT_PODS} hollow pods not Running within 120s")
            await asyncio.sleep(1.0)
            cpu30 = await asyncio.to_thread(cpu_share, agent.pid, window)
            rows.append([AGENT_PODS, f"{rss_mib(agent.pid):.1f}", f"{cpu30:.2%}"])
            small_cp = family_rss_mib(cp.pid)
    finally:
        stop_all(watch, agent, cp, etcd)
    agent_table = Table(f"One agent process: `pyctl-agent --runtime hollow` (idle window {window:.0f} s), and the real "
                        "runc agent when the podstart benchmark ran (its containers run under conmon, not in it)",
                        ["pods", "RSS MiB", "CPU (share of one core)"], rows)
    if "podstart.agent_rss1" in facts:
        f = {k.removeprefix("podstart.agent_"): v for k, v in facts.items() if k.startswith("podstart.agent_")}
        agent_table.rows += [[f"{pods} (real runc agent, podstart run, {f['window']:.0f} s window)", f"{rss:.1f}", f"{cpu:.2%}"]
                             for pods, rss, cpu in ((0, f["rss0"], f["cpu0"]), (int(f["pods"]), f["rss1"], f["cpu1"]))]
    cp_table = Table("Control plane (`pyctl-controlplane`: the API server process plus its child running the "
                     "scheduler, controllers and gateway, RSS summed)", ["state", "RSS MiB"])
    if "scheduler.controlplane_rss_loaded" in facts:
        n, pods = facts["scheduler.nodes"], facts["scheduler.pods"]
        cp_table.rows += [[f"{n} hollow nodes, no pods", f"{facts['scheduler.controlplane_rss_idle']:.1f}"],
                          [f"{n} hollow nodes, {pods} pods Running", f"{facts['scheduler.controlplane_rss_loaded']:.1f}"],
                          [f"(the {n} hollow agents' own process, for scale)", f"{facts['scheduler.hollow_rss']:.1f}"]]
    cp_table.rows.append([f"1 hollow node, {AGENT_PODS} pods (this benchmark)", f"{small_cp:.1f}"])
    sec = Section("memory", "Memory and idle CPU",
                  "RSS is VmRSS from /proc/PID/status; CPU is utime+stime from /proc/PID/stat over the "
                  "window, as a share of one core. The hollow agent runs every real agent loop (session, "
                  "heartbeats, pod workers, status reports); only the container runtime is simulated.",
                  [cp_table, agent_table])
    sec.facts = {"agent_rss_idle": idle_rss}
    return sec
