"""armonik-sessions: drive sessions through their life from a terminal.

What each operation accepts and does, and the invariants `check` checks: docs/lifecycle.md.

The session commands and `partition list` / `partition get` are a thin client of the control
plane's gRPC API (ArmoniK's Sessions and Partitions services, and the control plane's Operations
service for progress), at --endpoint (default: the API_ADDRESS setting): they connect to nothing
else. The admin commands (seed, check, queue, migrate, partition create) talk to the stores
directly, from the stores' settings (POSTGRES_DSN, REDIS_URL, S3_*).

Every session command takes --json and then prints the session as one JSON object on stdout;
for an operation, the object also says whether a later operation superseded it
("superseded": true|false, or null when the CLI could not read the operation's end). Exit codes:
1 for a refusal or any other error the API answers (one line on stderr, `error: <Status>:
<details>`); 2 for bad arguments, refused before any call or answered INVALID_ARGUMENT; 3 for an
API that cannot be reached or is lost on the way (one line on stderr; an operation already sent
goes on server-side, and running the same command again joins it); 130 when interrupted.
"""

import asyncio
import contextlib
import json
import logging
import os
import shlex
import signal
import sys
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn
from urllib.parse import urlsplit

import grpc
import typer
from rich.console import Console
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from client.remote import ApiClient, Watched, list_sessions_request
from lifecycle import progress as models
from lifecycle.domain import Partition, Session, TaskOptions
from lifecycle.eta import format_eta
from lifecycle.refusals import INVALID_ARGUMENT, Refused
from lifecycle.registry import ON_ONE_SESSION, OPERATIONS
from lifecycle.statuses import Operation, SessionStatus, TaskStatus
from lifecycle.transitions import TRANSITIONS
from lifecycle.transitions import superseded as lifecycle_superseded
from security.tls import TlsSettingsError, client_credentials
from settings import Settings
from stores.queries import MAX_PAGE_SIZE
from telemetry.tracing import command_span, start_tracing, stop_tracing
from wire.messages import UNAVAILABLE_TRAILER

if TYPE_CHECKING:
    from adapters.connect import Stores
    from adapters.postgres.auth_table import PostgresAuthTable
    from adapters.postgres.database import PostgresDatabase

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Drive ArmoniK sessions through their life: create, pause, resume, close, purge, delete."
    " What each operation accepts and does: docs/lifecycle.md. The session and partition"
    " commands go through the control plane's gRPC API (--endpoint); the admin commands (seed,"
    " check, queue, migrate, partition create, auth) talk to the stores directly.",
)
session_app = typer.Typer(
    no_args_is_help=True, help="Create, drive and read sessions, through the API."
)
partition_app = typer.Typer(
    no_args_is_help=True,
    help="Read partitions through the API; create them in the stores directly.",
)
queue_app = typer.Typer(
    no_args_is_help=True, help="Look at the partition queues, in the stores directly (admin tools)."
)
app.add_typer(session_app, name="session")
app.add_typer(partition_app, name="partition")
app.add_typer(queue_app, name="queue")
auth_app = typer.Typer(
    no_args_is_help=True,
    help="Who may call which RPC of the API over mutual TLS: certificates name users, users have"
    " roles, roles grant permissions named Service:Rpc (as ArmoniK's). In PostgreSQL directly"
    " (admin tools); docs/security.md.",
)
auth_user_app = typer.Typer(no_args_is_help=True, help="Users, their roles and certificates.")
auth_role_app = typer.Typer(no_args_is_help=True, help="Roles and their permissions.")
auth_app.add_typer(auth_user_app, name="user")
auth_app.add_typer(auth_role_app, name="role")
app.add_typer(auth_app, name="auth")

out = Console()
err = Console(stderr=True)

