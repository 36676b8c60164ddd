"""Stores slower than their timeouts, through the fault-injecting proxy (tests/faultproxy.py),
with the defaults a new user runs: the bulk steps give up no progress when a call fails, ask no
more of a store than it serves in time, and complete.

The purge is the one found from outside: 40,000 objects, S3 serving 4 calls at once at 1 s or
more each. All or nothing, with 32 calls in flight, every batch lost a call to the store
timeout and redid the others, and no batch ever committed."""

import asyncio
import re
import time
import uuid

import pytest

from admin.invariants import check
from admin.seed import seed
from lifecycle.statuses import Operation, SessionStatus, TaskStatus
from stack import free_ports
from telemetry import metrics
from tests.conftest import report_figure
from tests.faultproxy import FaultProxy, Faults
from tests.integration.test_metrics import Endpoints
from tests.support import (
    OPTIONS,
    StackClient,
    committed_batches,
    eventually,
    new_session,
    result_rows,
)

OBJECTS = 40_000
TASKS = 300_000
# The purge of the report: S3 serves this many calls at once, each held this long.
NARROW_S3 = Faults(latency=1.0, slots=4)
# A slow spell of PostgreSQL or Redis: every statement or command waits longer than the store
# timeout (half of the default heartbeat timeout, 5 s; Redis gives a command a third of it).
SPELL_SECONDS = 12.0


@pytest.fixture
def queue_name() -> str:
    return f"slow-{uuid.uuid4()}"


@pytest.fixture
async def through(stack, stores, temporal, queue_name):
    """`await through(store, proxy)`: a worker process whose `store` is reached through the
    proxy, with every other setting at its default, and a client of it."""
    started = []

    async def start(store: str, proxy: FaultProxy) -> tuple[StackClient, Endpoints]:
        address = {
            "s3": ("S3_ENDPOINT", f"http://{proxy.address}"),
            "postgres": ("POSTGRES_DSN", f"postgresql://postgres@{proxy.address}/postgres"),
            "redis": ("REDIS_URL", f"redis://{proxy.address}/0"),
        }[store]
        (port,) = free_ports(1)
        worker = stack.worker(
            TEMPORAL_TASK_QUEUE=queue_name,
            METRICS_ADDRESS=f"127.0.0.1:{port}",
            **dict([address]),
        )
        started.append(worker)
        # In a thread: the worker's start goes through the proxy, which serves on this loop.
        await asyncio.to_thread(worker.start)
        client = StackClient(
            stores, stack.client_settings(temporal_task_queue=queue_name), temporal
        )
        return client, Endpoints([f"http://127.0.0.1:{port}/metrics"])

    yield start
    for worker in started:
        await asyncio.to_thread(worker.stop)


def _limits(endpoints: Endpoints, store: str) -> float:
    series = endpoints.scrape().get(metrics.STORE_LIMIT, {})
    return min(v for labels, v in series.items() if ("store", store) in labels)


async def test_a_purge_through_a_narrow_slow_s3_completes_redoing_one_call_per_timeout(
    stack, through
):
    host, port = stack.s3.endpoint.removeprefix("http://").split(":")
    async with FaultProxy(host, int(port), "http") as proxy:
        client, endpoints = await through("s3", proxy)
        session_id = await new_session(client, results=OBJECTS, upload_every=100)
        await client.run(Operation.CLOSE, session_id)
        keys = await client.stores.objects.keys(f"{session_id}/")
        assert len(keys) == OBJECTS // 100
        proxy.faults = NARROW_S3
        proxy.counts = type(proxy.counts)()
        deleted_keys = _KeyCounter(proxy)
        began = time.monotonic()

        handle = await client.start(Operation.PURGE, session_id)
        # No fixed time: what must hold is that batches commit, and that it ends.
        await eventually(
            lambda: committed_batches(client, handle), within=60, what="a call to commit"
        )
        first_commit = time.monotonic() - began
        windows = [_limits(endpoints, "s3")]
        outcome = await asyncio.wait_for(handle.result(), timeout=600)
        windows.append(_limits(endpoints, "s3"))
        took = time.monotonic() - began

    assert outcome.session.status == SessionStatus.PURGED
    objects = next(s for s in outcome.progress.steps if s.step == "objects")
    failed_calls = objects.batches_started - objects.batches_committed
    report_figure(
        f"slow S3 (4 calls at once, 1 s each): purge of {OBJECTS:,} objects in {took:.0f} s,"
        f" first commit after {first_commit:.1f} s, {objects.batches_committed} calls"
        f" acknowledged, {failed_calls} failed and redone, {deleted_keys.sent:,} keys sent"
        f" to S3 for {objects.changed:,} deleted, peak {proxy.counts.peak} at the store,"
        f" window {windows[0]:.0f} then {windows[1]:.0f} calls"
    )
    # Results kept for manual deletion keep their objects; the invariants check the others.
    manual = {
        r.opaque_id for r in await result_rows(client.stores, session_id) if r.manual_deletion
    }
    assert set(await client.stores.objects.keys(f"{session_id}/")) == manual & set(keys)
    # At most one call's keys (1,000) redone per failed call: what a failure loses.
    assert deleted_keys.sent <= objects.changed + 1000 * failed_calls
    assert (await check(client.stores, [session_id])).ok


