"""Time one session's whole life at a given size, on a throw-away stack (or on the servers the
environment points at), and print each step's time and the workflow history sizes.

    .venv/bin/python -m bench.lifecycle --tasks 1000000 --results 10000
"""

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from adapters.connect import Stores
from admin.seed import seed
from engine.operations import Engine, connect_temporal
from lifecycle.domain import TaskOptions
from lifecycle.statuses import Operation, TaskStatus
from settings import Settings
from stack import Stack

LIFE = [
    Operation.PAUSE,
    Operation.RESUME,
    Operation.CLOSE,
    Operation.PURGE,
    Operation.DELETE,
]


async def bench(settings: Settings, tasks: int, results: int) -> None:
    stores = await Stores.connect(settings)
    temporal = await connect_temporal(settings)
    client = Engine(settings, temporal, stores)
    try:
        began = time.perf_counter()
        session = await client.create([], TaskOptions(max_duration=600, max_retries=2))
        print(f"{'create':<10} {time.perf_counter() - began:8.2f} s")
        began = time.perf_counter()
        await seed(stores, session.session_id, tasks, TaskStatus.SUBMITTED, results, True)
        elapsed = time.perf_counter() - began
        print(f"{'seed':<10} {elapsed:8.2f} s  {tasks:,} tasks, {results:,} results")
        for operation in LIFE:
            began = time.perf_counter()
            handle = await client.start(operation, session.session_id)
            outcome = await handle.result()
            elapsed = time.perf_counter() - began
            history = await temporal.get_workflow_handle(
                handle.workflow_id, run_id=handle.handle.first_execution_run_id
            ).fetch_history()
            batches = sum(s.batches_committed for s in outcome.progress.steps)
            print(
                f"{operation.value:<10} {elapsed:8.2f} s  {batches:6,} batches,"
                f" {len(history.events):4} history events"
            )
    finally:
        await stores.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--results", type=int, default=5_000)
    parser.add_argument(
        "--external", action="store_true", help="use the servers the environment points at"
    )
    args = parser.parse_args()
    if args.external:
        asyncio.run(bench(Settings(), args.tasks, args.results))
        return
    with tempfile.TemporaryDirectory() as state, Stack(Path(state), ephemeral=True) as stack:
        queue = f"bench-{uuid.uuid4()}"
        worker = stack.worker(TEMPORAL_TASK_QUEUE=queue)
        worker.start()
        settings = stack.client_settings(temporal_task_queue=queue)
        asyncio.run(bench(settings, args.tasks, args.results))


if __name__ == "__main__":
    main()