DEFAULT_ENDPOINT: str = Settings.model_fields["api_address"].default
# How long the live progress waits before it looks again at an operation whose watch ended while
# the RPC has not answered yet (it saw an earlier execution end, or its own just before the
# answer). The RPC's answer ends the wait at once.
RELOOK = 0.25
# How long, at most, the live watch of an operation whose end cannot be read after its answer
# (a Delete) may take to deliver that end: the watch polls the operation four times a second.
LINGER = 2.0
# Admin commands need the stores' settings; this says so when they cannot reach one.
STORES_HINT = "the admin commands talk to the stores directly (POSTGRES_DSN, REDIS_URL, S3_*)"

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
OperationJsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help='Print the session as one JSON object on stdout, with "superseded": true if a later'
        " operation overtook this one (as the operation's last progress, read from the API once"
        " it answered, says; close, stop-submission and delete never are), false if not, null if"
        " that could not be read.",
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
class Sent:
    """What goes on server-side once this command sent its request, and what to run then."""

    what: str  # "the pause of session X goes on server-side"
    then: str  # 'run "armonik-sessions session pause X" again to follow it'


@dataclass
class Invocation:
    """This run of the CLI: the API it calls, and what it sent (for the line that reports a
    loss or an interruption)."""

    endpoint: str = DEFAULT_ENDPOINT
    # Given on the command line: the commands the CLI suggests then repeat it.
    endpoint_given: bool = False
    api: ApiClient | None = None
    sent: Sent | None = None


invocation = Invocation()


@app.callback()
def root(
    ctx: typer.Context,
    endpoint: Annotated[
        str,
        typer.Option(
            "--endpoint",
            envvar="API_ADDRESS",
            metavar="HOST:PORT",
            help="The control plane's gRPC API, for the session commands and partition list/get.",
        ),
    ] = DEFAULT_ENDPOINT,
) -> None:
    invocation.endpoint = endpoint
    source = ctx.get_parameter_source("endpoint")
    invocation.endpoint_given = source is not None and source.name == "COMMANDLINE"


def command_line(*args: str) -> str:
    """A command to suggest to the user, against the same endpoint."""
    endpoint = ["--endpoint", invocation.endpoint] if invocation.endpoint_given else []
    return shlex.join(["armonik-sessions", *endpoint, *args])


def this_command() -> str:
    """The command as the user ran it: running it again joins the operation it started."""
    return shlex.join(["armonik-sessions", *sys.argv[1:]])


def say(line: str) -> None:
    """One line on stderr, as it is: no markup, and never wrapped to the terminal's width."""
    print(" ".join(line.split()), file=sys.stderr, flush=True)


def refuse_argument(message: str) -> NoReturn:
    """Bad arguments are refused before any call."""
    say(f"error: {message}")
    _exit(2)


def _exit(code: int) -> NoReturn:
    """Leave through a clean exit path: gRPC's and the stores' threads can crash or hang at
    interpreter exit, which would change the exit code."""
    stop_tracing()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _finish(
    main: Callable[[], Awaitable[int]],
    unreachable: Callable[[BaseException], bool] = lambda _: False,
    unreachable_line: Callable[[BaseException], str] = str,
) -> NoReturn:
    """Run one command. Whatever happens, the user gets either the command's output or one line
    on stderr, never a traceback: `unreachable` tells the errors that say something the command
    needs cannot be reached (exit 3), in the line `unreachable_line` says."""

    async def interruptible() -> int:
        # Ctrl-C ends the command at once, whatever it awaits: cancelling the command's task
        # instead (asyncio.run's way) waits on every cleanup of the gRPC channel and its streams.
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, _interrupted)
        return await main()

    try:
        code = asyncio.run(interruptible())
    except Refused as e:
        say(f"error: {e.kind}: {e.message}")
        code = 2 if e.kind == INVALID_ARGUMENT else 1
    except KeyboardInterrupt:
        _interrupted()
    except Exception as e:
        if unreachable(e):
            say(unreachable_line(e))
            code = 3
        else:
            say(f"error: {type(e).__name__}: {e}")
            code = 1
    _exit(code)


def _interrupted() -> NoReturn:
    sent = invocation.sent
    reached = invocation.api is not None and invocation.api.reached
    say(f"interrupted; {sent.what}: {sent.then}" if sent and reached else "interrupted")
    _exit(130)


