"""armonik-sessions: drive sessions through their life from a terminal.

What each operation accepts and does, and the invariants `check` checks: docs/lifecycle.md.

Every session command takes --json and then prints the session as one JSON object on stdout;
for an operation, the object also says whether a later operation superseded it
("superseded": true|false). A refusal prints one line on stderr and exits 1; bad arguments exit
2 before anything starts; a stack that cannot be reached, or is lost on the way, prints one line
on stderr and exits 3 (an operation already started goes on server-side, and running the same
command again follows it).
"""

import asyncio
import contextlib
import json
import logging
import os
import re
import shlex
import sys
import traceback
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import botocore.exceptions
import redis.exceptions
import typer
from rich.console import Console
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode

from admin.invariants import check as check_invariants
from admin.seed import seed as seed_session
from client.sessions import OperationHandle, SessionsClient
from lifecycle.models import OperationOutcome, Partition, Session, TaskOptions
from lifecycle.refusals import INVALID_ARGUMENT, Refused
from lifecycle.statuses import Operation, SessionStatus, TaskStatus
from settings import Settings
from stores.connect import Stores
from stores.list_query import Condition, ListQuery

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Drive ArmoniK sessions through their life: create, pause, resume, close, purge, delete."
    " What each operation accepts and does: docs/lifecycle.md.",
)
session_app = typer.Typer(no_args_is_help=True, help="Create, drive and read sessions.")
partition_app = typer.Typer(no_args_is_help=True, help="Create and read partitions.")
queue_app = typer.Typer(no_args_is_help=True, help="Look at the partition queues.")
app.add_typer(session_app, name="session")
app.add_typer(partition_app, name="partition")
app.add_typer(queue_app, name="queue")

out = Console()
err = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
OperationJsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help='Print the session as one JSON object on stdout, with "superseded": true|false.',
    ),
]
SessionArg = Annotated[str, typer.Argument(help="The session id.")]

StatusName = StrEnum(  # type: ignore[misc]
    "StatusName", {s.name: s.name.lower() for s in SessionStatus if s != SessionStatus.UNSPECIFIED}
)
TaskStatusName = StrEnum(  # type: ignore[misc]
    "TaskStatusName", {s.name: s.name.lower() for s in TaskStatus if s != TaskStatus.UNSPECIFIED}
)


@dataclass
class Started:
    """An operation this command started: if the CLI loses the stack, it goes on server-side."""

    what: str  # "the pause of session X"
    then: str  # what to run to follow it again


# Set once the operation's workflow has started, so that a lost connection can say what goes on.
started: Started | None = None

# Exceptions that mean a server of the stack did not answer, or went away. RuntimeError: the
# Temporal SDK's failed connect.
CONNECTION_FAILURES = (
    OSError,
    RuntimeError,
    RPCError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    botocore.exceptions.ConnectionError,
    botocore.exceptions.HTTPClientError,
    aiohttp.ClientConnectionError,
)

# Temporal calls that failed for want of an answer; with any other status, the server answered.
UNANSWERED = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNKNOWN)

# Which server a failure came from, by the module of its class or of its traceback's frames.
ORIGINS = (
    ("temporalio", "temporal"),
    ("asyncpg", "postgres"),
    ("redis", "redis"),
    ("stores.queue", "redis"),
    ("aiobotocore", "s3"),
    ("aioboto3", "s3"),
    ("botocore", "s3"),
    ("aiohttp", "s3"),
    ("stores.object_storage", "s3"),
    ("stores.", "postgres"),
)


def run(command: Callable[[SessionsClient], Awaitable[int | None]]) -> None:
    """Run one command of a client of the control plane."""

    async def with_client(settings: Settings) -> int:
        client = SessionsClient(settings)
        try:
            return await command(client) or 0
        finally:
            # A store that went away must not hang the exit, nor hide the command's error.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 5)

    _run(with_client)


