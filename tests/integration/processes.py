"""A worker and the API server as processes of their own, bound to the test stack, on a task
queue of their own: for what only a real process shows (its metrics endpoint, its exports)."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

from stack import Stack, free_port


@contextlib.asynccontextmanager
async def worker_and_api(
    stack: Stack,
    *,
    worker_metrics_port: int | None = None,
    api_metrics_port: int | None = None,
    **env: object,
) -> AsyncIterator[str]:
    """Start them with `env` added to the stack's; yield the API's address; stop them."""
    env = {"TEMPORAL_TASK_QUEUE": f"own-{uuid.uuid4()}", **env}
    ports = [worker_metrics_port] if worker_metrics_port else None
    address = f"127.0.0.1:{free_port()}"
    api_env = dict(env)
    if api_metrics_port:
        api_env["METRICS_ADDRESS"] = f"127.0.0.1:{api_metrics_port}"
    started = []
    try:
        started += await asyncio.to_thread(stack.start_workers, 1, metrics_ports=ports, **env)
        api = stack.api(address, **api_env)
        started.append(api)
        await asyncio.to_thread(api.start)
        yield address
    finally:
        for process in reversed(started):
            await asyncio.to_thread(process.stop)
            stack.workers.remove(process)
