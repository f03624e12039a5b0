"""`pyctl dashboard` in a real headless Chromium against a real cluster: etcd, the API server,
the scheduler and controllers, and three hollow agents over the real gateway. The dashboard runs as a user runs it (`python -m pyctl dashboard`, a subprocess
with its own kubeconfig); what the page changed is checked through the API.

Screenshots go to the test's tmp dir, or to $PYCTL_SCREENSHOTS when set (docs/dashboard/
holds a few taken that way).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
from pathlib import Path

import aiohttp
import pytest
import yaml
from selenium.webdriver.common.keys import Keys

from controlplane.controllers.manager import ManagerConfig
from controlplane.machinery.meta import parse_time

from ..browser import Browser, available
from ..cluster import stop_process, wait_until
from .secure_api import SecureApiServer, binding, call
from .test_cluster_flows import DEPLOY, NODES, PODS, deployment, hollow_cluster
from .test_pyctl import REPO, pyctl

EPOCH = dt.datetime.fromtimestamp(0, dt.timezone.utc)

pytestmark = pytest.mark.skipif(available() is not None, reason=available() or "")


class Dashboard:
    """`python -m pyctl dashboard --port 0` with a kubeconfig; `url` is what it printed."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""

    async def start(self, *extra: str) -> "Dashboard":
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pyctl", "--kubeconfig", str(self.kubeconfig), "dashboard", "--port", "0",
            "--no-browser", *extra, cwd=str(REPO), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        while not self.url:
            line = (await asyncio.wait_for(self.proc.stdout.readline(), 30)).decode()
            if not line:
                raise AssertionError(f"pyctl dashboard exited: {(await self.proc.stderr.read()).decode()}")
            if "?token=" in line:
                self.url = line.strip()
        return self

    @property
    def base(self) -> str:
        return self.url.split("/?", 1)[0]

    async def stop(self) -> None:
        if self.proc is not None:
            await stop_process(self.proc, grace=5)


