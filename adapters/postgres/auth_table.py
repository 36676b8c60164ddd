"""AuthTable: the certificates, users and roles that say who may call which RPC (ArmoniK's
authentication data: a certificate names a user, a user has roles, a role grants
permissions)."""

from adapters.postgres.database import PostgresDatabase
from stores.auth import Identity, Role, User


class PostgresAuthTable:
    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    async def identify(self, common_name: str, fingerprint: str) -> Identity | None:
        """The user of a certificate with this CN and fingerprint: the entry for exactly this
        certificate if there is one, else the entry for its CN alone; None if neither."""
        row = await self.db.fetchrow(
            "SELECT c.user_name, u.roles,"
            " array(SELECT DISTINCT p FROM auth_roles r, unnest(r.permissions) p"
            "       WHERE r.role_name = ANY(u.roles)) AS permissions"
            " FROM auth_certificates c JOIN auth_users u USING (user_name)"
            " WHERE c.cn = $1 AND c.fingerprint IN ($2, '')"
            " ORDER BY c.fingerprint = '' LIMIT 1",
            common_name,
            fingerprint.lower(),
        )
        if row is None:
            return None
        return Identity(
            row["user_name"], frozenset(row["permissions"]), tuple(sorted(row["roles"]))
        )

    async def put_role(self, name: str, permissions: list[str]) -> None:
        await self.db.execute(
            "INSERT INTO auth_roles (role_name, permissions) VALUES ($1, $2)"
            " ON CONFLICT (role_name) DO UPDATE SET permissions = EXCLUDED.permissions",
            name,
            sorted(set(permissions)),
        )

    async def put_user(self, name: str, roles: list[str]) -> None:
        await self.db.execute(
            "INSERT INTO auth_users (user_name, roles) VALUES ($1, $2)"
            " ON CONFLICT (user_name) DO UPDATE SET roles = EXCLUDED.roles",
            name,
            sorted(set(roles)),
        )

    async def add_certificate(self, user: str, common_name: str, fingerprint: str = "") -> None:
        await self.db.execute(
            "INSERT INTO auth_certificates (cn, fingerprint, user_name) VALUES ($1, $2, $3)"
            " ON CONFLICT (cn, fingerprint) DO UPDATE SET user_name = EXCLUDED.user_name",
            common_name,
            fingerprint.lower(),
            user,
        )

    async def remove_user(self, name: str) -> bool:
        """Whether there was such a user; its certificates go with it."""
        return await self.db.execute("DELETE FROM auth_users WHERE user_name = $1", name) != (
            "DELETE 0"
        )

    async def remove_role(self, name: str) -> bool:
        return await self.db.execute("DELETE FROM auth_roles WHERE role_name = $1", name) != (
            "DELETE 0"
        )

    async def users(self) -> list[User]:
        rows = await self.db.fetch(
            "SELECT u.user_name, u.roles,"
            " array(SELECT array[c.cn, c.fingerprint] FROM auth_certificates c"
            "       WHERE c.user_name = u.user_name ORDER BY c.cn, c.fingerprint) AS certificates"
            " FROM auth_users u ORDER BY u.user_name"
        )
        return [
            User(r["user_name"], list(r["roles"]), [tuple(c) for c in r["certificates"]])
            for r in rows
        ]

    async def roles(self) -> list[Role]:
        rows = await self.db.fetch(
            "SELECT role_name, permissions FROM auth_roles ORDER BY role_name"
        )
        return [Role(r["role_name"], list(r["permissions"])) for r in rows]
