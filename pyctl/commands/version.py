"""`pyctl version`: the client's version and the server's (`GET /version`)."""

from __future__ import annotations

import argparse
import platform
import sys
from typing import Any

from .. import __version__, printers
from ..errors import PyctlError
from ..session import Session
from . import Command, register

EXAMPLES = """\
# Print the client and server versions
pyctl version

# Print the client version only (no server needed)
pyctl version --client

# Both, as YAML
pyctl version -o yaml
"""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--client", action="store_true", help="print the client version only")
    p.add_argument("-o", "--output", choices=("yaml", "json"), help="print as yaml or json")


def client_version() -> dict[str, Any]:
    major, minor, *_ = __version__.split(".")
    return {"major": major, "minor": minor, "gitVersion": f"v{__version__}",
            "pythonVersion": platform.python_version(),
            "platform": f"{sys.platform}/{platform.machine().lower()}"}


def run(s: Session, a: argparse.Namespace) -> int:
    info: dict[str, Any] = {"clientVersion": client_version()}
    problem: PyctlError | None = None
    if not a.client:
        try:
            info["serverVersion"] = s.client.get("/version")
        except PyctlError as exc:
            problem = exc
    if a.output == "json":
        s.write(printers.to_json(info))
    elif a.output == "yaml":
        s.write(printers.to_yaml(info))
    else:
        s.print(f"Client Version: {info['clientVersion']['gitVersion']}")
        if "serverVersion" in info:
            s.print(f"Server Version: {info['serverVersion'].get('gitVersion', '<unknown>')}")
    if problem is not None:
        raise problem
    return 0


register(Command("version", "Print the client and server version information", configure, run,
                 EXAMPLES, group="Other Commands"))