def run_admin(command: Callable[[Stores], Awaitable[int | None]]) -> None:
    """Run one admin command, which talks to the stores themselves."""

    async def with_stores(settings: Settings) -> int:
        stores = await Stores.connect(settings)
        try:
            return await command(stores) or 0
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(stores.close(), 5)

    _run(with_stores)


def _run(main: Callable[[Settings], Awaitable[int]]) -> None:
    """Run one command, and leave through a clean exit path: the Temporal SDK can crash at
    interpreter exit, which would change the exit code.

    Whatever happens, the user gets either the command's output or one line on stderr: a
    refusal (exit 1 or 2), or a server of the stack that cannot be reached or was lost (exit 3),
    never a traceback."""
    # While a server is down, asyncpg logs each failed attempt to reconnect its pool (with a
    # traceback) and the Temporal SDK's core each retried call: the command's own error says it
    # in one line.
    logging.getLogger("asyncpg.pool").setLevel(logging.CRITICAL)
    Runtime.set_default(
        Runtime(telemetry=TelemetryConfig(logging=None)), error_if_already_set=False
    )
    settings = Settings()
    try:
        code = asyncio.run(main(settings))
    except Refused as e:
        say(f"error: {e.kind}: {e.message}")
        code = 2 if e.kind == INVALID_ARGUMENT else 1
    except CONNECTION_FAILURES as e:
        say(_lost(e, settings))
        code = 3
    except KeyboardInterrupt:
        going_on = f"; {started.what} goes on server-side: {started.then}" if started else ""
        say(f"interrupted{going_on}")
        code = 130
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def say(line: str) -> None:
    """One line on stderr, as it is: no markup, and never wrapped to the terminal's width."""
    print(" ".join(line.split()), file=sys.stderr, flush=True)


def _lost(error: BaseException, settings: Settings) -> str:
    """The one line that says which server failed and how, and what goes on without the CLI."""
    server = _server(_origin(error), settings)
    reason = _reason(error)
    if isinstance(error, RPCError) and error.status not in UNANSWERED:
        reason = f"{error.status.name}: {reason}"
        head = "the control plane failed"
    else:
        head = "lost the control plane" if started else "cannot reach the control plane"
    line = f"error: {head} ({server}: {reason})" if server else f"error: {head} ({reason})"
    if started is None:
        return line
    return f"{line}; {started.what} goes on server-side: {started.then}"


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if text.startswith("Failed client connect"):
        # The Temporal SDK's transport error, in Rust's debug form: its quoted strings are what
        # happened ("tcp connect error", "Connection refused").
        quoted = re.findall(r'"([^"]+)"', text)
        if quoted:
            text = ": ".join(quoted)
    if len(text) > 300:
        text = text[:299] + "…"
    return text or type(error).__name__


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _origin(error: BaseException) -> str | None:
    """The component a failure came from: the library of its class, or else of the deepest frame
    of its traceback that belongs to a known one."""

    def component(module: str) -> str | None:
        return next((c for prefix, c in ORIGINS if module.startswith(prefix)), None)

    for e in _chain(error):
        if found := component(type(e).__module__):
            return found
    for e in _chain(error):
        for frame, _ in reversed(list(traceback.walk_tb(e.__traceback__))):
            if found := component(frame.f_globals.get("__name__", "")):
                return found
    return None


def _server(origin: str | None, settings: Settings) -> str | None:
    def host_port(url: str) -> str:
        try:
            parts = urlsplit(url)
            return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
        except ValueError:
            return "?"

    return {
        "temporal": f"Temporal at {settings.temporal_address}",
        "postgres": f"PostgreSQL at {host_port(settings.postgres_dsn)}",
        "redis": f"Redis at {host_port(settings.redis_url)}",
        "s3": f"S3 at {settings.s3_endpoint}",
    }.get(origin or "")


def refuse_argument(message: str) -> None:
    """Bad arguments are refused before anything is started."""
    say(f"error: {message}")
    sys.stderr.flush()
    os._exit(2)


# --- output ------------------------------------------------------------------------------------


