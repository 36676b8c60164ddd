"""Durability runs: a worker in its own process, which the tests kill, and the stores, which
they stop. `make test` runs them small; `make chaos SIZE=... KILLS=...` runs them large."""

import os
import uuid

import pytest

from tests.support import StackClient

SIZE = int(os.environ.get("CHAOS_SIZE", "50000"))
RESULTS = int(os.environ.get("CHAOS_RESULTS", "10000"))
KILLS = int(os.environ.get("CHAOS_KILLS", "3"))
# Small enough batches that each operation runs many of them, so that every kill lands in the
# middle of one.
WORKER_BATCHES = {
    "TASK_BATCH_SIZE": "500",
    "RESULT_BATCH_SIZE": "200",
    "OBJECT_BATCH_SIZE": "200",
    "BATCHES_PER_CALL": "10",
}
# A killed worker's call is retried after this long: shorter than the default, so that the many
# kills of these tests cost less waiting.
HEARTBEAT_TIMEOUT = 5.0


@pytest.fixture
def queue_name() -> str:
    return f"chaos-{uuid.uuid4()}"


@pytest.fixture
async def spawn_worker(stack, queue_name):
    """Start worker processes on the test's own task queue; all are stopped at the end."""
    started = []

    def spawn():
        worker = stack.worker(
            TEMPORAL_TASK_QUEUE=queue_name, HEARTBEAT_TIMEOUT=HEARTBEAT_TIMEOUT, **WORKER_BATCHES
        )
        worker.start()
        started.append(worker)
        return worker

    yield spawn
    for worker in started:
        worker.stop()


@pytest.fixture
async def chaos_client(stack, stores, temporal, queue_name) -> StackClient:
    """A client whose operations go to the worker processes, not to the in-process worker."""
    settings = stack.client_settings(
        temporal_task_queue=queue_name, heartbeat_timeout=HEARTBEAT_TIMEOUT
    )
    return StackClient(stores, settings, temporal)
