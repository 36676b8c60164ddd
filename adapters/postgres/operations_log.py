"""The operations admitted on each session, and the checkpoints of their batch steps.

Neither is a participant of the seed diagrams: they are what makes each arrow safe to retry.
"""

import asyncpg

from adapters.postgres.database import PostgresDatabase
from lifecycle.progress import StepProgress
from lifecycle.statuses import Operation
from stores.keyset import Acked
from stores.operations import AdmittedOperation

OPERATION_COLUMNS = (
    "op_id, seq, session_id, operation, from_status, to_status, epoch,"
    " finished_at IS NOT NULL AS finished, finished_seq, requested_by"
)
STEP_COLUMNS = "step, cursor, total, done, scanned, changed, batches_started, batches_committed"


def _operation(row: asyncpg.Record) -> AdmittedOperation:
    return AdmittedOperation(**{**dict(row), "operation": Operation(row["operation"])})


class PostgresOperationsLog:
    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    async def find(self, conn: asyncpg.Connection, op_id: str) -> AdmittedOperation | None:
        row = await conn.fetchrow(
            f"SELECT {OPERATION_COLUMNS} FROM operations WHERE op_id = $1", op_id
        )
        return _operation(row) if row else None

    async def record(
        self,
        conn: asyncpg.Connection,
        op_id: str,
        session_id: str,
        operation: Operation,
        from_status: int | None,
        to_status: int | None,
        epoch: int,
        requested_by: str = "",
    ) -> None:
        await conn.execute(
            "INSERT INTO operations"
            " (op_id, session_id, operation, from_status, to_status, epoch, requested_by)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            op_id,
            session_id,
            operation.value,
            from_status,
            to_status,
            epoch,
            requested_by,
        )

    async def finish(self, conn: asyncpg.Connection, op_id: str) -> None:
        await conn.execute(
            "UPDATE operations SET finished_at = now(),"
            " finished_seq = nextval(pg_get_serial_sequence('operations', 'seq'))"
            " WHERE op_id = $1",
            op_id,
        )

    async def of_session(self, session_id: str) -> list[AdmittedOperation]:
        rows = await self.db.fetch(
            f"SELECT {OPERATION_COLUMNS} FROM operations WHERE session_id = $1 ORDER BY seq",
            session_id,
        )
        return [_operation(r) for r in rows]

    async def forget_session(self, conn: asyncpg.Connection, session_id: str) -> None:
        await conn.execute("DELETE FROM operation_steps WHERE session_id = $1", session_id)
        await conn.execute("DELETE FROM operations WHERE session_id = $1", session_id)

    async def count_batch_start(
        self, op_id: str, step: str, session_id: str, batches: int = 1, conn=None
    ) -> None:
        """Count batches (or calls) before they begin, outside their transaction, so that one
        cut short by a crash is counted too."""
        await (conn or self.db).execute(
            "INSERT INTO operation_steps (op_id, step, session_id, batches_started)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (op_id, step) DO UPDATE"
            " SET batches_started = operation_steps.batches_started + $4, updated_at = now()",
            op_id,
            step,
            session_id,
            batches,
        )

    async def lock_step(self, conn: asyncpg.Connection, op_id: str, step: str) -> None:
        """Hold the step for `conn`'s session (until unlock_step, or the connection's end): a
        step that commits once per call, not once per transaction, keeps its attempts one at a
        time this way. A wait is bounded by the store timeout, as every statement."""
        await conn.execute("SELECT pg_advisory_lock(hashtext($1), hashtext($2))", op_id, step)

    async def unlock_step(self, conn: asyncpg.Connection, op_id: str, step: str) -> None:
        await conn.execute("SELECT pg_advisory_unlock(hashtext($1), hashtext($2))", op_id, step)

    async def acknowledged(self, conn: asyncpg.Connection, op_id: str, step: str) -> Acked:
        """The spans beyond the step's cursor that calls acknowledged (checkpoint() locks the
        row; read this in the same transaction)."""
        found = await conn.fetchval(
            "SELECT acked FROM operation_steps WHERE op_id = $1 AND step = $2", op_id, step
        )
        return [(a, b) for a, b in found or []]

    async def acknowledge(
        self,
        conn: asyncpg.Connection,
        op_id: str,
        step: str,
        cursor: str,
        acked: Acked,
        scanned: int,
        changed: int,
        done: bool,
        calls: int = 1,
    ) -> None:
        """Record one acknowledged call (`calls` 0: a part of a span with nothing to call): the
        new cursor and spans beyond it, and its figures."""
        await conn.execute(
            "UPDATE operation_steps SET cursor = $3, acked = $4, scanned = scanned + $5,"
            " changed = changed + $6, done = $7, batches_committed = batches_committed + $8,"
            " updated_at = now() WHERE op_id = $1 AND step = $2",
            op_id,
            step,
            cursor,
            [list(span) for span in acked],
            scanned,
            changed,
            done,
            calls,
        )

    async def record_total(self, op_id: str, step: str, session_id: str, total: int) -> None:
        await self.db.execute(
            "INSERT INTO operation_steps (op_id, step, session_id, total) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (op_id, step) DO UPDATE SET total = $4, updated_at = now()",
            op_id,
            step,
            session_id,
            total,
        )

    async def checkpoint(self, conn: asyncpg.Connection, op_id: str, step: str) -> StepProgress:
        """The step's checkpoint, locked until `conn` commits: two attempts of one activity (a
        retry started while a presumed-dead worker still runs) take batches one at a time."""
        row = await conn.fetchrow(
            f"SELECT {STEP_COLUMNS} FROM operation_steps WHERE op_id = $1 AND step = $2 FOR UPDATE",
            op_id,
            step,
        )
        assert row is not None, "count_batch_start() creates the row"
        return StepProgress(**dict(row))

    async def advance(
        self,
        conn: asyncpg.Connection,
        op_id: str,
        step: str,
        cursor: str,
        scanned: int,
        changed: int,
        done: bool,
    ) -> None:
        await conn.execute(
            "UPDATE operation_steps SET cursor = $3, scanned = scanned + $4,"
            " changed = changed + $5, done = $6, batches_committed = batches_committed + 1,"
            " updated_at = now() WHERE op_id = $1 AND step = $2",
            op_id,
            step,
            cursor,
            scanned,
            changed,
            done,
        )

    async def steps(self, op_id: str) -> list[StepProgress]:
        rows = await self.db.fetch(
            f"SELECT {STEP_COLUMNS} FROM operation_steps WHERE op_id = $1 ORDER BY step", op_id
        )
        return [StepProgress(**dict(r)) for r in rows]