def show_session(session: Session, as_json: bool, superseded: bool | None = None) -> None:
    """The session; with --json, as one object, which says whether the operation that answered
    it was superseded if `superseded` is given."""
    data = session.to_json()
    if as_json:
        if superseded is not None:
            data["superseded"] = superseded
        print(json.dumps(data))
        return
    table = Table(show_header=False, box=None)
    for key, value in data.items():
        if value is None:
            continue
        if key == "options":
            value = ", ".join(f"{k}={v}" for k, v in value.items() if v not in ("", {}, None))
        table.add_row(key, str(value))
    out.print(table)


def show_rows(rows: list[dict[str, Any]], as_json: bool, **extra: Any) -> None:
    if as_json:
        print(json.dumps({**extra, "items": rows}))
        return
    if not rows:
        out.print("(none)")
        return
    table = Table()
    for name in rows[0]:
        # Ids are there to be copied: never cut nor wrapped.
        table.add_column(name, no_wrap=name.endswith("_id"))
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    _print_whole(table)
    for key, value in extra.items():
        out.print(f"{key}: {value}")


def _print_whole(table: Table) -> None:
    """Print the table on stdout, wider than the terminal if its unwrappable columns (the ids)
    need it: rich would otherwise cut them to fit."""
    wide = out.options.update(max_width=1_000_000)
    needed = Measurement.get(out, wide, table).minimum
    console = out if needed <= out.width else Console(width=needed)
    console.print(table)


def operation_started(what: str, then: str) -> None:
    """Record the operation this command started, for the message if the stack is lost."""
    global started
    started = Started(what, then)


async def follow(handle: OperationHandle, quiet: bool) -> OperationOutcome:
    """Wait for the operation; show its progress on the way unless `quiet`."""
    waiting = asyncio.ensure_future(handle.result())
    if not quiet:
        await _progress_bars(handle, waiting)
    outcome = await waiting
    if outcome.superseded and not quiet:
        err.print("note: a later operation took the session elsewhere before this one ended")
    return outcome


