"""The real stack for integration tests: one Temporal dev server, PostgreSQL, Redis and S3 for
the whole test session, started only if a test needs them, and stopped at the end.

Batches are made small here (TEST_BATCHES) so that sessions of a few thousand rows already run
many batches and many activity calls per step.
"""

import os
import uuid

import pytest
from temporalio.client import Client

from adapters.connect import Stores
from api.server import build_server
from engine.workers import build_worker, prepare
from lifecycle.domain import Partition, TaskOptions
from settings import Settings
from stack import Stack
from tests.support import StackClient

TEST_BATCHES = {
    "task_batch_size": 100,
    "result_batch_size": 50,
    "object_batch_size": 50,
    "batches_per_call": 4,
}
FIGURES: list[str] = []


def report_figure(line: str) -> None:
    """A measured figure, printed in the summary at the end of the run."""
    FIGURES.append(line)


def pytest_collection_modifyitems(items):
    """The durability tests stop and kill servers: run them after everything else."""
    items.sort(key=lambda item: "tests/durability/" in item.nodeid)


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("stack"), ephemeral=True, ui=False)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def settings(stack) -> Settings:
    return stack.client_settings(temporal_task_queue=f"tests-{uuid.uuid4()}", **TEST_BATCHES)


@pytest.fixture(scope="session")
async def stores(settings):
    stores = await Stores.connect(settings)
    await prepare(stores, settings)
    yield stores
    await stores.close()


@pytest.fixture(scope="session")
async def temporal(settings) -> Client:
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)


@pytest.fixture(scope="session")
async def worker(temporal, stores, settings):
    """A worker in the test process, on the session's task queue."""
    async with build_worker(temporal, stores, settings) as running:
        yield running


@pytest.fixture(scope="session")
async def client(stores, settings, temporal, worker) -> StackClient:
    return StackClient(stores, settings, temporal)


@pytest.fixture(scope="session")
async def api(client) -> str:
    """The gRPC API, in the test process, on a free port: its address."""
    server, port = await build_server(client, "127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(None)


@pytest.fixture(scope="session")
async def partitions(client) -> list[str]:
    """Two partitions besides the default one."""
    ids = [f"part-{n}-{os.getpid()}" for n in ("a", "b")]
    for partition_id in ids:
        await client.stores.partitions.upsert(Partition(partition_id))
    return ids


OPTIONS = TaskOptions(max_duration=60, max_retries=2, priority=5)