def kubeconfig(path: Path, server: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": server}}],
        "users": [{"name": "test", "user": {}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test", "namespace": "default"}}]}))
    return path


@pytest.fixture
async def cluster(api, client):
    """Three hollow nodes with the default node grace period: a busy machine (a browser runs
    beside it) must not make a node look lost and its pods evicted."""
    async with hollow_cluster(api, client, ManagerConfig(leader_election=False)) as agents:
        yield agents


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return Path(os.environ["PYCTL_SCREENSHOTS"]) if os.environ.get("PYCTL_SCREENSHOTS") else tmp_path / "screens"


@pytest.fixture
async def dashboard(api, tmp_path: Path):
    d = await Dashboard(kubeconfig(tmp_path / "kubeconfig", api.url)).start()
    yield d
    await d.stop()


@pytest.fixture
async def browser(shots: Path):
    b = await Browser(shots).start()
    yield b
    await b.close()


async def open_page(browser: Browser, dashboard: Dashboard, page: str = "overview") -> None:
    # The printed URL trades its token for a cookie and redirects to "/", keeping the fragment.
    await browser.get(f"{dashboard.url}#/{page}")
    assert await browser.js("return location.pathname + location.search + location.hash") == f"/#/{page}"
    await browser.wait("return document.querySelector('#connection')?.textContent === 'Live'", what="Live")


async def test_overview_then_a_deployment_applied_with_pyctl_appears_live(cluster, api, dashboard, browser):
    await open_page(browser, dashboard)
    cards = await browser.wait("const c = [...document.querySelectorAll('#nodes article.card')];"
                               "return c.length === 3 && c.map(e => e.innerText)", what="3 node cards")
    for name, text in zip(NODES, cards):
        assert name in text and "Ready" in text and "CPU requested" in text and "Memory requested" in text
    assert "No node matches" not in await browser.text("#main")
    await browser.screenshot("overview-empty")

    r = await pyctl(api.url, "apply", "-f", str(REPO / "manifests" / "deployment.yaml"))
    assert r.code == 0, r.err
    # The overview's pod counts and node dots follow, with no reload.
    await browser.wait("return /3 Running/.test(document.querySelector('#summary')?.innerText)", what="3 Running")
    await browser.wait("return document.querySelectorAll('#nodes .dot.ok').length === 3", what="3 green pod dots")
    await browser.wait("return /0 rolling out/.test(document.querySelector('#summary')?.innerText)", what="rolled out")
    await browser.screenshot("overview")
    await browser.click("nav.pages a[data-page=pods]")
    await browser.type("#pod-filters input[name=selector]", "app=myapp")
    rows = await browser.wait("const r = [...document.querySelectorAll('#pods-table tbody tr')].map(e => e.innerText);"
                              "return r.length === 3 && r.every(t => t.includes('Running')) && r", what="3 Running pods")
    _, pods = await api_get(api, PODS + "?labelSelector=app%3Dmyapp")
    for pod in pods["items"]:
        assert any(pod["metadata"]["name"] in row and pod["spec"]["nodeName"] in row and pod["status"]["podIP"] in row
                   for row in rows), (pod["metadata"]["name"], rows)
    await browser.screenshot("pods")
    assert await browser.console_errors() == []


async def api_get(api, path: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as s, s.get(api.url + path) as r:
        return r.status, await r.json()


async def test_scale_from_the_workloads_page_changes_the_deployment(cluster, api, client, dashboard, browser):
    assert (await client.request("POST", DEPLOY, deployment(2)))[0] == 201
    await open_page(browser, dashboard, "workloads")
    await browser.wait("return /2\\/2/.test(document.querySelector('section[data-kind=Deployment] tbody')?.innerText)",
                       what="web 2/2 ready")
    await browser.click("button.act[data-act=scale][data-target='default/web']")
    await browser.wait("return document.querySelector('#action-dialog')?.open", what="the dialog")
    await browser.type("#action-dialog input[name=replicas]", "4")
    command = await browser.wait("const c = document.querySelector('#action-command')?.textContent;"
                                 "return c.includes('--replicas=4') && c", what="the command line")
    assert command == "pyctl scale deployments.apps/web -n default --replicas=4"
    await browser.screenshot("scale-dialog")
    await browser.click("#action-confirm")

    async def scaled():
        _, d = await client.request("GET", f"{DEPLOY}/web")
        return d["spec"]["replicas"] == 4
    await wait_until(scaled, timeout=20)
    await browser.wait("return !document.querySelector('#action-dialog')?.open", what="the dialog closed")
    assert "deployment.apps/web scaled" in await browser.text("#toast")
    await browser.wait("return /4\\/4/.test(document.querySelector('section[data-kind=Deployment] tbody')?.innerText)",
                       what="web 4/4 ready")
    await browser.screenshot("workloads")


async def test_a_pending_pod_says_why(cluster, client, dashboard, browser):
    huge = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "huge"},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                                     "resources": {"requests": {"memory": "900Gi"}}}]}}
    assert (await client.request("POST", PODS, huge))[0] == 201
    await open_page(browser, dashboard, "pods")
    row = await browser.wait("const r = [...document.querySelectorAll('#pods-table tbody tr')].find(r => r.innerText.includes('huge'));"
                             "return r && /Insufficient memory/.test(r.innerText) && r.innerText", what="the reason in the row")
    assert "Pending" in row and "0/3 nodes are available: 3 Insufficient memory." in row
    await browser.click("#pods-table a[href='#/pods/default/huge']")
    why = await browser.wait("const e = document.querySelector('#pending-message'); return e && e.innerText",
                             what="the Pending section")
    assert why == "0/3 nodes are available: 3 Insufficient memory."
    section = await browser.text("section.pending")
    assert "Unschedulable" in section and "The scheduler said so" in section  # its FailedScheduling event
    await browser.screenshot("pending")


async def test_a_pods_log_streams_and_follows(cluster, client, dashboard, browser):
    # A hollow container whose run ends after a few seconds: its exit line is written while
    # the page follows the log, so it can only arrive through the followed stream.
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "talker", "annotations": {"pyctl.io/hollow-run-seconds": "6"}},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    assert (await client.request("POST", PODS, pod))[0] == 201
    await open_page(browser, dashboard, "pods/default/talker")
    first = await browser.wait("const t = document.querySelector('#log')?.textContent || '';"
                               "return t.includes('container c is running') && t", what="the first lines")
    assert "[hollow] container c started (run 0, image busybox)" in first
    assert "exited" not in first
    assert await browser.text("#log-state") == "following…"
    text = await browser.wait("const t = document.querySelector('#log')?.textContent || '';"
                              "return t.includes('exited with code 0') && t", timeout=30, what="the exit line")
    assert text.splitlines()[-1] == "[hollow] container c exited with code 0"
    await browser.js("document.querySelector('#log-h').scrollIntoView()")
    await browser.screenshot("logs")


