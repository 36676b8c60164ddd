"""AuditLog: who asked for each change to a session, when, and what they were answered."""

from adapters.postgres.database import PostgresDatabase
from stores.audit import AuditEntry


class PostgresAuditLog:
    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    async def record(self, entry: AuditEntry) -> None:
        await self.db.execute(
            "INSERT INTO audit (at, requested_by, permission, session_id, code, detail)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            entry.at,
            entry.requested_by,
            entry.permission,
            entry.session_id,
            entry.code,
            entry.detail,
        )

    async def of_session(self, session_id: str) -> list[AuditEntry]:
        rows = await self.db.fetch(
            "SELECT at, requested_by, permission, session_id, code, detail FROM audit"
            " WHERE session_id = $1 ORDER BY seq",
            session_id,
        )
        return [AuditEntry(**dict(r)) for r in rows]
