"""The Prometheus endpoints of a worker and of the API server, as processes of their own on the
real stack, scraped during and after operations: every metric of telemetry/metrics.py is there,
with the values the operations imply."""

import asyncio
import urllib.request
import uuid
from collections import defaultdict

import asyncpg
import grpc
import pytest
from armonik.protogen.client.sessions_service_pb2_grpc import SessionsStub
from armonik.protogen.common import sessions_common_pb2 as spb
from armonik.protogen.common.objects_pb2 import TaskOptions
from google.protobuf.duration_pb2 import Duration
from prometheus_client.parser import text_string_to_metric_families

from admin.seed import seed
from lifecycle.domain import Partition
from lifecycle.statuses import TaskStatus
from stack import free_ports
from telemetry import metrics
from tests.conftest import TEST_BATCHES
from tests.integration.processes import worker_and_api
from tests.support import eventually

TASKS = 20_000
# Short store timeouts (half of it), so that a lock held by the test fails a statement quickly.
HEARTBEAT_TIMEOUT = 4


def scrape(url: str) -> dict[str, dict[tuple, float]]:
    """name → {labels (sorted pairs, without role and service_name) → value}, summed."""
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    found: dict[str, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(
                sorted((k, v) for k, v in sample.labels.items() if k in LABELS_OF_INTEREST)
            )
            found[sample.name][labels] += sample.value
    return found


LABELS_OF_INTEREST = {"operation", "step", "code", "rpc", "cause", "partition", "le", "activity"}
LABELS_OF_INTEREST |= {"store", "limit"}


class Endpoints:
    def __init__(self, urls: list[str]) -> None:
        self.urls = urls

    def scrape(self) -> dict[str, dict[tuple, float]]:
        """Every endpoint's samples, summed over endpoints."""
        total: dict[str, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
        for url in self.urls:
            for name, series in scrape(url).items():
                for labels, value in series.items():
                    total[name][labels] += value
        return total

    def value(self, name: str, **labels: str) -> float:
        """The sum of the series of `name` whose labels include `labels`."""
        wanted = set(labels.items())
        series = self.scrape().get(name, {})
        return sum(v for key, v in series.items() if wanted <= set(key))


@pytest.fixture
async def processes(stack):
    """A worker and the API server, each serving its metrics."""
    worker_port, api_port = free_ports(2)
    env = {
        "HEARTBEAT_TIMEOUT": HEARTBEAT_TIMEOUT,
        "METRICS_SAMPLE_SECONDS": 0.2,
        "SWEEP_RANGES": 1,
        **{name.upper(): value for name, value in TEST_BATCHES.items()},
    }
    async with worker_and_api(
        stack, worker_metrics_port=worker_port, api_metrics_port=api_port, **env
    ) as address:
        yield (
            address,
            Endpoints([f"http://127.0.0.1:{port}/metrics" for port in (worker_port, api_port)]),
        )


def _options() -> TaskOptions:
    return TaskOptions(max_duration=Duration(seconds=60), max_retries=2, priority=5)


async def test_both_endpoints_show_every_metric_with_what_the_operations_did(
    processes, stack, stores
):
    address, endpoints = processes
    async with grpc.aio.insecure_channel(address) as channel:
        sessions = SessionsStub(channel)
        # A partition of its own, whose queue only this session's tasks are in.
        partition = f"metrics-{uuid.uuid4()}"
        await stores.partitions.upsert(Partition(partition))
        created = await sessions.CreateSession(
            spb.CreateSessionRequest(default_task_option=_options(), partition_ids=[partition])
        )
        session_id = created.session_id
        await seed(stores, session_id, TASKS, TaskStatus.SUBMITTED)
        await eventually(
            lambda: _async(endpoints.value(metrics.QUEUE_DEPTH, partition=partition) == TASKS),
            what="the queue's depth sampled full",
        )

        # A lock on the session's row makes the Pause's admission time out, and retry.
        dsn = stack.env()["POSTGRES_DSN"]
        holder = await asyncpg.connect(dsn)
        lock = holder.transaction()
        await lock.start()
        await holder.execute("SELECT 1 FROM sessions WHERE session_id = $1 FOR UPDATE", session_id)
        pausing = asyncio.ensure_future(
            sessions.PauseSession(spb.PauseSessionRequest(session_id=session_id))
        )
        try:
            await eventually(
                lambda: _async(
                    endpoints.value(metrics.ACTIVITY_RETRIES + "_total", cause="timeout")
                ),
                what="a retried attempt, by timeout",
            )
        finally:
            await lock.rollback()
            await holder.close()

        # The Pause sweeps; a Cancel overtakes it once it changed rows.
        await eventually(
            lambda: _async(
                endpoints.value(metrics.ROWS_CHANGED + "_total", operation="pause", step="tasks")
            ),
            what="the pause's first batch",
        )
        await sessions.CancelSession(spb.CancelSessionRequest(session_id=session_id))
        await pausing

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await sessions.ResumeSession(spb.ResumeSessionRequest(session_id=session_id))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    def ended() -> bool:
        running = endpoints.scrape().get(metrics.OPERATIONS_RUNNING, {})
        return bool(running) and not any(running.values())

    await eventually(lambda: _async(ended()), what="no operation running")
    await eventually(
        lambda: _async(endpoints.value(metrics.QUEUE_DEPTH, partition=partition) == 0),
        what="the queue's depth sampled empty",
    )

    seen = endpoints.scrape()
    for name in metrics.EXPOSED:
        assert name in seen, f"{name} is not exposed"
    value = endpoints.value
    counter = {name: name + "_total" for name in metrics.COUNTERS}

    # One Create, Pause, Cancel and Resume started; the Resume refused, the Pause superseded.
    for operation in ("create", "pause", "cancel", "resume"):
        assert value(counter[metrics.OPERATIONS_STARTED], operation=operation) >= 1
    assert value(counter[metrics.OPERATIONS_ADMITTED], operation="pause") >= 1
    assert value(counter[metrics.OPERATIONS_ADMITTED], operation="resume") == 0
    assert (
        value(counter[metrics.OPERATIONS_REFUSED], operation="resume", code="FAILED_PRECONDITION")
        == 1
    )
    assert value(counter[metrics.OPERATIONS_SUPERSEDED], operation="pause") == 1
    assert value(counter[metrics.OPERATIONS_COMPLETED], operation="cancel") == 1
    assert value(counter[metrics.OPERATIONS_COMPLETED], operation="create") >= 1

    # Rows: the Cancel changed every task, which the Pause had left un-cancelled; the two took
    # every task out of the queue between them.
    rows = counter[metrics.ROWS_CHANGED]
    assert value(rows, operation="cancel", step="tasks") == TASKS
    paused = value(rows, operation="pause", step="tasks")
    assert 0 < paused < TASKS
    dequeued = value(rows, operation="pause", step="queue") + value(
        rows, operation="cancel", step="queue"
    )
    assert dequeued == TASKS
    batches = value(metrics.BATCH_SECONDS + "_count", operation="cancel", step="tasks")
    assert batches >= TASKS / TEST_BATCHES["task_batch_size"]
    assert value(metrics.BATCH_SECONDS + "_sum", operation="cancel", step="tasks") > 0

    # The API: each call by its RPC and status.
    api = metrics.API_REQUEST_SECONDS + "_count"
    assert value(api, rpc="CreateSession", code="OK") == 1
    assert value(api, rpc="PauseSession", code="OK") == 1
    assert value(api, rpc="ResumeSession", code="FAILED_PRECONDITION") == 1

    # The Temporal SDK's own metrics are on the same endpoints.
    assert value("temporal_workflow_completed_total") >= 4
    assert value("temporal_activity_execution_latency_count") > 0


async def _async(value):
    return value
