"""The changes the dashboard may make, each done by the pyctl command a user would type.

Scale, rollout restart and undo, cordon, uncordon, drain and delete are already written,
tested and kubectl-compatible in `pyctl.commands`; the dashboard runs that very command
(`python -m pyctl ...`, a child process with the dashboard's own kubeconfig flags) and shows
the user the command line and what it printed. So a refused change shows the API server's own
message (`Error from server (Forbidden): ...`), and a new action is one more row below. A
child process (pyctl starts in about 0.3 s) keeps the page's streams flowing while a drain
waits, and can be ended at its time limit.

The page can ask only for the actions in `ACTIONS`, with parameters checked here: it never
hands over a command line, so no flag of its choosing can reach the parser.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import sys
from dataclasses import dataclass
from typing import Any, Callable

NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
"""A DNS subdomain: object and namespace names (and never something that looks like a flag)."""
RESOURCE = re.compile(r"^[a-z][a-z0-9]*(\.[a-z0-9][-a-z0-9]*)*$")
"""A resource, optionally with its group: `deployments`, `deployments.apps`."""

DRAIN_TIMEOUT = "5m"
REQUEST_TIMEOUT = "60s"
COMMAND_LIMIT = 120.0  # seconds a command may take before it is ended
DRAIN_LIMIT = 330.0  # drain's own --timeout, and a little more

Params = dict[str, Any]


class BadParams(ValueError):
    """The page sent an action or parameter this module does not accept."""


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise BadParams(f"{what}: {value!r} is not a valid name")
    return value


def _resource(value: Any) -> str:
    if not isinstance(value, str) or not RESOURCE.match(value):
        raise BadParams(f"resource: {value!r} is not a resource name")
    return value


def _count(value: Any, what: str, top: int = 1_000_000) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        raise BadParams(f"{what}: {value!r} is not a whole number from 0 to {top}")
    return value


def _object(p: Params) -> list[str]:
    return [f"{_resource(p.get('resource'))}/{_name(p.get('name'), 'name')}",
            "-n", _name(p.get("namespace"), "namespace")]


def _flags(p: Params, allowed: tuple[str, ...]) -> list[str]:
    chosen = p.get("flags") or []
    if not isinstance(chosen, list) or any(f not in allowed for f in chosen):
        raise BadParams(f"flags: choose among {', '.join(allowed)}")
    return [f for f in allowed if f in chosen]


@dataclass(frozen=True)
class Action:
    name: str
    argv: Callable[[Params], list[str]]
    """The pyctl command line for these parameters (raises BadParams)."""
    long_running: bool = False
    """Runs without the per-request timeout (drain waits for pods to go)."""


DRAIN_FLAGS = ("--ignore-daemonsets", "--delete-emptydir-data", "--force")

ACTIONS: dict[str, Action] = {a.name: a for a in (
    Action("scale", lambda p: ["scale", *_object(p), f"--replicas={_count(p.get('replicas'), 'replicas')}"]),
    Action("restart", lambda p: ["rollout", "restart", *_object(p)]),
    Action("undo", lambda p: ["rollout", "undo", *_object(p),
                              f"--to-revision={_count(p.get('revision', 0), 'revision')}"]),
    Action("cordon", lambda p: ["cordon", _name(p.get("name"), "name")]),
    Action("uncordon", lambda p: ["uncordon", _name(p.get("name"), "name")]),
    Action("drain", lambda p: ["drain", _name(p.get("name"), "name"), *_flags(p, DRAIN_FLAGS),
                               f"--timeout={DRAIN_TIMEOUT}"], long_running=True),
    Action("delete", lambda p: ["delete", *_object(p), "--wait=false"]),
)}


@dataclass(frozen=True)
class Outcome:
    command: str
    code: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        return {"command": self.command, "ok": self.code == 0, "code": self.code,
                "out": self.out, "err": self.err}


def shown(argv: list[str]) -> str:
    """The command line as the user would type it (without the dashboard's global flags)."""
    return "pyctl " + shlex.join(argv)


def command_line(name: str, params: Params) -> list[str]:
    action = ACTIONS.get(name)
    if action is None:
        raise BadParams(f"unknown action {name!r}; the dashboard knows {', '.join(ACTIONS)}")
    if not isinstance(params, dict):
        raise BadParams("the parameters must be a JSON object")
    return action.argv(params)


class Runner:
    """Runs actions as pyctl commands with the dashboard's own global flags."""

    def __init__(self, global_argv: list[str]) -> None:
        self.global_argv = global_argv

    async def run(self, name: str, params: Params) -> Outcome:
        argv = command_line(name, params)
        long_running = ACTIONS[name].long_running
        timeout = [] if long_running else ["--request-timeout", REQUEST_TIMEOUT]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pyctl", *argv, *self.global_argv, *timeout,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), DRAIN_LIMIT if long_running else COMMAND_LIMIT)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            proc.kill()
            await proc.wait()
            raise
        return Outcome(shown(argv), proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace"))