async def _progress_bars(handle: OperationHandle, waiting: asyncio.Future) -> None:
    """Poll the operation's progress until it ends. The bars start with the first step the
    workflow reports; a poll that hangs (the stack is going away) is dropped once the operation
    has ended."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
    )
    bars: dict[str, Any] = {}
    progress = Progress(*columns, console=err, transient=False)
    try:
        while not waiting.done():
            polling = asyncio.ensure_future(handle.progress())
            await asyncio.wait([polling, waiting], return_when=asyncio.FIRST_COMPLETED)
            if not polling.done():
                polling.cancel()
                break
            # The progress display must never break the operation.
            state = None if polling.exception() is not None else polling.result()
            if state is not None:
                note = ""
                if state.retrying:
                    r = state.retrying[0]
                    note = f"retrying {r.activity} (attempt {r.attempt}): {r.last_failure[:60]}"
                _update_bars(progress, bars, handle, state, note)
            await asyncio.wait([waiting], timeout=0.25)
        if waiting.exception() is None and waiting.result().progress is not None:
            _update_bars(progress, bars, handle, waiting.result().progress, "")
    finally:
        if bars:  # stopping a progress that never started would print an empty line
            progress.stop()


def _update_bars(progress: Progress, bars: dict, handle: OperationHandle, state, note: str) -> None:
    for step in state.steps:
        if step.step not in bars:
            if not bars:
                progress.start()
            bars[step.step] = progress.add_task(
                f"{handle.operation.value} {step.step}", total=step.total, note=""
            )
        progress.update(
            bars[step.step],
            completed=step.scanned,
            total=step.total if step.total is not None else step.scanned or None,
            note=note if step.step == state.step else "",
        )


# --- session commands --------------------------------------------------------------------------


@session_app.command("create")
def session_create(
    partition: Annotated[
        list[str] | None, typer.Option("--partition", "-p", help="A partition (repeatable).")
    ] = None,
    priority: Annotated[int, typer.Option(help="Default task priority, 1 to 99.")] = 1,
    max_retries: Annotated[int, typer.Option(help="Default maximum retries, at least 1.")] = 2,
    max_duration: Annotated[
        float, typer.Option(help="Default maximum task duration, in seconds.")
    ] = 3600.0,
    partition_id: Annotated[
        str, typer.Option(help="Default partition of the tasks (one of --partition).")
    ] = "",
    application_name: Annotated[str, typer.Option()] = "",
    application_version: Annotated[str, typer.Option()] = "",
    as_json: JsonOption = False,
) -> None:
    """Create a session, RUNNING and open to submission."""
    options = TaskOptions(
        max_duration=max_duration,
        max_retries=max_retries,
        priority=priority,
        partition_id=partition_id,
        application_name=application_name,
        application_version=application_version,
    )

    async def command(client: SessionsClient) -> None:
        handle = await client.start_create(list(partition or []), options)
        session_id = handle.session_id
        operation_started(
            f"the creation of session {session_id}",
            f'run "armonik-sessions session get {session_id}" to see it',
        )
        show_session((await follow(handle, quiet=True)).session, as_json)

    run(command)


@session_app.command("get")
def session_get(session_id: SessionArg, as_json: JsonOption = False) -> None:
    """Show a session."""

    async def command(client: SessionsClient) -> None:
        show_session(await client.get(session_id), as_json)

    run(command)


async def follow_operation(handle: OperationHandle, as_json: bool, argv: list[str]) -> None:
    """Follow an operation the command (`armonik-sessions` with `argv`) started or joined, and
    show the session it answers."""
    again = shlex.join(["armonik-sessions", *argv, *(["--json"] if as_json else [])])
    operation_started(
        f"the {handle.operation.value} of session {handle.session_id}",
        f'run "{again}" again to follow it',
    )
    outcome = await follow(handle, quiet=as_json)
    show_session(outcome.session, as_json, superseded=outcome.superseded)


def _operation_command(operation: Operation, summary: str) -> None:
    def command_fn(session_id: SessionArg, as_json: OperationJsonOption = False) -> None:
        async def command(client: SessionsClient) -> None:
            handle = await client.start(operation, session_id)
            await follow_operation(handle, as_json, ["session", operation.value, session_id])

        run(command)

    command_fn.__doc__ = summary
    session_app.command(operation.value)(command_fn)


for _operation, _summary in [
    (Operation.CANCEL, "Cancel a session: its unfinished tasks are cancelled, results aborted."),
    (Operation.PAUSE, "Pause a session: its queued and dispatched tasks are paused."),
    (Operation.RESUME, "Resume a paused session: its paused tasks are queued again."),
    (Operation.CLOSE, "Close a session to submission."),
    (Operation.PURGE, "Purge a closed or cancelled session: delete its results' data."),
    (Operation.DELETE, "Delete a session with all its tasks, results and data."),
]:
    _operation_command(_operation, _summary)


@session_app.command("stop-submission")
def session_stop_submission(
    session_id: SessionArg,
    client_flag: Annotated[
        bool, typer.Option("--client", help="Stop submission by clients.")
    ] = False,
    worker_flag: Annotated[
        bool, typer.Option("--worker", help="Stop submission by workers.")
    ] = False,
    as_json: OperationJsonOption = False,
) -> None:
    """Stop submission to a session, by clients and/or workers (both if neither is given)."""
    neither = not (client_flag or worker_flag)
    stop_client, stop_worker = client_flag or neither, worker_flag or neither

    async def command(client: SessionsClient) -> None:
        handle = await client.start(
            Operation.STOP_SUBMISSION, session_id, client=stop_client, worker=stop_worker
        )
        flags = ["--client"] * client_flag + ["--worker"] * worker_flag
        await follow_operation(handle, as_json, ["session", "stop-submission", session_id, *flags])

    run(command)


@session_app.command("list")
def session_list(
    status: Annotated[
        list[StatusName] | None, typer.Option("--status", "-s", help="Keep these (repeatable).")
    ] = None,
    page: Annotated[int, typer.Option(min=0)] = 0,
    page_size: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    sort: Annotated[str, typer.Option(help="Field to sort by.")] = "created_at",
    desc: Annotated[bool, typer.Option("--desc", help="Sort in descending order.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List the sessions, filtered by status."""
    filters = [[Condition("status", "eq", s.name)] for s in status or []]
    try:
        query = ListQuery(filters, sort_field=sort, sort_desc=desc, page=page, page_size=page_size)
    except Refused as e:
        refuse_argument(e.message)

    async def command(client: SessionsClient) -> None:
        sessions, total = await client.list_sessions(query)
        if as_json:
            print(json.dumps({"total": total, "sessions": [s.to_json() for s in sessions]}))
            return
        rows = [
            {
                "session_id": s.session_id,
                "status": s.status.name,
                "partitions": ",".join(s.partition_ids),
                "created_at": s.created_at.isoformat(timespec="seconds"),
            }
            for s in sessions
        ]
        show_rows(rows, False, total=total)

    run(command)


