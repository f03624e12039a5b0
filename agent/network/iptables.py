"""Running iptables tools, in the agent's network namespace or in another one (by path).

The service proxy (nat table) and the NetworkPolicy enforcer (filter table) both write their own
chains with these; each command is bounded in time, as the xtables lock is shared.
"""

from __future__ import annotations

import asyncio

TIMEOUT = 20.0  # seconds any one iptables command may take


async def run(*argv: str, stdin: str | None = None, netns: str | None = None) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `argv`, in `netns` when given."""
    if netns:
        argv = ("nsenter", f"--net={netns}", "--", *argv)
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin is not None else None), TIMEOUT)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        return 1, "", f"{argv[0]} timed out after {TIMEOUT:g}s"
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")
