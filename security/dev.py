"""The development identities of `make run TLS=1`: the roles admin (every permission),
operator (all but Purge and Delete) and reader (Get and List only), and one user of each name,
named by exactly its certificate (CN and fingerprint) in the development certificates."""

from pathlib import Path

from security.certs import DEV_USERS, ensure_dev_certs, fingerprint
from security.permissions import DEV_ROLES
from stores.auth import AuthTable


async def install_dev_users(auth: AuthTable, certs: Path) -> None:
    ensure_dev_certs(certs)
    for role, permissions in DEV_ROLES.items():
        await auth.put_role(role, permissions)
    for user in DEV_USERS:
        await auth.put_user(user, [user])
        await auth.add_certificate(user, user, fingerprint((certs / f"{user}.crt").read_bytes()))