# --- the API's client --------------------------------------------------------------------------


def run_api(command: Callable[[ApiClient], Awaitable[int | None]]) -> NoReturn:
    """Run one command that calls the API."""

    settings = Settings()
    try:
        credentials = client_credentials(settings)
    except TlsSettingsError as error:
        refuse_argument(str(error))
    start_tracing("cli", endpoint=settings.otel_exporter_otlp_endpoint)

    async def main() -> int:
        with command_span(this_command()):
            return await calls()

    async def calls() -> int:
        async with ApiClient(invocation.endpoint, credentials) as api:
            invocation.api = api
            try:
                return await command(api) or 0
            except grpc.aio.AioRpcError as error:
                return _failed(error, api)

    _finish(main)


def _failed(error: grpc.aio.AioRpcError, api: ApiClient) -> int:
    """Say what went wrong in one line; the exit code."""
    code = error.code()
    details = " ".join((error.details() or "").split()) or code.name
    if len(details) > 300:
        details = details[:299] + "…"
    if code != grpc.StatusCode.UNAVAILABLE:
        say(f"error: {_status_name(code)}: {details}")
        return 2 if code == grpc.StatusCode.INVALID_ARGUMENT else 1
    sent = invocation.sent
    if any(key == UNAVAILABLE_TRAILER for key, _ in error.trailing_metadata() or ()):
        # Answered by the server: a store or Temporal behind it is down. Whether the operation
        # started before that, the server did not say.
        line = f"error: the control plane at {api.endpoint} is unavailable ({details})"
        going_on = f"; if it started, {sent.what}: {sent.then}" if sent else ""
    elif api.reached:
        line = f"error: lost the control plane at {api.endpoint} ({details})"
        going_on = f"; {sent.what}: {sent.then}" if sent else ""
    else:
        # Nothing reached the server: nothing goes on.
        line = f"error: cannot reach the control plane at {api.endpoint} ({details})"
        going_on = ""
    say(line + going_on)
    return 3


def _status_name(code: grpc.StatusCode) -> str:
    """NOT_FOUND -> NotFound, as lifecycle.refusals names the refusals."""
    return "".join(word.capitalize() for word in code.name.split("_"))


# --- output ------------------------------------------------------------------------------------


def show_session(session: Session, as_json: bool, superseded: Any = ...) -> None:
    """The session; with --json, as one object, which says whether the operation that answered
    it was superseded if `superseded` is given (None: the CLI could not tell)."""
    data = session.to_json()
    if as_json:
        if superseded is not ...:
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


def speed(step: models.StepProgress) -> str:
    """ "98,000/s, about 7 s left", as the workflow measured it."""
    if not step.rate:
        return ""
    if step.eta_seconds is None or step.done:
        return f"{step.rate:,.0f}/s"
    return f"{step.rate:,.0f}/s, {format_eta(step.eta_seconds)} left"


class Bars:
    """One progress bar per step of an operation, on stderr, drawn from its progress messages."""

    def __init__(self, operation: Operation) -> None:
        self.operation = operation
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[speed]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}"),
            console=err,
            transient=False,
        )
        self.bars: dict[str, Any] = {}

    def draw(self, state: models.Progress) -> None:
        note = ""
        if state.failing:
            f = next((f for f in state.failing if f.stalled), state.failing[0])
            label = "STALLED" if f.stalled else "retrying"
            note = f"{label} {f.step}, {f.calls} failed call(s): {f.last_failure[:60]}"
        elif state.retrying:
            r = state.retrying[0]
            note = f"retrying {r.activity} (attempt {r.attempt}): {r.last_failure[:60]}"
        for step in state.steps:
            if step.step not in self.bars:
                if not self.bars:
                    self.progress.start()
                self.bars[step.step] = self.progress.add_task(
                    f"{self.operation.value} {step.step}", total=step.total, note="", speed=""
                )
            self.progress.update(
                self.bars[step.step],
                completed=step.scanned,
                total=step.total if step.total is not None else step.scanned or None,
                note=note if step.step == state.step else "",
                speed=speed(step),
            )

    def stop(self) -> None:
        if self.bars:  # stopping a progress that never started would print an empty line
            self.progress.stop()


