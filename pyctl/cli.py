"""The `pyctl` entry point: global flags, dispatch to the registered commands, the error boundary.

Whatever goes wrong ends here as kubectl would print it (`error: ...`,
`Error from server (NotFound): ...`) with exit code 1; a Python traceback is shown only
with PYCTL_DEBUG=1.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn, Sequence

from . import __version__
from .commands import GROUPS, Command, add_global_options, examples, load_all
from .errors import PyctlError, UsageError

DESCRIPTION = """\
pyctl controls a pyctl cluster (or any Kubernetes API server).

Find more information in the project's README."""

USAGE = "pyctl [global options] COMMAND [args]"


class Parser(argparse.ArgumentParser):
    """argparse that reports mistakes the way kubectl does (and with exit code 1)."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.partition(" ")[2]
        if message.startswith("argument COMMAND: invalid choice: "):
            typed = message.split("'")[1] if "'" in message else ""
            raise UsageError(f'unknown command "{typed}" for "pyctl"')
        raise UsageError(message, command)


def _overview(commands: dict[str, Command]) -> str:
    lines: list[str] = []
    for group in GROUPS:
        members = sorted((c for c in commands.values() if c.group == group), key=lambda c: c.name)
        if not members:
            continue
        lines.append(f"{group}:")
        lines.extend(f"  {c.name:<14}{c.summary}" for c in members)
        lines.append("")
    lines.append("Use \"pyctl COMMAND --help\" for more information about a command.")
    return "\n".join(lines)


def build_parser() -> Parser:
    commands = load_all()
    parser = Parser(prog="pyctl", usage=USAGE, description=DESCRIPTION,
                    epilog=_overview(commands), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"pyctl v{__version__}")
    add_global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", help=argparse.SUPPRESS)
    for command in sorted(commands.values(), key=lambda c: c.name):
        p = sub.add_parser(command.name, aliases=list(command.aliases), usage=command.usage,
                           prog=f"pyctl {command.name}",
                           description=command.description or command.summary,
                           epilog=examples(command.examples) if command.examples else None,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        command.configure(p)
        add_global_options(p)
        p.set_defaults(_command=command)
    return parser


def _reparse_intermixed(parser: Parser, argv: Sequence[str] | None, args: argparse.Namespace,
                        command: Command, extra: list[str]) -> argparse.Namespace:
    """kubectl takes flags anywhere (`get lease -n kube-system NAME`): argparse stops filling a
    positional list at the first flag, so parse the command's own arguments intermixed."""
    if extra[0] != "--" and any(t.startswith("-") for t in extra):  # `exec POD -c C -- CMD -x`
        raise UsageError(f"unknown flag or argument: {' '.join(extra)}", command.name)
    tokens = list(sys.argv[1:] if argv is None else argv)
    names = {command.name, *command.aliases}
    idx = next((i for i, t in enumerate(tokens) if t in names), None)
    sub = _subparser(parser, command.name)
    if idx is not None and sub is not None:
        try:
            return sub.parse_intermixed_args(tokens[idx + 1:], namespace=args)
        except TypeError:  # commands with nested sub-commands cannot be parsed intermixed
            pass
    raise UsageError(f"unknown flag or argument: {' '.join(extra)}", command.name)


def _subparser(parser: Parser, name: str) -> argparse.ArgumentParser | None:
    for action in parser._actions:  # argparse keeps sub-parsers only here
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(name)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    from .session import Session

    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        command: Command | None = getattr(args, "_command", None)
        if command is None:
            if extra:
                raise UsageError(f"unknown command \"{extra[0]}\" for \"pyctl\"")
            parser.print_help()
            return 0
        if extra:
            args = _reparse_intermixed(parser, argv, args, command, extra)
        session = Session(args)
        try:
            return command.run(session, args)
        finally:
            session.close()
    except PyctlError as exc:
        sys.stdout.flush()
        print(exc.render(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `pyctl get pods | head`: the reader went away; that is not an error.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - avoid a second error at exit
        except OSError:
            pass
        return 0
    except Exception as exc:  # noqa: BLE001 - the boundary: never show a traceback by default
        if os.environ.get("PYCTL_DEBUG"):
            raise
        print(f"error: internal error: {type(exc).__name__}: {exc} "
              "(set PYCTL_DEBUG=1 to see where)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
