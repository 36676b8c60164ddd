"""Helpers shared by the real-stack tests."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
from temporalio.client import Client

from adapters.connect import Stores
from admin.seed import seed
from engine.operations import Engine, OperationHandle
from lifecycle.domain import TaskOptions
from lifecycle.statuses import TaskStatus
from settings import Settings
from stores.results import ResultRow
from workflows.identity import op_id as operation_op_id

T = TypeVar("T")
OPTIONS = TaskOptions(max_duration=60, max_retries=2, priority=5)


async def eventually(
    probe: Callable[[], Awaitable[T]], *, within: float = 60.0, what: str = "condition"
) -> T:
    """Poll `probe` until it answers something truthy; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            value = await probe()
        except (OSError, ConnectionError):
            value = None  # a store may be down on purpose
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


def status_codes(calls) -> list:
    """Each call's gRPC status code, or None for a call that answered."""
    codes = []
    for call in calls:
        try:
            call()
            codes.append(None)
        except grpc.RpcError as error:
            codes.append(error.code())
    return codes


class StackClient(Engine):
    """The engine on the test stack's stores, which tests look at too."""

    def __init__(self, stores: Stores, settings: Settings, temporal: Client) -> None:
        super().__init__(settings, temporal, stores)


async def finished(handle: OperationHandle) -> bool:
    """Whether the operation's workflow has ended (whatever its outcome)."""
    description = await handle.handle.describe()
    return description.status is not None and description.status.name != "RUNNING"


def op_id(handle: OperationHandle) -> str:
    """The id under which an operation's admission and checkpoints are recorded."""
    return operation_op_id(handle.workflow_id, handle.handle.first_execution_run_id or "")


async def committed_batches(client: Engine, handle: OperationHandle) -> int:
    return await client.stores.db.pool.fetchval(
        "SELECT coalesce(sum(batches_committed), 0) FROM operation_steps WHERE op_id = $1",
        op_id(handle),
    )


async def new_session(
    client: Engine,
    *,
    partitions: list[str] | None = None,
    mix: dict[TaskStatus, int] | None = None,
    results: int = 0,
    objects: bool = True,
    upload_every: int = 1,
) -> str:
    """A RUNNING session seeded with tasks in the given statuses, and results (with an object
    key each if `objects`, and the object of every `upload_every`-th)."""
    session = await client.create(list(partitions or []), OPTIONS)
    for n, (status, count) in enumerate((mix or {}).items()):
        await seed(client.stores, session.session_id, count, status, seed_value=n)
    if results:
        await seed(
            client.stores,
            session.session_id,
            0,
            results=results,
            objects=objects,
            upload_every=upload_every,
        )
    return session.session_id


async def result_rows(stores, session_id: str) -> list[ResultRow]:
    """Every result of the session, read whole (a test's look, not a sweep's)."""
    return [ResultRow(**dict(r)) async for chunk in stores.results.walk(session_id) for r in chunk]