# --- operations --------------------------------------------------------------------------------


async def operate(
    api: ApiClient,
    operation: Operation,
    session_id: str,
    as_json: bool,
    rpc: Callable[[], Awaitable[Session]],
) -> None:
    """Run the operation's RPC, which answers once the operation is done, with its progress
    drawn beside it from the API (unless --json), and show the session it answers."""
    invocation.sent = Sent(
        f"the {operation.value} of session {session_id} goes on server-side",
        f'run "{this_command()}" again to follow it',
    )
    bars = Bars(operation) if TRANSITIONS[operation].sweeps and not as_json else None
    readable_end = can_be_superseded(operation)
    answer = asyncio.ensure_future(rpc())
    try:
        if bars is not None:
            # A Delete's end cannot be read once it answered (the session is gone): its live
            # watch is left a moment to deliver it.
            linger = 0.0 if readable_end else LINGER
            await _draw_until_answered(api, operation, session_id, answer, bars, linger)
        session = await answer
        superseded = await _superseded(api, operation, session, bars) if readable_end else False
    finally:
        answer.cancel()
        if bars is not None:
            bars.stop()
    if superseded and not as_json:
        say("note: a later operation took the session elsewhere before this one ended")
    show_session(session, as_json, superseded=superseded)


def can_be_superseded(operation: Operation) -> bool:
    """Only a sweep can be overtaken, and nothing overtakes a Delete: the lifecycle's rule,
    asked about a session that is gone, answers True for exactly the operations that can be."""
    return lifecycle_superseded(operation, 0, finished=False, current=None)


async def _superseded(
    api: ApiClient, operation: Operation, session: Session, bars: Bars | None
) -> bool | None:
    """Whether a later operation overtook this one, which ArmoniK's answer does not say.

    The operation's last progress says: once the RPC answered, the session's latest
    execution of the operation is the one that answered, and a watch of it answers its last
    progress at once (the bars show it too). If it cannot be read, a session answered DELETED
    was overtaken (only a Delete takes it there, and it stops every sweep); otherwise the CLI
    cannot tell (None)."""
    last = await _last_progress(api, operation, session.session_id)
    if last is None:
        return True if session.status == SessionStatus.DELETED else None
    if bars is not None:
        bars.draw(last.progress)
    return last.progress.state == "superseded"


async def _draw_until_answered(
    api: ApiClient,
    operation: Operation,
    session_id: str,
    answer: asyncio.Future,
    bars: Bars,
    linger: float,
) -> None:
    """Draw the operation's progress from WatchOperation until the RPC answers (and then for at
    most `linger` seconds more, until the watch ends). A watch that fails stops the drawing,
    never the command: the RPC's answer decides."""
    while not answer.done():
        drawing = asyncio.ensure_future(_draw_one_watch(api, operation, session_id, bars))
        await asyncio.wait([drawing, answer], return_when=asyncio.FIRST_COMPLETED)
        if not drawing.done() and linger and not answer.cancelled() and not answer.exception():
            await asyncio.wait([drawing], timeout=linger)
        if not drawing.done():
            drawing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drawing
            return
        if drawing.exception() is not None:
            return
        await asyncio.wait([answer], timeout=RELOOK)


async def _draw_one_watch(
    api: ApiClient, operation: Operation, session_id: str, bars: Bars
) -> None:
    async with contextlib.aclosing(api.watch(operation, session_id)) as stream:
        first = True
        async for watched in stream:
            # A watch that starts with an end found an execution over before this one began
            # (an earlier pause of the session), or this one just done: the RPC's answer and
            # the last progress read after it tell which. Its figures are not drawn.
            if first and watched.ended:
                return
            first = False
            bars.draw(watched.progress)


