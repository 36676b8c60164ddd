"""SessionsTable: one row per session, and the lock that orders the operations on it."""

import asyncpg

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.list_queries import fetch_page
from lifecycle.calls import Guard
from lifecycle.domain import Session, TaskOptions
from lifecycle.statuses import SessionStatus
from lifecycle.transitions import SessionTransition
from stores.queries import ListQuery

COLUMNS = (
    "session_id, status, client_submission, worker_submission, partition_ids, options, epoch,"
    " created_at, cancelled_at, closed_at, purged_at, deleted_at"
)
DATE_COLUMNS = ("created_at", "cancelled_at", "closed_at", "purged_at", "deleted_at")


def _session(row: asyncpg.Record) -> Session:
    data = dict(row)
    data["status"] = SessionStatus(data["status"])
    data["partition_ids"] = list(data["partition_ids"])
    data["options"] = TaskOptions(**data["options"])
    return Session(**data)


class PostgresSessionsTable:
    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    async def insert(
        self,
        conn: asyncpg.Connection,
        session_id: str,
        partition_ids: list[str],
        options: TaskOptions,
    ) -> Session | None:
        """Insert a new RUNNING session, open to submission; None if its id is taken."""
        row = await conn.fetchrow(
            "INSERT INTO sessions (session_id, status, partition_ids, options)"
            " VALUES ($1, $2, $3, $4)"
            f" ON CONFLICT (session_id) DO NOTHING RETURNING {COLUMNS}",
            session_id,
            int(SessionStatus.RUNNING),
            partition_ids,
            options.__dict__,
        )
        return _session(row) if row else None

    async def get(self, session_id: str, conn: asyncpg.Connection | None = None) -> Session | None:
        """The stored row, tombstone included: callers decide what DELETED means to them."""
        row = await (conn or self.db).fetchrow(
            f"SELECT {COLUMNS} FROM sessions WHERE session_id = $1", session_id
        )
        return _session(row) if row else None

    async def get_live(self, session_id: str) -> Session | None:
        """The session, or None if it is missing or deleted (a tombstone counts as missing)."""
        session = await self.get(session_id)
        return session if session is not None and session.status != SessionStatus.DELETED else None

    async def lock(self, conn: asyncpg.Connection, session_id: str) -> Session | None:
        """Lock the row against every other admission and every batch until `conn` commits."""
        row = await conn.fetchrow(
            f"SELECT {COLUMNS} FROM sessions WHERE session_id = $1 FOR UPDATE", session_id
        )
        return _session(row) if row else None

    async def share(self, conn: asyncpg.Connection, session_id: str) -> Session | None:
        row = await conn.fetchrow(
            f"SELECT {COLUMNS} FROM sessions WHERE session_id = $1 FOR SHARE", session_id
        )
        return _session(row) if row else None

    async def hold(self, conn: asyncpg.Connection, session_id: str, guard: Guard) -> bool:
        """Whether a batch guarded by `guard` may commit. The shared lock keeps any admission
        waiting until the batch's transaction ends, so a batch never interleaves with a status
        change: it runs wholly before or wholly after it."""
        row = await conn.fetchrow(
            "SELECT status, epoch FROM sessions WHERE session_id = $1 FOR SHARE", session_id
        )
        return row is not None and guard.allows(row["status"], row["epoch"])

    async def apply(
        self,
        conn: asyncpg.Connection,
        session_id: str,
        to_status: SessionStatus | None,
        *,
        stamp: str | None = None,
        stop_client: bool = False,
        stop_worker: bool = False,
        bump_epoch: bool = False,
        only_from: list[SessionStatus] | None = None,
    ) -> Session | None:
        """Write a transition's effect on the row; None if the row is missing or not in
        `only_from`."""
        if stamp is not None and stamp not in DATE_COLUMNS:
            raise ValueError(f"not a date column: {stamp}")
        stamp_sql = f", {stamp} = now()" if stamp else ""
        row = await conn.fetchrow(
            "UPDATE sessions SET status = COALESCE($2, status), epoch = epoch + $3,"
            " client_submission = client_submission AND NOT $4,"
            f" worker_submission = worker_submission AND NOT $5{stamp_sql}"
            " WHERE session_id = $1 AND ($6::smallint[] IS NULL OR status = ANY($6))"
            f" RETURNING {COLUMNS}",
            session_id,
            int(to_status) if to_status is not None else None,
            1 if bump_epoch else 0,
            stop_client,
            stop_worker,
            [int(s) for s in only_from] if only_from is not None else None,
        )
        return _session(row) if row else None

    async def admit(
        self,
        conn: asyncpg.Connection,
        session_id: str,
        transition: SessionTransition,
        *,
        stop_client: bool = False,
        stop_worker: bool = False,
    ) -> Session:
        session = await self.apply(
            conn,
            session_id,
            transition.admits_to,
            stamp=transition.stamps,
            stop_client=stop_client or transition.stops_submission,
            stop_worker=stop_worker or transition.stops_submission,
            bump_epoch=transition.takes_over_tasks,
        )
        assert session is not None, "admit() runs under lock() of an existing row"
        return session

    async def finish(
        self, conn: asyncpg.Connection, session_id: str, transition: SessionTransition
    ) -> Session | None:
        """Write the transition's last step, if no other operation moved the session since."""
        return await self.apply(
            conn,
            session_id,
            transition.finishes_to,
            stamp=transition.finish_stamps,
            stop_client=True,
            stop_worker=True,
            only_from=list(transition.sweeps_while),
        )

    async def delete(self, conn: asyncpg.Connection, session_id: str) -> None:
        await conn.execute("DELETE FROM sessions WHERE session_id = $1", session_id)

    async def query(self, query: ListQuery) -> tuple[list[Session], int]:
        """A page of the live sessions that match `query`, and how many match in all."""
        rows, total = await fetch_page(self.db, query, COLUMNS)
        return [_session(r) for r in rows], total
