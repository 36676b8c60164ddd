"""Running the operations: the Temporal worker of every workflow and activity over the stores,
what must hold before it runs, and the life of a process that serves until it is signalled
(the worker process's and the API server's)."""

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence

from temporalio.client import Client
from temporalio.worker import Interceptor, Worker

from activities.failure_interceptor import FailureInterceptor
from activities.registry import activities
from lifecycle.domain import Partition
from settings import Settings, get_settings
from stores.store_set import StoreSet
from telemetry.logs import configure_logging
from telemetry.metrics import install_runtime
from telemetry.tracing import start_tracing
from workflows.registry import WORKFLOWS

log = logging.getLogger("armonik_sessions.worker")


async def prepare(stores: StoreSet, settings: Settings) -> None:
    """What must hold before any operation runs: the schema, the default partition, the bucket."""
    applied = await stores.db.migrate()
    if applied:
        log.info("applied migrations %s", ", ".join(applied))
    await stores.partitions.ensure(Partition(settings.default_partition))
    await stores.objects.ensure_bucket()


def build_worker(
    client: Client,
    stores: StoreSet,
    settings: Settings,
    interceptors: Sequence[Interceptor] = (),
    *,
    remote_activities: bool = True,
) -> Worker:
    """`remote_activities=False` makes a worker of workflow tasks and local activities only,
    the API process's: its bulk batch calls go to the dedicated workers."""
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=list(WORKFLOWS.values()),
        activities=activities(stores, settings),
        interceptors=[FailureInterceptor(), *interceptors],
        # Never more activities than pooled connections: each holds at most one at a time, so
        # none waits for a connection (settings/).
        max_concurrent_activities=min(settings.max_concurrent_activities, settings.pool_size),
        no_remote_activities=not remote_activities,
        # Eager dispatch would run an activity on the worker that scheduled it: batch calls go
        # through the task queue instead, so that any worker on it takes the next one.
        disable_eager_activity_execution=True,
    )


def run_until_signalled(
    serve: Callable[[Settings, asyncio.Event], Awaitable[None]], role: str = "worker"
) -> None:
    """Run `serve` with the settings of the environment until SIGINT or SIGTERM sets its stop
    event, so that it stops cleanly (the worker finishing or heartbeating its activities).
    Metrics and traces are set up first, as the settings ask: before any client connects."""
    settings = get_settings()
    configure_logging(settings.log_format)
    install_runtime(settings.metrics_address, role)
    tracing = start_tracing(role, endpoint=settings.otel_exporter_otlp_endpoint)

    async def until_signalled() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    try:
        asyncio.run(until_signalled())
    finally:
        if tracing is not None:
            tracing.stop()  # exports the spans still buffered