async def _last_progress(api: ApiClient, operation: Operation, session_id: str) -> Watched | None:
    """The operation's last progress once it has ended; None if it cannot be read (the API
    lost, a server without the Operations service) or a newer execution already runs."""
    try:
        last = await api.last_progress(operation, session_id)
    except Exception:
        return None
    return last if last.ended else None


# --- session commands --------------------------------------------------------------------------


@session_app.command(OPERATIONS[Operation.CREATE].command)
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

    async def command(api: ApiClient) -> None:
        newest = command_line("session", "list", "--sort", "created_at", "--desc")
        invocation.sent = Sent(
            "the creation of the session goes on server-side",
            f'"{newest}" lists the newest sessions first',
        )
        session_id = await api.create(list(partition or []), options)
        get = command_line("session", "get", session_id)
        invocation.sent = Sent(f"session {session_id} was created", f'run "{get}" to see it')
        show_session(await api.get(session_id), as_json)

    run_api(command)


@session_app.command("get")
def session_get(session_id: SessionArg, as_json: JsonOption = False) -> None:
    """Show a session."""

    async def command(api: ApiClient) -> None:
        show_session(await api.get(session_id), as_json)

    run_api(command)


@session_app.command("audit")
def session_audit(session_id: SessionArg, as_json: JsonOption = False) -> None:
    """Who asked for each change to a session, when, and what they were answered (admitted:
    OK; refused: the status). Kept after the session is deleted."""

    async def command(api: ApiClient) -> None:
        show_rows(await api.audit(session_id), as_json)

    run_api(command)


def _operation_command(operation: Operation) -> None:
    """The command of an operation on one session, its name and help lifecycle.registry's."""
    spec = OPERATIONS[operation]

    def command_fn(session_id: SessionArg, as_json: OperationJsonOption = False) -> None:
        async def command(api: ApiClient) -> None:
            await operate(
                api, operation, session_id, as_json, lambda: api.operate(operation, session_id)
            )

        run_api(command)

    command_fn.__doc__ = (
        f"{spec.summary}\n\nIf the CLI loses the API, the operation goes on server-side: running"
        " the same command again joins it."
    )
    session_app.command(spec.command)(command_fn)


for _operation in ON_ONE_SESSION:
    _operation_command(_operation)


@session_app.command(OPERATIONS[Operation.STOP_SUBMISSION].command)
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

    async def command(api: ApiClient) -> None:
        await operate(
            api,
            Operation.STOP_SUBMISSION,
            session_id,
            as_json,
            lambda: api.stop_submission(session_id, client=stop_client, worker=stop_worker),
        )

    run_api(command)


