"""The dashboard on a big cluster: 500 hollow nodes and 5,000 pods (quick: 20 and 200), the
whole control plane (`pyctl-controlplane`) on a real etcd, `pyctl dashboard` as a user runs
it, and a real headless Chromium (Debian's, through selenium) showing it.

Measured, each beside a baseline taken in the same run:
* first full overview (every node card, every pod counted) after opening the page, against
  a plain LIST of the nodes and pods over HTTP by this process (what any client must pay);
* a change reaching the page: a Deployment scaled up, until the page counts its pods Running,
  against this process's own pod watch seeing them Running;
* staying responsive while pods churn (a Deployment scaled to 0 and back): how late the
  page's timers fire (main-thread lag), its long tasks, and its render times;
* the pods page: 5,000 pods filtered by a label selector, time until the table shows them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from .cluster import Etcd, start_controlplane, start_hollow_nodes, stop_all, wait_for
from .podwatch import PodWatch
from .report import Section, Table
from .scheduler import DEPLOY, deployment, ready_nodes
from .stats import percentile

PROBE = """
window.__lag = []; window.__long = [];
(function tick() { const t = performance.now();
  setTimeout(() => { window.__lag.push(performance.now() - t - 50); if (window.__lag.length < 100000) tick(); }, 50); })();
try { new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push(e.duration); })
  .observe({ entryTypes: ["longtask"] }); } catch (e) {}
"""


def plan(quick: bool) -> tuple[int, int, int]:
    """(nodes, deployments, replicas each)."""
    return (20, 4, 50) if quick else (500, 10, 500)


class DashboardProcess:
    def __init__(self, server: str, log: str) -> None:
        self.config = tempfile.mktemp(prefix="pyctl-bench-config-")
        env = {**os.environ, "PYCTL_CONFIG": self.config}
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.log = open(log, "ab")
        self.proc = subprocess.Popen(
            ["setpriv", "--pdeathsig", "KILL", "--", sys.executable, "-m", "pyctl", "--server", server,
             "dashboard", "--port", "0", "--no-browser"], cwd=root, env=env, stdout=subprocess.PIPE, stderr=self.log)
        self.url = ""

    async def ready(self) -> str:
        while not self.url:
            line = (await asyncio.to_thread(self.proc.stdout.readline)).decode()
            if not line:
                raise RuntimeError("pyctl dashboard exited before printing its URL")
            if "?token=" in line:
                self.url = line.strip()
        return self.url

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if os.path.exists(self.config):
            os.unlink(self.config)


async def _timed(browser, script: str, timeout: float, what: str) -> float:
    t0 = time.perf_counter()
    await browser.wait(script, timeout=timeout, what=what)
    return time.perf_counter() - t0


async def _raw_list(s: aiohttp.ClientSession, url: str) -> float:
    t0 = time.perf_counter()
    for path in ("/api/v1/nodes", "/api/v1/pods"):
        async with s.get(url + path) as r:
            await r.json()
    return time.perf_counter() - t0


async def _scale(s: aiohttp.ClientSession, url: str, name: str, replicas: int) -> None:
    async with s.patch(f"{url}{DEPLOY}/{name}/scale", json={"spec": {"replicas": replicas}},
                       headers={"Content-Type": "application/merge-patch+json"}) as r:
        if r.status != 200:
            raise RuntimeError(f"scale {name}: {r.status} {await r.text()}")


def _running_on_page(n: int) -> str:
    """A script true once the overview's Pods summary reads "... N Running ..."."""
    return f"return /\\b{n} Running/.test([...document.querySelectorAll('#summary dd')][1]?.innerText || '')"


