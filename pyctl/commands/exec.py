"""`pyctl exec`: run a command in a container of a running pod, as `kubectl exec`.

The requests are kubectl's: GET the pod (or the workload, then its pods, picking one as
`pyctl logs` does; a completed pod is refused here), then GET
`.../pods/NAME/exec?command=...&container=...&stdin=&stdout=&stderr=&tty=` upgraded to a
WebSocket (remotecommand.py streams it). pyctl exits with the remote command's exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import urllib.parse

import aiohttp

from .. import remotecommand
from ..client import _ssl_context
from ..errors import CommandError, PyctlError, UsageError
from ..session import Session
from . import Command, register
from ._targets import from_arguments
from .logs import _container, _pod_of

EXAMPLES = """\
# Run date in pod web (its only container, or its default-container annotation's)
pyctl exec web -- date

# Pipe stdin to a command in container app
echo hello | pyctl exec -i web -c app -- cat

# An interactive shell with a terminal
pyctl exec -it web -- sh

# In one pod of a deployment
pyctl exec deployment/myapp -- env

# The exit code is the command's
pyctl exec web -- sh -c 'exit 3'; echo $?
"""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("pod", metavar="POD | TYPE/NAME")
    # default=() not []: argparse's intermixed re-parse (flags between POD and --) warns about [].
    p.add_argument("argv", nargs="*", default=(), metavar="COMMAND [args...]",
                   help="the command to run, after --")
    p.add_argument("-c", "--container", default="", help="the container (default: the only one, "
                                                         "or the pod's default-container annotation)")
    p.add_argument("-i", "--stdin", action="store_true", help="pass stdin to the command")
    p.add_argument("-t", "--tty", action="store_true", help="stdin is a terminal (with -i)")
    p.add_argument("-q", "--quiet", action="store_true", help="only print the command's output")


def _tty(s: Session, a: argparse.Namespace) -> bool:
    """kubectl's SetupTTY: a terminal only with -i, and only if stdin is one."""
    if not (a.tty and a.stdin):
        return False
    if not sys.stdin.isatty():
        if not a.quiet:
            s.error("Unable to use a TTY - input is not a terminal or the right kind of file")
        return False
    return True


def run(s: Session, a: argparse.Namespace) -> int:
    if not a.argv:
        raise UsageError("you must specify at least one command for the container", "exec")
    targets = from_arguments(s, [a.pod if "/" in a.pod else f"pods/{a.pod}"], "exec")
    pod = _pod_of(s, targets[0])
    md, phase = pod["metadata"], (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise CommandError(f"cannot exec into a container in a completed pod; current phase is {phase}")
    tty = _tty(s, a)
    query = [("command", c) for c in a.argv] + [
        ("container", _container(s, pod, a.container)), ("stdin", a.stdin), ("stdout", True),
        ("stderr", not tty), ("tty", tty)]
    client = s.client
    path = s.discovery.resolve("pods")[0].path(md.get("namespace"), md["name"], "exec")
    server = urllib.parse.urlsplit(client.server)
    url = urllib.parse.urlunsplit((server.scheme.replace("http", "ws"), server.netloc,
                                   client.url(path, query), "", ""))
    # The client's header and TLS helpers: the same credentials as every other request.
    headers = client._headers("*/*", None)
    ssl = _ssl_context(s.connection) if server.scheme == "https" else None
    try:
        status = asyncio.run(remotecommand.run(url, headers, ssl, remotecommand.local_streams(a.stdin, tty)))
    except remotecommand.HandshakeFailed:
        client.request("GET", path, query=query)  # not upgraded: this shows the server's Status
        raise CommandError("unable to upgrade connection: the server does not speak the "
                           "WebSocket exec protocol") from None
    except (aiohttp.ClientConnectionError, OSError) as exc:
        raise client._unreachable(exc) from None
    except KeyboardInterrupt:
        return 130
    code = remotecommand.exit_code(status)
    if code is None:  # kubectl prints a failure on the error channel as `error: <message>`
        raise PyctlError(str(status.get("message") or "the command failed without a message"))
    if code and not a.quiet:
        s.error(f"command terminated with exit code {code}")
    return code


register(Command("exec", "Execute a command in a container", configure, run, EXAMPLES,
                 group="Troubleshooting and Debugging Commands",
                 description="Execute a command in a container of a running pod. The command and "
                             "its arguments come after --; pyctl exits with the command's exit code.",
                 usage="pyctl exec [-i] [-t] [-c CONTAINER] (POD | TYPE/NAME) -- COMMAND [args...]"))