# --- partitions, seed, queue -------------------------------------------------------------------


@partition_app.command("create")
def partition_create(
    partition_id: Annotated[str, typer.Argument(help="The partition id.")],
    priority: Annotated[int, typer.Option(min=0)] = 1,
    pod_max: Annotated[int, typer.Option(min=0)] = 100,
    pod_reserved: Annotated[int, typer.Option(min=0)] = 1,
    preemption_percentage: Annotated[int, typer.Option(min=0, max=100)] = 50,
    parent: Annotated[list[str] | None, typer.Option("--parent", help="Parent partition.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Create (or update) a partition."""
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

    async def command(client: SessionsClient) -> None:
        created = await client.create_partition(partition)
        show_rows([created.__dict__], as_json)

    run(command)


@partition_app.command("list")
def partition_list(as_json: JsonOption = False) -> None:
    """List the partitions."""

    async def command(client: SessionsClient) -> None:
        show_rows([p.__dict__ for p in await client.list_partitions()], as_json)

    run(command)


@app.command("seed")
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
    """Fill a session with tasks spread over its partitions, and results."""
    status = TaskStatus[task_status.name]

    async def command(stores: Stores) -> None:
        report = await seed_session(stores, session_id, tasks, status, results, objects)
        show_rows([report.__dict__], as_json)

    run_admin(command)


@queue_app.command("stats")
def queue_stats(as_json: JsonOption = False) -> None:
    """The number of queued tasks per partition."""

    async def command(stores: Stores) -> None:
        depths = await stores.queue.depths()
        rows = [{"partition_id": p, "depth": n} for p, n in sorted(depths.items())]
        show_rows(rows, as_json)

    run_admin(command)


@queue_app.command("pop")
def queue_pop(
    partition_id: Annotated[str, typer.Argument(help="The partition.")],
    n: Annotated[int, typer.Option("-n", min=1, help="How many tasks to take.")] = 1,
    as_json: JsonOption = False,
) -> None:
    """Take the first tasks of a partition's queue, as a consumer would."""

    async def command(stores: Stores) -> None:
        popped = await stores.queue.pop(partition_id, n)
        show_rows([{"session_id": s, "task_id": t} for s, t in popped], as_json)

    run_admin(command)


@app.command("check")
def check(
    session_ids: Annotated[list[str], typer.Argument(help="Sessions to check (deleted included).")],
    as_json: JsonOption = False,
) -> None:
    """Check the invariants of docs/lifecycle.md on sessions whose operations have finished;
    exit 1 on any violation."""

    async def command(stores: Stores) -> int:
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


@app.command("migrate")
def migrate() -> None:
    """Apply the schema migrations not applied yet (the worker also does at its start)."""

    async def command(stores: Stores) -> None:
        applied = await stores.db.migrate()
        print(f"applied {', '.join(applied)}" if applied else "the schema is up to date")

    run_admin(command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
