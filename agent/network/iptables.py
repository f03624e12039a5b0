"""Running iptables tools, in the agent's network namespace or in another one (by path).

The service proxy (nat table) and the NetworkPolicy enforcer (filter table) both write their own
chains with these; each command is bounded in time, as the xtables lock is shared.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from ..wake import woken

log = logging.getLogger(__name__)

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


async def saved_chains(table: str, ours: Callable[[str], set[str]], netns: str | None = None) -> set[str]:
    """`ours(iptables-save -t TABLE)`: the chains of ours now in `table`."""
    code, out, err = await run("iptables-save", "-t", table, netns=netns)
    if code != 0:
        raise RuntimeError(f"iptables-save: {err.strip()}")
    return ours(out)


async def restore(rules: str, netns: str | None = None) -> None:
    """Apply iptables-restore input in one transaction, leaving every other chain alone."""
    code, _, err = await run("iptables-restore", "-w", "--noflush", stdin=rules, netns=netns)
    if code != 0:
        raise RuntimeError(f"iptables-restore: {err.strip()}")


async def keep_synced(sync: Callable[[], Awaitable[None]], wake: asyncio.Event, period: float, what: str) -> None:
    """Call `sync` now, on every `wake` and every `period` seconds, until cancelled; a failure
    (iptables missing, the lock held too long) is logged and retried at the next turn."""
    while True:
        wake.clear()
        try:
            await sync()
        except (OSError, RuntimeError) as exc:
            log.warning("%s: sync failed: %s", what, exc)
        await woken(wake, period)