async def run(quick: bool, workdir: str, facts: dict) -> Section:
    from tests.browser import Browser, available

    nodes_n, deployments, replicas = plan(quick)
    total = deployments * replicas
    missing = available()
    if missing:
        return Section("dashboard", "Dashboard on hollow nodes", f"Skipped: {missing}.")
    etcd = Etcd().start()
    cp = nodes = dash = watch = browser = None
    r: dict = {}
    try:
        cp, url, gw = await start_controlplane(etcd, log=os.path.join(workdir, "dashboard-controlplane.log"))
        nodes = start_hollow_nodes(gw, nodes_n, log=os.path.join(workdir, "dashboard-hollow.log"))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
            await wait_for(lambda: _enough(s, url, nodes_n), 300, f"{nodes_n} hollow nodes Ready", 1.0)
            watch = await PodWatch(url).start(s)
            for i in range(deployments):
                async with s.post(url + DEPLOY, json=deployment(f"dash-{i}", replicas)) as resp:
                    if resp.status != 201:
                        raise RuntimeError(f"create deployment: {resp.status} {await resp.text()}")
            if not await watch.wait_count("running", total, 600):
                raise TimeoutError(f"{total} pods not Running within 600 s")
            r["raw_list"] = sorted([await _raw_list(s, url) for _ in range(3)])[1]
            dash = DashboardProcess(url, os.path.join(workdir, "dashboard.log"))
            page = await dash.ready()
            browser = await Browser(Path(workdir) / "dashboard-shots").start()
            await browser.get(page)
            base = page.split("/?", 1)[0]
            # 1. The first full overview: every card drawn and every pod counted.
            t0 = time.perf_counter()
            await browser.get(f"{base}/#/overview")
            await browser.wait(f"return document.querySelectorAll('#nodes article.card').length === {nodes_n}",
                               timeout=300, what=f"{nodes_n} node cards")
            await browser.wait(_running_on_page(total), timeout=300, what=f"{total} Running")
            r["first_overview"] = time.perf_counter() - t0
            await browser.js(PROBE)
            await asyncio.sleep(3.0)
            r["idle_lag"] = await browser.js("return window.__lag.splice(0)")
            # 2. A change reaching the page: scale one deployment up by a tenth.
            step = max(10, replicas // 10)
            await _scale(s, url, "dash-0", replicas + step)
            t1 = time.perf_counter()
            ui = asyncio.create_task(_timed(browser, _running_on_page(total + step), 300, "the scaled pods"))
            await watch.wait_count("running", total + step, 300)
            r["watch_update"] = time.perf_counter() - t1
            r["ui_update"] = await ui
            # 3. Churn: one deployment to 0 and back, while the page's timers are watched.
            await browser.js("window.__lag.splice(0); window.__long.splice(0); "
                             "Object.assign(window.__dashboard.scheduler.stats, {renders: 0, totalMs: 0, maxMs: 0});")
            events0 = watch.events
            t2 = time.perf_counter()
            await _scale(s, url, "dash-1", 0)
            await browser.wait(_running_on_page(total + step - replicas), timeout=300, what="scaled down")
            await _scale(s, url, "dash-1", replicas)
            await browser.wait(_running_on_page(total + step), timeout=300, what="scaled back up")
            r["churn_s"] = time.perf_counter() - t2
            r["churn_events"] = watch.events - events0
            r["lag"] = await browser.js("return window.__lag.splice(0)")
            r["long"] = await browser.js("return window.__long.splice(0)")
            r["renders"] = await browser.js("return window.__dashboard.scheduler.stats")
            r["heap_mib"] = await browser.js("return performance.memory ? performance.memory.usedJSHeapSize / 1048576 : 0")
            await browser.screenshot("overview-big")
            # 4. The pods page: one deployment's pods out of all of them.
            t3 = time.perf_counter()
            await browser.get(f"{base}/#/pods?selector=app%3Ddash-2")
            await browser.wait(f"return /^{replicas} pods/.test(document.querySelector('#pod-count')?.textContent || '')",
                               timeout=300, what="the filtered pods")
            r["pods_page"] = time.perf_counter() - t3
            r["dash_rss"] = _rss_mib(dash.pid)
    finally:
        if browser is not None:
            await browser.close()
        stop_all(watch, dash, nodes, cp, etcd)
    return section(nodes_n, deployments, replicas, r)


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def _enough(s: aiohttp.ClientSession, url: str, n: int) -> bool:
    return await ready_nodes(s, url) >= n


def section(nodes_n: int, deployments: int, replicas: int, r: dict) -> Section:
    total = deployments * replicas
    lag, idle = r["lag"] or [0.0], r["idle_lag"] or [0.0]
    renders = r["renders"]
    mean_render = renders["totalMs"] / renders["renders"] if renders["renders"] else 0.0
    table = Table(f"{nodes_n} hollow nodes, {total} pods ({deployments} Deployments × {replicas}), one headless "
                  "Chromium on the same 2 cores", ["measure", "dashboard", "baseline", "ratio"], [
        ["first full overview after opening the page, s (baseline: this process LISTs nodes and pods)",
         f"{r['first_overview']:.2f}", f"{r['raw_list']:.2f}", f"{r['first_overview'] / r['raw_list']:.1f}×"],
        ["a Deployment scaled up: until the page counts the new pods Running, s (baseline: this process's watch)",
         f"{r['ui_update']:.2f}", f"{r['watch_update']:.2f}", f"{r['ui_update'] / max(r['watch_update'], 1e-3):.2f}×"],
        ["page timer lateness p50 ms (dashboard: during churn; baseline: the same page idle)",
         f"{percentile(lag, 50):.1f}", f"{percentile(idle, 50):.1f}", "—"],
        ["page timer lateness p99 ms (during churn; idle)", f"{percentile(lag, 99):.1f}",
         f"{percentile(idle, 99):.1f}", "—"],
        ["page timer lateness max ms (during churn; idle)", f"{max(lag):.1f}", f"{max(idle):.1f}", "—"],
    ])
    churn = Table(f"During churn: one Deployment scaled {replicas} → 0 → {replicas} ({r['churn_events']} pod watch "
                  f"events in {r['churn_s']:.1f} s)", ["measure", "value"], [
        ["renders (coalesced: at most one per frame, 150 ms apart or 4× the last render's time if longer)", str(renders["renders"])],
        ["render time mean / max, ms", f"{mean_render:.1f} / {renders['maxMs']:.1f}"],
        ["long tasks (> 50 ms) on the page's main thread, count / longest ms",
         f"{len(r['long'])} / {max(r['long'] or [0.0]):.0f}"],
        ["pods page: label-filtered table of one Deployment out of all pods, s", f"{r['pods_page']:.2f}"],
        ["page JS heap, MiB", f"{r['heap_mib']:.0f}"],
        ["`pyctl dashboard` process RSS, MiB", f"{r['dash_rss']:.0f}"],
    ])
    sec = Section("dashboard", "Dashboard on hollow nodes",
                  "`pyctl dashboard` relays one WatchList stream per kind to the page over one WebSocket; the "
                  "page keeps the objects and redraws only the cards and rows whose text changed. "
                  "\"Timer lateness\" is how late a 50 ms `setTimeout` fires on the page: what a click or a "
                  "key press would wait for. The baseline columns are measured in the same run.",
                  [table, churn])
    sec.facts = {"first_overview": r["first_overview"], "ui_update": r["ui_update"]}
    return sec
