"""The session and partition commands: a thin client of the control plane's gRPC API (ArmoniK's
Sessions and Partitions services, and the control plane's Operations service for progress), at
--endpoint. They connect to nothing else."""

import json
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Annotated

import typer

from client.cli.api_runner import run_api
from client.cli.options import JsonOption, PartitionArg, SessionArg
from client.cli.output import partition_row, refuse_argument, say, show_rows, show_session
from client.cli.runner import Sent, command_line, invocation, this_command
from client.cli.watch import run_with_progress
from client.remote import ApiClient, list_sessions_request
from lifecycle.domain import Session, TaskOptions
from lifecycle.registry import OPERATIONS
from lifecycle.statuses import Operation, SessionStatus
from stores.queries import MAX_PAGE_SIZE

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

StatusName = StrEnum(  # type: ignore[misc]
    "StatusName", {s.name: s.name.lower() for s in SessionStatus if s != SessionStatus.UNSPECIFIED}
)


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
    session, superseded = await run_with_progress(api, operation, session_id, rpc, draw=not as_json)
    if superseded and not as_json:
        say("note: a later operation took the session elsewhere before this one ended")
    show_session(session, as_json, superseded=superseded)


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


def session_get(session_id: SessionArg, as_json: JsonOption = False) -> None:
    """Show a session."""

    async def command(api: ApiClient) -> None:
        show_session(await api.get(session_id), as_json)

    run_api(command)


def session_audit(session_id: SessionArg, as_json: JsonOption = False) -> None:
    """Who asked for each change to a session, when, and what they were answered (admitted:
    OK; refused: the status). Kept after the session is deleted."""

    async def command(api: ApiClient) -> None:
        show_rows(await api.audit(session_id), as_json)

    run_api(command)


def operation_command(operation: Operation) -> Callable[..., None]:
    """The command of an operation on one session (lifecycle.registry's ON_ONE_SESSION), its
    help the registry's summary."""

    def command_fn(session_id: SessionArg, as_json: OperationJsonOption = False) -> None:
        async def command(api: ApiClient) -> None:
            await operate(
                api, operation, session_id, as_json, lambda: api.operate(operation, session_id)
            )

        run_api(command)

    command_fn.__doc__ = (
        f"{OPERATIONS[operation].summary}\n\nIf the CLI loses the API, the operation goes on"
        " server-side: running the same command again joins it."
    )
    return command_fn


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


def partition_list(as_json: JsonOption = False) -> None:
    """List the partitions (through the API)."""

    async def command(api: ApiClient) -> None:
        show_rows([partition_row(p) for p in await api.list_partitions()], as_json)

    run_api(command)


def partition_get(partition_id: PartitionArg, as_json: JsonOption = False) -> None:
    """Show a partition (through the API)."""

    async def command(api: ApiClient) -> None:
        show_rows([partition_row(await api.get_partition(partition_id))], as_json)

    run_api(command)
