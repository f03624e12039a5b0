"""The command registry: every module in this package registers its verbs here.

A command is a name, a one-line summary, examples, a function that adds its flags and a
function that runs it. `pyctl.cli` imports every module of this package, so adding a
command (rollout, logs, exec, cordon, drain, cluster ...) is adding one module that calls
`register(Command(...))`; nothing else changes.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from ..session import Session

# Sections of `pyctl --help`, in order (kubectl's own grouping).
GROUPS = ("Basic Commands", "Deploy Commands", "Cluster Management Commands",
          "Troubleshooting and Debugging Commands", "Settings Commands", "Other Commands")


@dataclass(frozen=True)
class Command:
    name: str
    summary: str
    """One line, shown in `pyctl --help`."""
    configure: Callable[[argparse.ArgumentParser], None]
    """Adds the command's own flags and arguments (and sub-commands, if any)."""
    run: Callable[["Session", argparse.Namespace], int]
    """Does the work and returns the exit code; errors are raised as PyctlError."""
    examples: str = ""
    description: str = ""
    usage: str | None = None
    group: str = "Basic Commands"
    aliases: tuple[str, ...] = field(default=())


_REGISTRY: dict[str, Command] = {}


def register(command: Command) -> Command:
    if command.name in _REGISTRY:
        raise ValueError(f"command {command.name!r} registered twice")
    _REGISTRY[command.name] = command
    return command


def load_all() -> dict[str, Command]:
    """Import every command module once; they register themselves on import."""
    if not _REGISTRY:
        for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
            if not module.startswith("_"):
                importlib.import_module(f"{__name__}.{module}")
    return _REGISTRY


def examples(text: str) -> str:
    """The `Examples:` block of a command's help, indented as kubectl's."""
    lines = text.strip("\n").splitlines()
    return "Examples:\n" + "\n".join(f"  {line}" if line else "" for line in lines)


def duration(text: str) -> float:
    """Seconds from `30`, `30s`, `2m`, `1h` or `1m30s` (kubectl's duration flags)."""
    import re
    parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s?)?", text.strip())
    if not text.strip() or parts is None:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: use e.g. 30s, 2m or 1h")
    hours, minutes, seconds = (float(p) if p else 0.0 for p in parts.groups())
    return hours * 3600 + minutes * 60 + seconds


def add_global_options(parser: argparse.ArgumentParser, *, suppress: bool = True) -> None:
    """The flags every command accepts, before or after its name (`pyctl -n x get po`, `get po -n x`).

    On sub-command parsers the defaults are suppressed so that a flag given before the
    command name is not overwritten by the sub-parser's default.
    """
    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    g = parser.add_argument_group("Global options")
    g.add_argument("--kubeconfig", metavar="FILE", default=default(None),
                   help="config file (default: $PYCTL_CONFIG, else ~/.pyctl/config)")
    g.add_argument("-s", "--server", metavar="URL", default=default(None),
                   help="the address of the API server, overriding the config file")
    g.add_argument("-n", "--namespace", metavar="NS", default=default(None),
                   help="the namespace for this request")
    g.add_argument("--context", metavar="NAME", default=default(None),
                   help="the config context to use")
    g.add_argument("--request-timeout", metavar="DURATION", type=duration, default=default(None),
                   help="how long to wait for one server response, e.g. 30s (default: no limit)")
    g.add_argument("-v", "--v", metavar="LEVEL", type=int, default=default(0),
                   help="log verbosity: 6 shows each request, 8 also the bodies")


def add_subcommand(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]", name: str,
                   *, summary: str, examples_text: str = "", description: str = "",
                   usage: str | None = None, resolve: bool = False) -> argparse.ArgumentParser:
    """A nested sub-command (`config view`, `rollout status`) with the global flags.

    With `resolve`, the sub-command may redefine a global flag for its own purpose
    (`config set-cluster --server`): its own definition wins.
    """
    parser = subparsers.add_parser(
        name, help=summary, description=description or summary, usage=usage,
        epilog=examples(examples_text) if examples_text else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        conflict_handler="resolve" if resolve else "error")
    add_global_options(parser)
    return parser