async def test_cordon_and_drain_from_a_node_card(cluster, client, dashboard, browser):
    assert (await client.request("POST", DEPLOY, deployment(3)))[0] == 201

    async def spread():
        _, pods = await client.request("GET", PODS)
        return {p["spec"].get("nodeName") for p in pods["items"]
                if p.get("status", {}).get("phase") == "Running"} == set(NODES)
    await wait_until(spread, timeout=30)
    await open_page(browser, dashboard)
    await browser.wait("return document.querySelectorAll('#nodes .dot.ok').length === 3", what="3 pods")
    await browser.click("button.act[data-act=cordon][data-target=node-a]")
    await browser.wait("return document.querySelector('#action-command')?.textContent === 'pyctl cordon node-a'",
                       what="the cordon command")
    await browser.click("#action-confirm")

    async def cordoned():
        _, node = await client.request("GET", "/api/v1/nodes/node-a")
        return node["spec"].get("unschedulable") is True
    await wait_until(cordoned, timeout=20)
    await browser.wait("return /Cordoned/.test(document.querySelector('#nodes [data-key=node-a]')?.innerText)",
                       what="node-a Cordoned")
    await browser.click("button.act[data-act=drain][data-target=node-a]")
    await browser.wait("return document.querySelector('#action-command')?.textContent.startsWith('pyctl drain node-a')",
                       what="the drain command")
    await browser.click("#action-dialog input[value='--ignore-daemonsets']")
    await browser.wait("return document.querySelector('#action-command')?.textContent === "
                       "'pyctl drain node-a --ignore-daemonsets --timeout=5m'", what="the flag in the command")
    await browser.click("#action-confirm")
    await browser.wait("return !document.querySelector('#action-dialog')?.open", timeout=60, what="drain done")
    assert "node/node-a drained" in await browser.text("#toast")

    async def moved():
        _, pods = await client.request("GET", PODS)
        live = [p for p in pods["items"] if not p["metadata"].get("deletionTimestamp")]
        return len(live) == 3 and all(p["spec"].get("nodeName") != "node-a" for p in live)
    await wait_until(moved, timeout=30)
    await browser.wait("return !document.querySelector('#nodes [data-key=node-a] .dot')", what="node-a empty")
    await browser.click("button.act[data-act=uncordon][data-target=node-a]")
    await browser.click("#action-confirm")
    await wait_until(lambda: _schedulable(client, "node-a"), timeout=20)


async def _schedulable(client, name: str) -> bool:
    _, node = await client.request("GET", f"/api/v1/nodes/{name}")
    return not node["spec"].get("unschedulable")


async def test_restart_and_undo_from_the_deployment_page(cluster, client, dashboard, browser):
    assert (await client.request("POST", DEPLOY, deployment(2, image="web:1")))[0] == 201
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "web:2"}]}}}}
    async def revision(n: int):
        _, d = await client.request("GET", f"{DEPLOY}/web")
        return d["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision") == str(n) and d
    await wait_until(lambda: revision(1), timeout=20)
    await client.request("PATCH", f"{DEPLOY}/web", data=json.dumps(patch),
                         headers={"Content-Type": "application/strategic-merge-patch+json"})
    await wait_until(lambda: revision(2), timeout=20)
    await open_page(browser, dashboard, "workloads/Deployment/default/web")
    history = await browser.wait("const t = document.querySelector('#hist-h'); const s = t && t.parentElement.innerText;"
                                 "return s && s.includes('2 (current)') && s.includes('web:1') && s", what="2 revisions")
    assert "Roll back to 1" in history
    await browser.click("button.act[data-act=undo][data-revision='1']")
    await browser.wait("return document.querySelector('#action-command')?.textContent === "
                       "'pyctl rollout undo deployments.apps/web -n default --to-revision=1'", what="the undo command")
    await browser.click("#action-confirm")

    async def rolled_back():
        _, d = await client.request("GET", f"{DEPLOY}/web")
        return d["spec"]["template"]["spec"]["containers"][0]["image"] == "web:1"
    await wait_until(rolled_back, timeout=20)
    await browser.wait("return /3 \\(current\\)/.test(document.querySelector('#hist-h')?.parentElement.innerText)",
                       what="revision 3 current")
    await browser.click("#detail .detail-actions button[data-act=restart]")
    await browser.wait("return document.querySelector('#action-command')?.textContent.includes('rollout restart')",
                       what="the restart command")
    await browser.click("#action-confirm")

    async def restarted():
        _, d = await client.request("GET", f"{DEPLOY}/web")
        return "kubectl.kubernetes.io/restartedAt" in (d["spec"]["template"]["metadata"].get("annotations") or {})
    await wait_until(restarted, timeout=20)
    await browser.screenshot("deployment")


