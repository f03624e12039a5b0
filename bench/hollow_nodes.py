"""`python -m bench.hollow_nodes GATEWAY COUNT PREFIX`: COUNT hollow agents in one process
(agent.hollow.run_hollow_agents) until SIGTERM, so the benchmark's own process stays free."""

from __future__ import annotations

import asyncio
import signal
import sys

from agent.hollow import run_hollow_agents, stop_agents


async def main(gateway: str, count: int, prefix: str) -> None:
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    agents = await run_hollow_agents(gateway, [f"{prefix}-{i}" for i in range(count)])
    try:
        await stop.wait()
    finally:
        await stop_agents(agents)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
