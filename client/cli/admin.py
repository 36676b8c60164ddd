"""The admin commands: partition create, seed, queue stats and pop, check and migrate. They talk
to the stores directly (client/cli/store_runner.py), from the stores' settings, not the
endpoint: ArmoniK's API has no such calls."""

import json
from enum import StrEnum
from typing import Annotated

import typer

from client.cli.options import JsonOption, PartitionArg, SessionArg
from client.cli.output import err, partition_row, refuse_argument, show_rows
from client.cli.store_runner import all_stores, database, run_admin
from lifecycle.domain import Partition
from lifecycle.statuses import TaskStatus
from settings import Settings

TaskStatusName = StrEnum(  # type: ignore[misc]
    "TaskStatusName", {s.name: s.name.lower() for s in TaskStatus if s != TaskStatus.UNSPECIFIED}
)


def partition_create(
    partition_id: PartitionArg,
    priority: Annotated[int, typer.Option(min=0)] = 1,
    pod_max: Annotated[int, typer.Option(min=0)] = 100,
    pod_reserved: Annotated[int, typer.Option(min=0)] = 1,
    preemption_percentage: Annotated[int, typer.Option(min=0, max=100)] = 50,
    parent: Annotated[list[str] | None, typer.Option("--parent", help="Parent partition.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Create (or update) a partition, in PostgreSQL directly (an admin tool).

    ArmoniK's API has no CreatePartition: this needs the stores' settings (POSTGRES_DSN), not
    the endpoint."""
    if not partition_id.strip():
        refuse_argument("partition id must not be empty")
    if pod_reserved > pod_max:
        refuse_argument("--pod-reserved must not exceed --pod-max")
    partition = Partition(
        partition_id,
        parent_partition_ids=list(parent or []),
        pod_reserved=pod_reserved,
        pod_max=pod_max,
        preemption_percentage=preemption_percentage,
        priority=priority,
    )

    async def command(settings: Settings) -> None:
        from adapters.postgres.partitions_table import PostgresPartitionsTable

        async with database(settings) as db:
            created = await PostgresPartitionsTable(db).upsert(partition)
        show_rows([partition_row(created)], as_json)

    run_admin(command)


def seed(
    session_id: SessionArg,
    tasks: Annotated[int, typer.Option(min=0, help="Number of tasks.")] = 0,
    task_status: Annotated[
        TaskStatusName, typer.Option(help="Status of the new tasks.")
    ] = TaskStatusName.SUBMITTED,  # type: ignore[attr-defined]
    results: Annotated[int, typer.Option(min=0, help="Number of results.")] = 0,
    objects: Annotated[bool, typer.Option("--objects", help="Give each result an object.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Fill a session with tasks and results, in the stores directly (an admin tool).

    The tasks are spread over the session's partitions. It needs the stores' settings
    (POSTGRES_DSN, REDIS_URL, S3_*), not the endpoint."""
    status = TaskStatus[task_status.name]

    async def command(settings: Settings) -> None:
        from admin.seed import seed as seed_session

        async with all_stores(settings) as stores:
            report = await seed_session(stores, session_id, tasks, status, results, objects)
        show_rows([report.__dict__], as_json)

    run_admin(command)


def queue_stats(as_json: JsonOption = False) -> None:
    """The number of queued tasks per partition, from the stores directly (an admin tool).

    It needs the stores' settings (POSTGRES_DSN, REDIS_URL, S3_*), not the endpoint."""

    async def command(settings: Settings) -> None:
        async with all_stores(settings) as stores:
            depths = await stores.queue.depths()
        rows = [{"partition_id": p, "depth": n} for p, n in sorted(depths.items())]
        show_rows(rows, as_json)

    run_admin(command)


def queue_pop(
    partition_id: Annotated[str, typer.Argument(help="The partition.")],
    n: Annotated[int, typer.Option("-n", min=1, help="How many tasks to take.")] = 1,
    as_json: JsonOption = False,
) -> None:
    """Take the first tasks of a partition's queue, from the stores directly (an admin tool).

    As a consumer would. It needs the stores' settings (POSTGRES_DSN, REDIS_URL, S3_*), not the
    endpoint."""

    async def command(settings: Settings) -> None:
        async with all_stores(settings) as stores:
            popped = await stores.queue.pop(partition_id, n)
        show_rows([{"session_id": s, "task_id": t} for s, t in popped], as_json)

    run_admin(command)


def check(
    session_ids: Annotated[list[str], typer.Argument(help="Sessions to check (deleted included).")],
    as_json: JsonOption = False,
) -> None:
    """Check docs/lifecycle.md's invariants, in the stores directly (an admin tool).

    For sessions whose operations have finished; exit 1 on any violation. It needs the stores'
    settings (POSTGRES_DSN, REDIS_URL, S3_*), not the endpoint."""

    async def command(settings: Settings) -> int:
        from admin.invariants import check as check_invariants

        async with all_stores(settings) as stores:
            report = await check_invariants(stores, session_ids)
        if as_json:
            print(json.dumps({"ok": report.ok, "violations": report.counts()}))
        else:
            rows = [{"invariant": k, "violations": v} for k, v in report.counts().items()]
            show_rows(rows, False)
            for name, examples in report.examples.items():
                err.print(f"{name}: e.g. {', '.join(examples)}", highlight=False)
        return 0 if report.ok else 1

    run_admin(command)


def migrate() -> None:
    """Apply the schema migrations not applied yet, in PostgreSQL directly (an admin tool).

    The worker also does at its start. It needs the stores' settings (POSTGRES_DSN), not the
    endpoint."""

    async def command(settings: Settings) -> None:
        async with database(settings) as db:
            applied = await db.migrate()
        print(f"applied {', '.join(applied)}" if applied else "the schema is up to date")

    run_admin(command)