async def test_services_with_their_endpoints_and_events_newest_first(cluster, client, dashboard, browser):
    assert (await client.request("POST", DEPLOY, deployment(2)))[0] == 201
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    assert (await client.request("POST", "/api/v1/namespaces/default/services", svc))[0] == 201
    await open_page(browser, dashboard, "services")
    row = await browser.wait("const r = [...document.querySelectorAll('#services-table tbody tr')].find(r => r.innerText.startsWith('web'));"
                             "return r && /2 ready/.test(r.innerText) && r.innerText", what="web with 2 ready endpoints")
    _, eps = await client.request("GET", "/api/v1/namespaces/default/endpoints/web")
    for address in eps["subsets"][0]["addresses"]:
        assert f"{address['ip']}:8080" in row
    assert "80/TCP" in row and "app=web" in row
    await browser.click("nav.pages a[data-page=events]")
    seen: list = []

    def when(e: dict) -> tuple:
        # Last occurrence as finely as the event says (eventTime keeps microseconds, lastTimestamp
        # seconds), then write order; one batch transaction gives several events one revision.
        # Milliseconds, exactly, as the page's Date.parse keeps them.
        last = max(parse_time(e.get(f)) or EPOCH for f in ("lastTimestamp", "eventTime"))
        return last.replace(microsecond=last.microsecond // 1000 * 1000), int(e["metadata"]["resourceVersion"])

    async def newest_first() -> bool:
        # The API's newest event heads the page's list (any of them, if several tie exactly).
        _, events = await client.request("GET", "/api/v1/namespaces/default/events")
        top = max(when(e) for e in events["items"])
        newest = {f"{e['reason']}\tpod/{e['involvedObject']['name']}\t{e['message']}"
                  for e in events["items"] if when(e) == top}
        rows = await browser.js("return [...document.querySelectorAll('#event-list tbody tr')].map(e => e.innerText)")
        seen[:] = [sorted(newest), rows[:3]]
        return len(rows) >= 4 and any(n in rows[0] for n in newest)
    try:
        await wait_until(newest_first, timeout=20, interval=0.3)
    except AssertionError:
        raise AssertionError(f"the newest event is not first: {seen}") from None


async def test_keyboard_only_and_a_narrow_window(cluster, client, dashboard, browser):
    assert (await client.request("POST", DEPLOY, deployment(1)))[0] == 201
    await browser.resize(400, 900)
    await open_page(browser, dashboard, "workloads")
    await browser.wait("return document.querySelector('section[data-kind=Deployment] tbody tr')", what="web")
    # Nothing is wider than the window but the tables, which scroll inside their own box.
    wide = await browser.js("return document.documentElement.scrollWidth")
    assert wide <= 400
    # Tab to the Scale button, Enter opens the dialog with focus in it, Escape closes it.
    for _ in range(40):
        await browser.keys(Keys.TAB)
        if await browser.js("return document.activeElement.dataset.act === 'scale'"):
            break
    else:
        raise AssertionError("Tab never reached the Scale button")
    await browser.keys(Keys.ENTER)
    assert await browser.wait("return document.querySelector('#action-dialog')?.open && document.activeElement.name",
                              what="focus in the dialog") == "replicas"
    await browser.screenshot("narrow-dialog")
    await browser.keys(Keys.ESCAPE)
    await browser.wait("return !document.querySelector('#action-dialog')?.open", what="the dialog closed")
    _, d = await client.request("GET", f"{DEPLOY}/web")
    assert d["spec"]["replicas"] == 1


# The workload kinds the dashboard knows, in its page order, with the group version it asks for.
WORKLOAD_KINDS = [("Deployment", "/apis/apps/v1", "deployments"), ("StatefulSet", "/apis/apps/v1", "statefulsets"),
                  ("DaemonSet", "/apis/apps/v1", "daemonsets"), ("Job", "/apis/batch/v1", "jobs"),
                  ("CronJob", "/apis/batch/v1", "cronjobs"),
                  ("HorizontalPodAutoscaler", "/apis/autoscaling/v2", "horizontalpodautoscalers")]


async def test_only_served_kinds_are_shown(cluster, api, dashboard, browser):
    # What the page shows follows the server's discovery: every served workload kind has its table.
    expected = []
    for kind, base, resource in WORKLOAD_KINDS:
        status, doc = await api_get(api, base)
        if status == 200 and any(r["name"] == resource for r in doc.get("resources", [])):
            expected.append(kind)
    assert "Deployment" in expected and len(expected) > 1, expected
    await open_page(browser, dashboard, "workloads")
    await browser.wait("return document.querySelector('section[data-kind=Deployment]')", what="Deployments")
    shown = await browser.js("return [...document.querySelectorAll('section[data-kind]')].map(s => s.dataset.kind)")
    assert shown == expected
    # A server that does not serve a group (an older one without batch/v1, or without
    # metrics.k8s.io): the page's own discovery, run in the browser against this dashboard with
    # those two answered 404 and left out of /apis, as such a server answers.
    served = await browser.js("""
        const { discover } = await import('/static/js/kinds.js');
        const { get, ApiError } = await import('/static/js/api.js');
        const gone = ['/apis/batch/v1', '/apis/metrics.k8s.io/v1beta1'];
        const older = async (path) => {
          if (gone.includes(path)) throw new ApiError({ kind: 'Status', code: 404, message: 'not found' });
          const doc = await get(path);
          if (path === '/apis') doc.groups = doc.groups.filter((g) => !['batch', 'metrics.k8s.io'].includes(g.name));
          return doc;
        };
        return [...(await discover(older)).keys()];""")
    assert "Job" not in served and "CronJob" not in served and "NodeMetrics" not in served, served
    assert "Deployment" in served and "Pod" in served and "HorizontalPodAutoscaler" in served, served
    assert await browser.console_errors() == []


async def test_the_page_recovers_when_the_browser_drops_its_requests(dashboard, browser):
    # As when the machine's network changes under the browser (ERR_NETWORK_CHANGED, seen here
    # while other tests made network namespaces): a module of the page fails to load.
    await browser.cdp("Network.enable", {})
    await browser.cdp("Network.setBlockedURLs", {"urls": ["*/static/js/views/pods.js"]})
    await browser.get(f"{dashboard.url}#/overview")
    await browser.wait("return +sessionStorage.getItem('pyctl-reloads') >= 1", what="a reload")
    await browser.cdp("Network.setBlockedURLs", {"urls": []})
    await browser.wait("return document.querySelector('#connection')?.textContent === 'Live'", what="Live")
    await browser.wait("return document.querySelector('section[aria-labelledby=nodes-h]')", what="the overview")


# -- a user the API refuses ------------------------------------------------------------------------

@pytest.fixture
async def viewer_dashboard(etcd, tmp_path: Path):
    """A secured API server (HTTPS, tokens, RBAC) and a dashboard as `viewer`, who may read
    everything (ClusterRole view) but change nothing (nor exec into pod `box`)."""
    server = await SecureApiServer(etcd, tmp_path).start()
    async with server.session("admin") as admin:
        path, obj = binding("viewer-view", "view", user="viewer", cluster=True)
        assert (await call(admin, "POST", path, obj))[0] == 201
        assert (await call(admin, "POST", DEPLOY, deployment(1)))[0] == 201
        box = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "box", "annotations": {"kubectl.kubernetes.io/default-container": "side"}},
               "spec": {"nodeName": "node-a", "initContainers": [{"name": "init", "image": "busybox"}],
                        "containers": [{"name": "c", "image": "busybox"}, {"name": "side", "image": "busybox"}]}}
        assert (await call(admin, "POST", PODS, box))[0] == 201
    d = await Dashboard(server.kubeconfig("viewer", tmp_path / "viewer.kubeconfig")).start()
    yield d
    await d.stop()
    await server.stop()