class _KeyCounter:
    """The object keys of every DeleteObjects request the proxy forwarded to S3."""

    KEY = re.compile(rb"<Key>")

    def __init__(self, proxy: FaultProxy) -> None:
        self.sent = 0
        proxy.on_forward = self.count

    def count(self, head: bytes, body: bytes) -> None:
        if head.startswith(b"POST ") and b"?delete" in head.split(b"\r\n", 1)[0]:
            self.sent += len(self.KEY.findall(body))


async def _slow_spell(proxy: FaultProxy, client, handle, slow: Faults) -> None:
    """Once the operation has committed a few batches, make the store slow for a spell."""
    target = await committed_batches(client, handle) + 4
    await eventually(
        lambda: _at_least(client, handle, target), within=120, what="batches to commit"
    )
    normal, proxy.faults = proxy.faults, slow
    # The spell's length is the scenario, not a wait for something to happen.
    await asyncio.sleep(SPELL_SECONDS)
    proxy.faults = normal


async def _at_least(client, handle, target: int) -> bool:
    return await committed_batches(client, handle) >= target


async def _survives_a_spell(stack, through, store: str, port: int, spell: Faults, prepare):
    """`prepare(client)` makes the session and answers (session, operation); the operation
    runs through a worker that reaches `store` by the proxy, which is slow for a spell."""
    async with FaultProxy("127.0.0.1", port, "tcp", Faults(latency=0.001)) as proxy:
        client, endpoints = await through(store, proxy)
        session_id, operation = await prepare(client)
        handle = await client.start(operation, session_id)
        await _slow_spell(proxy, client, handle, spell)
        outcome = await asyncio.wait_for(handle.result(), timeout=600)
        retried = endpoints.value(metrics.ACTIVITY_RETRIES + "_total", cause="timeout")
    report_figure(
        f"slow {store} ({SPELL_SECONDS:.0f} s spell, {spell.latency:.0f} s a chunk):"
        f" {operation.value} of {TASKS:,} tasks completed, {retried:.0f} attempts retried"
        " after a timeout"
    )
    report = await check(client.stores, [session_id])
    assert report.ok, report.examples
    return client, session_id, outcome


async def test_a_pause_of_300k_tasks_survives_a_slow_spell_of_postgresql(stack, through):
    async def prepare(client):
        return await new_session(client, mix={TaskStatus.SUBMITTED: TASKS}), Operation.PAUSE

    client, session_id, outcome = await _survives_a_spell(
        stack, through, "postgres", stack.postgres.port, Faults(latency=6.0), prepare
    )
    assert outcome.session.status == SessionStatus.PAUSED
    assert await client.stores.tasks.count_by_status(session_id) == {TaskStatus.PAUSED: TASKS}


async def test_a_resume_of_300k_tasks_survives_a_slow_spell_of_redis(stack, through):
    async def prepare(client):
        session = await client.create([], OPTIONS)
        await client.run(Operation.PAUSE, session.session_id)
        await seed(client.stores, session.session_id, TASKS, TaskStatus.PAUSED)
        return session.session_id, Operation.RESUME

    client, session_id, outcome = await _survives_a_spell(
        stack, through, "redis", stack.redis.port, Faults(latency=2.0), prepare
    )
    assert outcome.session.status == SessionStatus.RUNNING
    counts = await client.stores.tasks.count_by_status(session_id)
    assert counts == {TaskStatus.SUBMITTED: TASKS}
