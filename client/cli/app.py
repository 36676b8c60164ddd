"""The command tree of armonik-sessions: every group and command under its name, the root's
--endpoint, and main. The commands themselves live by audience: sessions.py (through the API),
admin.py and auth.py (in the stores directly), top.py (the metrics endpoints). The operations'
commands and their help come from lifecycle/registry.py."""

from typing import Annotated

import typer

from client.cli import admin, auth, sessions, top
from client.cli.runner import DEFAULT_ENDPOINT, invocation
from lifecycle.registry import ON_ONE_SESSION, OPERATIONS
from lifecycle.statuses import Operation

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


# `session <command>`, the operations' by lifecycle/registry.py.
session_app.command(OPERATIONS[Operation.CREATE].command)(sessions.session_create)
session_app.command("get")(sessions.session_get)
session_app.command("audit")(sessions.session_audit)
for _operation in ON_ONE_SESSION:
    session_app.command(OPERATIONS[_operation].command)(sessions.operation_command(_operation))
session_app.command(OPERATIONS[Operation.STOP_SUBMISSION].command)(sessions.session_stop_submission)
session_app.command("list")(sessions.session_list)

partition_app.command("list")(sessions.partition_list)
partition_app.command("get")(sessions.partition_get)
partition_app.command("create")(admin.partition_create)

app.command("seed")(admin.seed)
queue_app.command("stats")(admin.queue_stats)
queue_app.command("pop")(admin.queue_pop)
app.command("check")(admin.check)
app.command("migrate")(admin.migrate)
app.command("top")(top.top)

auth_app.command("permissions")(auth.list_permissions)
auth_role_app.command("put")(auth.role_put)
auth_role_app.command("list")(auth.role_list)
auth_role_app.command("remove")(auth.role_remove)
auth_user_app.command("put")(auth.user_put)
auth_user_app.command("certificate")(auth.user_certificate)
auth_user_app.command("list")(auth.user_list)
auth_user_app.command("remove")(auth.user_remove)
auth_app.command("dev-users")(auth.dev_users)


def main() -> None:
    app()