@session_app.command("list")
def session_list(
    status: Annotated[
        list[StatusName] | None, typer.Option("--status", "-s", help="Keep these (repeatable).")
    ] = None,
    page: Annotated[int, typer.Option(min=0)] = 0,
    page_size: Annotated[int, typer.Option(min=1, max=MAX_PAGE_SIZE)] = 100,
    sort: Annotated[
        str,
        typer.Option(
            help="Field to sort by: a session field (session_id, status, created_at, closed_at,"
            " duration, ...), a task option (options.priority, options.max_retries, ...) or"
            " options.options.KEY."
        ),
    ] = "created_at",
    desc: Annotated[bool, typer.Option("--desc", help="Sort in descending order.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List the sessions, filtered by status."""
    statuses = [SessionStatus[s.name] for s in status or []]
    try:
        request = list_sessions_request(statuses, sort, desc, page, page_size)
    except ValueError as e:
        refuse_argument(str(e))

    async def command(api: ApiClient) -> None:
        sessions, total = await api.list_sessions(request)
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

    run_api(command)


# --- partitions --------------------------------------------------------------------------------


def partition_row(partition: Partition) -> dict[str, Any]:
    return dict(partition.__dict__)


@partition_app.command("list")
def partition_list(as_json: JsonOption = False) -> None:
    """List the partitions (through the API)."""

    async def command(api: ApiClient) -> None:
        show_rows([partition_row(p) for p in await api.list_partitions()], as_json)

    run_api(command)


@partition_app.command("get")
def partition_get(
    partition_id: Annotated[str, typer.Argument(help="The partition id.")],
    as_json: JsonOption = False,
) -> None:
    """Show a partition (through the API)."""

    async def command(api: ApiClient) -> None:
        show_rows([partition_row(await api.get_partition(partition_id))], as_json)

    run_api(command)


# --- admin commands: the stores, directly ------------------------------------------------------


def run_admin(command: Callable[[Settings], Awaitable[int | None]]) -> NoReturn:
    """Run one admin command, which opens the stores it needs from the settings. A store it
    cannot reach, or that goes away, is one line on stderr and exit 3: stores/failures.py tells
    such a failure, as the retries metric does."""
    # The store clients are imported here only: the API's commands never load them.
    from stores.failures import OTHER, failure_cause

    # While PostgreSQL is down, asyncpg logs each failed attempt to reconnect its pool (with a
    # traceback): the command's own error says it in one line.
    logging.getLogger("asyncpg.pool").setLevel(logging.CRITICAL)
    settings = Settings()

    async def main() -> int:
        return await command(settings) or 0

    _finish(main, lambda e: failure_cause(e) != OTHER, lambda e: _store_failure(e, settings))


@contextlib.asynccontextmanager
async def all_stores(settings: Settings) -> AsyncIterator["Stores"]:
    from adapters.connect import Stores

    stores = await Stores.connect(settings)
    try:
        yield stores
    finally:
        # A store that went away must not hang the exit, nor hide the command's error.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(stores.close(), 5)


@contextlib.asynccontextmanager
async def database(settings: Settings) -> AsyncIterator["PostgresDatabase"]:
    from adapters.postgres.database import PostgresDatabase

    db = await PostgresDatabase.connect(settings.postgres_dsn, 1, settings.store_timeout)
    try:
        yield db
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(db.close(), 5)


# Which store a failure came from, by the module of its class or of its traceback's frames.
ORIGINS = (
    ("asyncpg", "postgres"),
    ("redis", "redis"),
    ("adapters.redis", "redis"),
    ("aiobotocore", "s3"),
    ("aioboto3", "s3"),
    ("botocore", "s3"),
    ("aiohttp", "s3"),
    ("adapters.s3", "s3"),
    ("adapters.postgres", "postgres"),
)


def _store_failure(error: BaseException, settings: Settings) -> str:
    """The one line that says which store failed, and how."""
    text = " ".join(str(error).split())
    if len(text) > 300:
        text = text[:299] + "…"
    reason = text or type(error).__name__
    server = _server(_origin(error), settings)
    return f"error: cannot reach {server or 'a store'} ({reason}); {STORES_HINT}"


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _origin(error: BaseException) -> str | None:
    """The store a failure came from: the library of its class, or else of the deepest frame of
    its traceback that belongs to a known one."""

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
        "postgres": f"PostgreSQL at {host_port(settings.postgres_dsn)}",
        "redis": f"Redis at {host_port(settings.redis_url)}",
        "s3": f"S3 at {settings.s3_endpoint}",
    }.get(origin or "")


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


@queue_app.command("stats")
def queue_stats(as_json: JsonOption = False) -> None:
    """The number of queued tasks per partition, from the stores directly (an admin tool).

    It needs the stores' settings (POSTGRES_DSN, REDIS_URL, S3_*), not the endpoint."""

    async def command(settings: Settings) -> None:
        async with all_stores(settings) as stores:
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
    """Take the first tasks of a partition's queue, from the stores directly (an admin tool).

    As a consumer would. It needs the stores' settings (POSTGRES_DSN, REDIS_URL, S3_*), not the
    endpoint."""

    async def command(settings: Settings) -> None:
        async with all_stores(settings) as stores:
            popped = await stores.queue.pop(partition_id, n)
        show_rows([{"session_id": s, "task_id": t} for s, t in popped], as_json)

    run_admin(command)


@app.command("check")
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


@app.command("migrate")
def migrate() -> None:
    """Apply the schema migrations not applied yet, in PostgreSQL directly (an admin tool).

    The worker also does at its start. It needs the stores' settings (POSTGRES_DSN), not the
    endpoint."""

    async def command(settings: Settings) -> None:
        async with database(settings) as db:
            applied = await db.migrate()
        print(f"applied {', '.join(applied)}" if applied else "the schema is up to date")

    run_admin(command)


@app.command("top")
def top(
    metrics_url: Annotated[
        list[str] | None,
        typer.Option(
            "--metrics",
            metavar="URL",
            help="A metrics endpoint to read, http://HOST:PORT/metrics (repeatable): instead of"
            " those the stack lists.",
        ),
    ] = None,
    interval: Annotated[
        float,
        typer.Option(
            min=0.1, metavar="SECONDS", help="Seconds between two reads of the endpoints."
        ),
    ] = 2.0,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Print one frame, after two reads one interval apart, and exit (3 if no"
            " endpoint answered).",
        ),
    ] = False,
) -> None:
    """Live figures of the control plane, as the dashboard shows them: operations by status,
    rows per second, retries, queue depth, API latency (docs/operability.md).

    Read from the Prometheus endpoints of the API server and the workers: by default those
    `make run` lists in its state directory (metrics.json in $ARMONIK_STATE_DIR, or .state in the
    current directory). An endpoint that does not answer shows as down. Ctrl-C leaves."""
    from client import top as live_top

    try:
        endpoints = live_top.endpoints(metrics_url or [], Settings().state_dir)
    except live_top.NoEndpoints as error:
        refuse_argument(str(error))
    try:
        code = live_top.run(endpoints, interval, once, out)
    except KeyboardInterrupt:
        code = 0
    _exit(code)


# --- auth: admin commands on the AuthTable -----------------------------------------------------


def run_auth(action: Callable[["PostgresAuthTable"], Awaitable[int | None]]) -> NoReturn:
    """Run one auth admin command on the AuthTable, in PostgreSQL directly."""

    async def command(settings: Settings) -> int | None:
        from adapters.postgres.auth_table import PostgresAuthTable

        async with database(settings) as db:
            return await action(PostgresAuthTable(db))

    run_admin(command)


def not_found(what: str) -> int:
    say(f"error: NotFound: {what}")
    return 1


@auth_app.command("permissions")
def auth_permissions(as_json: JsonOption = False) -> None:
    """List every permission there is, one per RPC of the API."""
    from security.permissions import ALL

    show_rows([{"permission": p} for p in ALL], as_json)


@auth_role_app.command("put")
def auth_role_put(
    name: Annotated[str, typer.Argument(help="The role.")],
    permissions: Annotated[
        list[str],
        typer.Argument(help="What it grants: Sessions:PauseSession ... (see auth permissions)."),
    ],
) -> None:
    """Create a role, or set what an existing one grants."""
    from security.permissions import ALL

    unknown = sorted(set(permissions) - set(ALL))
    if unknown:
        refuse_argument(f"no such permission: {', '.join(unknown)} (see: auth permissions)")
    if not name.strip():
        refuse_argument("the role's name must not be empty")

    async def action(auth: "PostgresAuthTable") -> None:
        await auth.put_role(name, permissions)
        say(f"role {name}: {len(set(permissions))} permission(s)")

    run_auth(action)


@auth_role_app.command("list")
def auth_role_list(as_json: JsonOption = False) -> None:
    """List the roles and what they grant."""

    async def action(auth: "PostgresAuthTable") -> None:
        rows = [
            {"role": r.name, "permissions": " ".join(r.permissions)} for r in await auth.roles()
        ]
        show_rows(rows, as_json)

    run_auth(action)


@auth_role_app.command("remove")
def auth_role_remove(name: Annotated[str, typer.Argument(help="The role.")]) -> None:
    """Remove a role: the users who had it lose what it granted."""
    run_auth(lambda auth: _remove_with(auth.remove_role, "role", name))


@auth_user_app.command("put")
def auth_user_put(
    name: Annotated[str, typer.Argument(help="The user.")],
    role: Annotated[
        list[str] | None, typer.Option("--role", help="A role it has (repeat).")
    ] = None,
) -> None:
    """Create a user, or set its roles. Certificates name it with `auth user certificate`."""
    if not name.strip():
        refuse_argument("the user's name must not be empty")
    roles = list(role or [])

    async def action(auth: "PostgresAuthTable") -> int:
        unknown = sorted(set(roles) - {r.name for r in await auth.roles()})
        if unknown:
            return not_found(f"no role {', '.join(unknown)} (see: auth role list)")
        await auth.put_user(name, roles)
        say(f"user {name}: roles {', '.join(sorted(set(roles))) or '(none)'}")
        return 0

    run_auth(action)


@auth_user_app.command("certificate")
def auth_user_certificate(
    name: Annotated[str, typer.Argument(help="The user.")],
    cert: Annotated[
        Path | None,
        typer.Option(help="A PEM certificate: it alone names the user (its CN and fingerprint)."),
    ] = None,
    cn: Annotated[
        str | None, typer.Option("--cn", help="Any certificate with this CN names the user.")
    ] = None,
) -> None:
    """Say which client certificate names a user: one certificate (--cert), or any that the CA
    signed with a given CN (--cn)."""
    if (cert is None) == (cn is None):
        refuse_argument("give one of --cert FILE or --cn NAME")
    if cert is not None:
        common_name, print_ = _certificate_identity(cert)
    else:
        assert cn is not None
        if not cn.strip():
            refuse_argument("--cn must not be empty")
        common_name, print_ = cn, ""

    async def action(auth: "PostgresAuthTable") -> int:
        if name not in {u.name for u in await auth.users()}:
            return not_found(f"no user {name} (see: auth user list)")
        await auth.add_certificate(name, common_name, print_)
        which = f"the certificate {print_}" if print_ else "any certificate"
        say(f"user {name}: {which} with CN={common_name}")
        return 0

    run_auth(action)


def _certificate_identity(path: Path) -> tuple[str, str]:
    """The CN and fingerprint of the PEM certificate in `path`."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from security.certs import fingerprint

    try:
        pem = path.read_bytes()
        names = x509.load_pem_x509_certificate(pem).subject.get_attributes_for_oid(
            NameOID.COMMON_NAME
        )
    except (OSError, ValueError) as error:
        refuse_argument(f"cannot read a PEM certificate from {path}: {error}")
    if not names:
        refuse_argument(f"the certificate in {path} has no CN")
    return str(names[0].value), fingerprint(pem)


@auth_user_app.command("list")
def auth_user_list(as_json: JsonOption = False) -> None:
    """List the users, their roles and the certificates that name them."""

    async def action(auth: "PostgresAuthTable") -> None:
        rows = [
            {
                "user": u.name,
                "roles": " ".join(u.roles),
                "certificates": " ".join(
                    f"CN={c}" + (f"/{f}" if f else "") for c, f in u.certificates
                ),
            }
            for u in await auth.users()
        ]
        show_rows(rows, as_json)

    run_auth(action)


@auth_user_app.command("remove")
def auth_user_remove(name: Annotated[str, typer.Argument(help="The user.")]) -> None:
    """Remove a user and the certificates that name it."""
    run_auth(lambda auth: _remove_with(auth.remove_user, "user", name))


async def _remove_with(remove: Callable[[str], Awaitable[bool]], kind: str, name: str) -> int:
    if not await remove(name):
        return not_found(f"no {kind} {name}")
    say(f"{kind} {name} removed")
    return 0


@auth_app.command("dev-users")
def auth_dev_users(
    certs: Annotated[
        Path, typer.Argument(help="The development certificates (make run TLS=1: .state/certs).")
    ],
) -> None:
    """Set up the development roles and users (admin, operator, reader), each named by its
    certificate in CERTS, making the certificates if they are missing."""

    async def action(auth: "PostgresAuthTable") -> None:
        from security.dev import install_dev_users

        await install_dev_users(auth.db, certs)
        say(f"users admin, operator and reader, by their certificates in {certs}")

    run_auth(action)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