async def test_a_refused_action_shows_the_api_servers_message(viewer_dashboard, browser):
    await open_page(browser, viewer_dashboard, "workloads")
    await browser.wait("return document.querySelector('button.act[data-act=scale]')", what="the Scale button")
    await browser.click("button.act[data-act=scale][data-target='default/web']")
    await browser.type("#action-dialog input[name=replicas]", "3")
    await browser.wait("return document.querySelector('#action-command')?.textContent.includes('--replicas=3')",
                       what="the command line")
    await browser.click("#action-confirm")
    refusal = await browser.wait("const e = document.querySelector('#action-outcome .error-text'); return e && e.innerText",
                                 what="the refusal")
    assert refusal.startswith("Error from server (Forbidden): ")
    assert 'User "viewer" cannot patch resource "deployments/scale" in API group "apps"' in refusal
    await browser.screenshot("forbidden")


# -- who may use the dashboard (no browser needed) -----------------------------------------------

async def test_the_dashboard_guards_the_users_credentials(api, client, dashboard):
    assert (await client.request("POST", DEPLOY, deployment(1)))[0] == 201
    token = dashboard.url.split("token=", 1)[1]
    # unsafe: keep cookies of an IP-address host (127.0.0.1), as a browser does.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        # Without the token's cookie: nothing of the cluster.
        async with s.get(dashboard.base + "/api/v1/pods") as r:
            assert r.status == 401 and "printed" in (await r.json())["message"]
        async with s.get(f"{dashboard.base}/?token=wrong", allow_redirects=False) as r:
            assert r.status == 401
        async with s.get(dashboard.url, allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == "/"
            cookie = r.cookies[next(iter(r.cookies))]
            assert cookie.value == token and cookie["httponly"] and cookie["samesite"] == "Strict"
        async with s.get(dashboard.base + "/apis/apps/v1/namespaces/default/deployments/web") as r:
            assert r.status == 200 and (await r.json())["spec"]["replicas"] == 1
        # A page on another host name (DNS rebinding) is refused, even with the cookie.
        async with s.get(dashboard.base + "/api/v1/pods", headers={"Host": "evil.example:80"}) as r:
            assert r.status == 403
        # The proxy only reads; changes come from this page's own origin, as known actions.
        origin = dashboard.base
        async with s.delete(dashboard.base + "/apis/apps/v1/namespaces/default/deployments/web",
                            headers={"Origin": origin}) as r:
            assert r.status == 405
        body = {"resource": "deployments", "namespace": "default", "name": "web", "replicas": 2}
        async with s.post(dashboard.base + "/dashboard/actions/scale", json=body,
                          headers={"Origin": "http://evil.example"}) as r:
            assert r.status == 403
        async with s.post(dashboard.base + "/dashboard/actions/scale", json={**body, "name": "--all"},
                          headers={"Origin": origin}) as r:
            assert r.status == 400 and "not a valid name" in (await r.json())["message"]
        async with s.post(dashboard.base + "/dashboard/actions/apply", json=body, headers={"Origin": origin}) as r:
            assert r.status == 400 and "unknown action" in (await r.json())["message"]
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await s.ws_connect(dashboard.base.replace("http", "ws") + "/dashboard/streams",
                               headers={"Origin": "http://evil.example"})
        async with s.post(dashboard.base + "/dashboard/actions/scale", json=body, headers={"Origin": origin}) as r:
            out = await r.json()
            assert r.status == 200 and out["ok"] and out["out"] == "deployment.apps/web scaled\n"
    _, d = await client.request("GET", f"{DEPLOY}/web")
    assert d["spec"]["replicas"] == 2


async def test_dashboard_refuses_a_non_loopback_address(api, tmp_path: Path):
    r = await pyctl(None, "--kubeconfig", str(kubeconfig(tmp_path / "k", api.url)), "dashboard",
                    "--address", "0.0.0.0", "--port", "0", "--no-browser", timeout=30)
    assert r.code == 1
    assert r.err.startswith("error: refusing to serve the dashboard on 0.0.0.0: whoever reaches it acts with "
                            "your credentials.")


async def test_exec_without_pods_exec_permission_shows_the_api_servers_message(viewer_dashboard, browser):
    # RBAC is checked before anything else of the exec request: the pod's node need not exist.
    # (Commands that run are tested against a real runtime: tests/e2e/test_dashboard_exec.py.)
    await open_page(browser, viewer_dashboard, "pods/default/box")
    # Every container may be chosen; the one chosen first is pyctl exec's (the annotation's).
    options = await browser.wait("return [...document.querySelectorAll('#exec-container option')].map(o => o.value)",
                                 what="the containers")
    assert options == ["init", "c", "side"]
    assert await browser.js("return document.querySelector('#exec-container').value") == "side"
    await browser.click("#exec-run")
    refusal = await browser.wait("const s = document.querySelector('#exec-state');"
                                 "return s?.getAttribute('role') === 'alert' && s.textContent", what="the refusal")
    assert refusal == ('pods "box" is forbidden: User "viewer" cannot create resource "pods/exec" in API group "" '
                       'in the namespace "default"'), refusal
    assert await browser.js("return document.querySelector('#exec-input').disabled") is True
    await browser.screenshot("exec-forbidden")


async def test_exec_requests_on_the_streams_socket(cluster, client, dashboard):
    # The exec protocol of the page's WebSocket, without a browser: what it refuses itself, and
    # what the API server answers (a hollow node runs nothing, so it refuses every exec).
    sim = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sim"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    assert (await client.request("POST", PODS, sim))[0] == 201

    async def running():
        _, pod = await client.request("GET", f"{PODS}/sim")
        return any("running" in (c.get("state") or {}) for c in pod.get("status", {}).get("containerStatuses") or [])
    await wait_until(running, timeout=20)
    ask = {"op": "exec", "namespace": "default", "pod": "sim", "container": "c", "command": ["ls", "/"]}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.get(dashboard.url, allow_redirects=False) as r:
            assert r.status == 302  # and the cookie
        async with s.ws_connect(dashboard.base.replace("http", "ws") + "/dashboard/streams",
                                headers={"Origin": dashboard.base}) as ws:
            for sid, change in enumerate(({"pod": "--all"}, {"command": "ls /"}, {"command": []},
                                          {"container": "other"}, {}), 1):
                await ws.send_json({**ask, "id": sid, **change})
            ends = {}
            while len(ends) < 5:
                msg = await asyncio.wait_for(ws.receive_json(), 30)
                assert msg.get("end"), msg  # nothing ran: no output
                ends[msg["id"]] = msg
    assert (ends[1]["code"], ends[1]["status"]["message"]) == (400, "pod: '--all' is not a valid name")
    for sid in (2, 3):
        assert ends[sid]["code"] == 400 and ends[sid]["status"]["message"].startswith("command: a list of 1 to 64")
    # The API server's own answers: its Status before the upgrade, then one on the error channel.
    assert (ends[4]["code"], ends[4]["status"]["message"]) == (400, "container other is not valid for pod sim")
    assert ends[5]["code"] == 200 and ends[5]["exitCode"] is None
    assert ends[5]["status"]["reason"] == "BadRequest"
    assert "containers are simulated and nothing runs, so there is nothing to exec into" in ends[5]["status"]["message"]


async def test_the_consoles_text_handling(dashboard, browser):
    # execconsole.js's pure parts, run in the page: escape sequences and command lines.
    await open_page(browser, dashboard)
    got = await browser.js("""
        const { stripAnsi, splitCommand } = await import('/static/js/execconsole.js');
        const split = (line) => { try { return splitCommand(line); } catch (e) { return e.message; } };
        return {
          colour: stripAnsi('\\x1b[1;31mred\\x1b[0m and \\x1b]0;title\\x07plain\\r\\n'),
          cut: stripAnsi('text \\x1b[3'), bell: stripAnsi('a\\x07b\\x1b=\\x1b(Bc\\x1b('),
          words: split(`sh -c 'echo "a  b"; exit 3'`), escaped: split('echo a\\\\ b "q\\\\"x" \\'\\''),
          unclosed: split('echo "open'),
        };""")
    assert got == {"colour": ["red and plain\n", ""], "cut": ["text ", "\x1b[3"], "bell": ["abc", "\x1b("],
                   "words": ["sh", "-c", 'echo "a  b"; exit 3'], "escaped": ["echo", "a b", 'q"x', ""],
                   "unclosed": 'unclosed " in the command'}
