"""The auth admin commands: who may call which RPC of the API over mutual TLS (docs/security.md).
Certificates name users, users have roles, roles grant permissions named Service:Rpc. They work
on the AuthTable, in PostgreSQL directly (client/cli/store_runner.py)."""

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from client.cli.options import JsonOption
from client.cli.output import not_found, refuse_argument, say, show_rows
from client.cli.store_runner import database, run_admin
from settings import Settings

if TYPE_CHECKING:
    from adapters.postgres.auth_table import PostgresAuthTable

RoleArg = Annotated[str, typer.Argument(help="The role.")]
UserArg = Annotated[str, typer.Argument(help="The user.")]


def run_auth(action: Callable[["PostgresAuthTable"], Awaitable[int | None]]) -> NoReturn:
    """Run one auth admin command on the AuthTable, in PostgreSQL directly."""

    async def command(settings: Settings) -> int | None:
        from adapters.postgres.auth_table import PostgresAuthTable

        async with database(settings) as db:
            return await action(PostgresAuthTable(db))

    run_admin(command)


def list_permissions(as_json: JsonOption = False) -> None:
    """List every permission there is, one per RPC of the API."""
    from security.permissions import ALL

    show_rows([{"permission": p} for p in ALL], as_json)


def role_put(
    name: RoleArg,
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


def role_list(as_json: JsonOption = False) -> None:
    """List the roles and what they grant."""

    async def action(auth: "PostgresAuthTable") -> None:
        rows = [
            {"role": r.name, "permissions": " ".join(r.permissions)} for r in await auth.roles()
        ]
        show_rows(rows, as_json)

    run_auth(action)


def role_remove(name: RoleArg) -> None:
    """Remove a role: the users who had it lose what it granted."""
    run_auth(lambda auth: _remove_with(auth.remove_role, "role", name))


def user_put(
    name: UserArg,
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


def user_certificate(
    name: UserArg,
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


def user_list(as_json: JsonOption = False) -> None:
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


def user_remove(name: UserArg) -> None:
    """Remove a user and the certificates that name it."""
    run_auth(lambda auth: _remove_with(auth.remove_user, "user", name))


async def _remove_with(remove: Callable[[str], Awaitable[bool]], kind: str, name: str) -> int:
    if not await remove(name):
        return not_found(f"no {kind} {name}")
    say(f"{kind} {name} removed")
    return 0


def dev_users(
    certs: Annotated[
        Path, typer.Argument(help="The development certificates (make run TLS=1: .state/certs).")
    ],
) -> None:
    """Set up the development roles and users (admin, operator, reader), each named by its
    certificate in CERTS, making the certificates if they are missing."""

    async def action(auth: "PostgresAuthTable") -> None:
        from security.dev import install_dev_users

        await install_dev_users(auth, certs)
        say(f"users admin, operator and reader, by their certificates in {certs}")

    run_auth(action)
