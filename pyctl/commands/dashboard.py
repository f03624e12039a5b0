"""`pyctl dashboard`: serve the live web console on this machine (pyctl.dashboard)."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import sys

from ..errors import CommandError
from ..session import Session
from . import Command, register

EXAMPLES = """\
# Serve the dashboard on http://127.0.0.1:8001 and open it in a browser if there is one
pyctl dashboard

# Another port, with the credentials of another context
pyctl dashboard --port 9090 --context staging

# Listen on every address (anyone who can reach it and has the printed URL acts as you)
pyctl dashboard --address 0.0.0.0 --allow-remote --no-browser
"""

DESCRIPTION = """\
Serve a live web console for the cluster: nodes with their requested and allocatable
resources, workloads with their rollouts, pods (why a Pending pod waits, logs that follow),
services with their endpoints, and events; everything updates from watches.

The dashboard reaches the API server with your kubeconfig credentials, as `kubectl proxy`
does, so RBAC applies unchanged. Its changes (scale, rollout restart/undo, cordon, uncordon,
drain, delete a pod) ask for confirmation, and run the pyctl command they show. It listens on
loopback only unless --allow-remote, and the URL it prints carries a token for this run."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=8001, metavar="PORT",
                   help="the port to serve on (default 8001; 0 picks a free one)")
    p.add_argument("--address", default="127.0.0.1", metavar="IP",
                   help="the address to serve on (default 127.0.0.1)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow an --address that is not loopback")
    p.add_argument("--no-browser", action="store_true", help="only print the URL")


def _is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def _browser_available() -> bool:
    """A graphical session on a terminal, and not CI: otherwise printing the URL is enough."""
    if os.environ.get("CI") or not sys.stdout.isatty():
        return False
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform == "darwin"


def _global_argv(a: argparse.Namespace) -> list[str]:
    """The flags that make the actions' pyctl commands use this run's kubeconfig and context."""
    out: list[str] = []
    for flag, value in (("--kubeconfig", getattr(a, "kubeconfig", None)), ("--server", getattr(a, "server", None)),
                        ("--context", getattr(a, "context", None))):
        if value:
            out += [flag, value]
    return out


def run(s: Session, a: argparse.Namespace) -> int:
    if not 0 <= a.port <= 65535:
        raise CommandError(f"--port must be from 0 to 65535, not {a.port}")
    if not _is_loopback(a.address) and not a.allow_remote:
        raise CommandError(f"refusing to serve the dashboard on {a.address}: whoever reaches it acts with "
                           "your credentials. Use a loopback address (the default, 127.0.0.1), or add "
                           "--allow-remote if you mean it")
    if a.kubeconfig:
        a.kubeconfig = os.path.abspath(a.kubeconfig)
    try:
        return asyncio.run(_serve(s, a))
    except KeyboardInterrupt:
        return 0


async def _serve(s: Session, a: argparse.Namespace) -> int:
    from aiohttp import web

    from ..dashboard.actions import Runner
    from ..dashboard.server import LOOPBACK_HOSTS, Settings, build_app
    from ..dashboard.upstream import Upstream

    connection = s.connection  # reads the kubeconfig now: a broken one fails before we listen
    host = a.address if ":" not in a.address else f"[{a.address.strip('[]')}]"
    unspecified = a.address in ("0.0.0.0", "::", "[::]")
    settings = Settings(port=a.port, hosts=tuple(dict.fromkeys((*LOOPBACK_HOSTS, host))),
                        any_host=unspecified, context=getattr(a, "context", None) or s.config.current_context,
                        namespace=getattr(a, "namespace", None) or "")
    app = build_app(settings, Upstream(connection), Runner(_global_argv(a)))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, a.address.strip("[]"), a.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise CommandError(f"cannot serve on {a.address}:{a.port}: {exc.strerror or exc} "
                           "(choose another --port; 0 picks a free one)") from None
    port = runner.addresses[0][1]
    settings.port = port
    shown = "127.0.0.1" if unspecified else host
    url = f"http://{shown}:{port}/?token={settings.token}"
    s.print(f"Serving the pyctl dashboard for {connection.server} at:\n\n    {url}\n\n"
            "Anyone with this URL acts as you on the cluster. Press Ctrl-C to stop.")
    if not a.no_browser and _browser_available():
        import webbrowser
        webbrowser.open(url)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
    return 0


register(Command("dashboard", "Serve a live web console for the cluster", configure, run, EXAMPLES,
                 group="Other Commands", description=DESCRIPTION,
                 usage="pyctl dashboard [--port 8001] [--address 127.0.0.1] [--no-browser]"))
