"""A polling agent: `python -m agent` (configuration from environment variables, see settings/:
AGENT_PARTITION, AGENT_WORKER, AGENT_POD_ID, AGENT_DIR and the stores')."""

import asyncio
import os
import socket
from pathlib import Path

from adapters.connect import Stores
from agent.agent import Agent
from engine.work import Work
from engine.workers import run_until_signalled
from settings import Settings

# Printed once the agent serves its worker and polls its queue (stack/ waits for it).
READY_LINE = "agent ready"


async def run(settings: Settings, stop: asyncio.Event) -> None:
    pod_id = settings.agent_pod_id or f"{socket.gethostname()}-{os.getpid()}"
    folder, log_dir = _folders(settings, pod_id)
    stores = await Stores.connect(settings)
    work = Work(stores, download_chunk=settings.data_chunk_max_size)
    agent = Agent(
        work,
        pod_id=pod_id,
        partition_id=settings.agent_partition or settings.default_partition,
        folder=folder,
        worker_command=settings.agent_worker,
        log_dir=log_dir,
        poll_seconds=settings.agent_poll_seconds,
        cancel_poll_seconds=settings.agent_cancel_poll_seconds,
        worker_start_seconds=settings.agent_worker_start_seconds,
        lease_seconds=settings.agent_lease_seconds,
    )
    try:
        await agent.serve()
        print(READY_LINE, pod_id, flush=True)
        await agent.run(stop)
    finally:
        await agent.close()
        await stores.close()


def _folders(settings: Settings, pod_id: str) -> tuple[Path, Path]:
    """The agent's own folder (sockets, data folder) and the logs', absolute: the worker runs
    in another directory's terms."""
    folder = Path(settings.agent_dir or settings.state_dir / "agents" / pod_id)
    return folder.resolve(), (settings.state_dir / "logs").resolve()


def main() -> None:
    run_until_signalled(run, role="agent")


if __name__ == "__main__":
    main()
