"""ResultsTable: the results of every session; their bytes live in object storage."""

import asyncpg

from adapters.postgres.keyset import in_span
from adapters.postgres.list_queries import matching
from adapters.postgres.result_reads import RESULT_COLUMNS, PostgresResultReads
from adapters.postgres.session_rows import PostgresSessionRows
from adapters.postgres.tasks_table import locked, probe
from lifecycle.statuses import ResultStatus, TaskStatus
from stores.keyset import Span
from stores.queries import RESULTS, Condition
from stores.results import ResultRow


class PostgresResultsTable(PostgresSessionRows, PostgresResultReads):
    table = "results"
    key = "result_id"
    columns = (
        "session_id",
        "result_id",
        "name",
        "status",
        "owner_task_id",
        "size",
        "opaque_id",
        "manual_deletion",
        "completed_at",
        "created_by",
    )

    async def matching(
        self,
        session_id: str,
        filters: list[list[Condition]],
        result_ids: list[str] | None,
        after: str = "",
        limit: int = 1000,
    ) -> list[ResultRow]:
        sql, params = matching(
            RESULTS.what, filters, RESULT_COLUMNS, session_id, result_ids, after, limit
        )
        return [ResultRow(**dict(r)) for r in await self.db.fetch(sql, *params)]

    async def insert(self, conn: asyncpg.Connection, results: list[ResultRow]) -> None:
        await self.copy_in(conn, (tuple(getattr(r, c) for c in self.columns) for r in results))

    async def objects_of_span(
        self,
        conn: asyncpg.Connection,
        session_id: str,
        span: Span,
        statuses: list[int] | None = None,
        skip_manual: bool = False,
    ) -> list[tuple[str, str | None]]:
        """Every result of the span in key order, with its object key if its object is one to
        delete (in `statuses`, if given), else None: a step that cuts the span into calls
        needs every key to know where each call's part of the span ends."""
        deletable = "opaque_id IS NOT NULL" + (" AND NOT manual_deletion" if skip_manual else "")
        rows = await conn.fetch(
            f"SELECT result_id, CASE WHEN {deletable}"
            " AND ($4::smallint[] IS NULL OR status = ANY($4)) THEN opaque_id END AS key"
            f" FROM results WHERE {self.where_span()} ORDER BY result_id",
            session_id,
            span.after,
            span.last,
            [int(s) for s in statuses] if statuses is not None else None,
        )
        return [(r["result_id"], r["key"]) for r in rows]

    async def mark_deleted(
        self, conn: asyncpg.Connection, session_id: str, span: Span, from_statuses, to_status: int
    ) -> int:
        """Flip the span's purgeable results to `to_status` and forget their object keys; results
        kept for manual deletion stay as they are."""
        return await self.flip(
            conn,
            session_id,
            span,
            from_statuses,
            to_status,
            also_set="opaque_id = NULL",
            only_if="NOT manual_deletion",
        )

    # Submission and the agents.

    async def insert_new(self, conn: asyncpg.Connection, results: list[ResultRow]) -> set[str]:
        if not results:
            return set()
        rows = await conn.fetch(
            "INSERT INTO results (session_id, result_id, name, status, owner_task_id,"
            " manual_deletion, created_by)"
            " SELECT $1, r, n, $2, NULLIF(o, ''), m, c"
            " FROM unnest($3::text[], $4::text[], $5::text[], $6::boolean[], $7::text[])"
            " AS x(r, n, o, m, c)"
            " ON CONFLICT (session_id, result_id) DO NOTHING RETURNING result_id",
            results[0].session_id,
            int(ResultStatus.CREATED),
            [r.result_id for r in results],
            [r.name for r in results],
            [r.owner_task_id or "" for r in results],
            [r.manual_deletion for r in results],
            [r.created_by for r in results],
        )
        return {r["result_id"] for r in rows}

    async def get_many(
        self,
        conn: asyncpg.Connection,
        session_id: str,
        result_ids: list[str],
        lock: str | None = None,
    ) -> dict[str, ResultRow]:
        """By one probe of the key per id, as the TasksTable's get_many, for the same reason."""
        locking = {None: "", "update": " FOR UPDATE OF t", "share": " FOR SHARE OF t"}[lock]
        rows = await conn.fetch(
            f"SELECT {', '.join('t.' + c for c in self.columns)}"
            f" FROM {probe('results', 'result_id')}{locking}",
            session_id,
            sorted(set(result_ids)),
        )
        return {r["result_id"]: ResultRow(**dict(r)) for r in rows}

    async def take_ownership(
        self,
        conn: asyncpg.Connection,
        session_id: str,
        owners: dict[str, str],
        from_owners: list[str],
    ) -> int:
        if not owners:
            return 0
        owners = dict(sorted(owners.items()))
        status = await conn.execute(
            "UPDATE results r SET owner_task_id = x.owner"
            " FROM unnest($2::text[], $3::text[]) AS x(id, owner)"
            f" WHERE r.{locked('results', 'result_id')} AND r.result_id = x.id"
            " AND (r.owner_task_id IS NULL OR r.owner_task_id = ANY($4))",
            session_id,
            list(owners),
            list(owners.values()),
            from_owners,
        )
        return int(status.split()[-1])

    async def complete(
        self,
        conn: asyncpg.Connection,
        session_id: str,
        data: dict[str, tuple[int, str | None]],
        owned_by: str | None = None,
    ) -> list[str]:
        if not data:
            return []
        data = dict(sorted(data.items()))
        rows = await conn.fetch(
            "UPDATE results r SET status = $3, size = x.size,"
            " opaque_id = COALESCE(x.key, r.opaque_id), completed_at = now()"
            " FROM unnest($2::text[], $4::bigint[], $5::text[]) AS x(id, size, key)"
            f" WHERE r.{locked('results', 'result_id')} AND r.result_id = x.id AND r.status = $6"
            " AND ($7::text IS NULL OR r.owner_task_id = $7) RETURNING r.result_id",
            session_id,
            list(data),
            int(ResultStatus.COMPLETED),
            [size for size, _ in data.values()],
            [key for _, key in data.values()],
            int(ResultStatus.CREATED),
            owned_by,
        )
        return sorted(r["result_id"] for r in rows)

    async def abort(
        self,
        conn: asyncpg.Connection,
        session_id: str,
        result_ids: list[str],
        owned_by: list[str] | None = None,
    ) -> list[str]:
        if not result_ids:
            return []
        rows = await conn.fetch(
            "UPDATE results SET status = $3, completed_at = now()"
            f" WHERE {locked('results', 'result_id')} AND status = $4"
            " AND ($5::text[] IS NULL OR owner_task_id IS NULL OR owner_task_id = ANY($5))"
            " RETURNING result_id",
            session_id,
            sorted(set(result_ids)),
            int(ResultStatus.ABORTED),
            int(ResultStatus.CREATED),
            owned_by,
        )
        return sorted(r["result_id"] for r in rows)

    async def owned_by(
        self, conn: asyncpg.Connection, session_id: str, task_ids: list[str], statuses: list[int]
    ) -> list[ResultRow]:
        """Through the tasks' expected outputs, not a scan of owners: results have no index on
        their owner."""
        rows = await conn.fetch(
            f"SELECT {', '.join('r.' + c for c in self.columns)} FROM results r"
            " JOIN (SELECT DISTINCT unnest(expected_output_ids) AS id FROM tasks"
            "  WHERE session_id = $1 AND task_id = ANY($2)) o ON r.result_id = o.id"
            " WHERE r.session_id = $1 AND r.owner_task_id = ANY($2)"
            " AND r.status = ANY($3::smallint[]) ORDER BY r.result_id",
            session_id,
            task_ids,
            [int(s) for s in statuses],
        )
        return [ResultRow(**dict(r)) for r in rows]

    async def mark_data_deleted(
        self, conn: asyncpg.Connection, session_id: str, result_ids: list[str]
    ) -> list[str]:
        rows = await conn.fetch(
            "UPDATE results SET status = $3, opaque_id = NULL"
            f" WHERE {locked('results', 'result_id')} AND status <> $3"
            " RETURNING result_id",
            session_id,
            sorted(set(result_ids)),
            int(ResultStatus.DELETED),
        )
        return sorted(r["result_id"] for r in rows)

    async def owner_faults(self, session_id: str) -> dict[str, list[str]]:
        return await self.faults(session_id, OWNER_FAULTS)


# Within a span of results: a COMPLETED result whose owner task exists and is not COMPLETED (a
# task's output completes with it, a delegated one with its new owner); an owner that does not
# exist.
OWNER_FAULTS = f"""
SELECT CASE WHEN t.task_id IS NULL THEN 'owner_missing' ELSE 'completed_output_of_unfinished_task'
       END AS fault, r.result_id AS id
  FROM results r LEFT JOIN tasks t ON t.session_id = r.session_id AND t.task_id = r.owner_task_id
 WHERE {in_span("result_id", 1, "r.")} AND r.owner_task_id IS NOT NULL
   AND (t.task_id IS NULL
        OR (r.status = {int(ResultStatus.COMPLETED)} AND t.status <> {int(TaskStatus.COMPLETED)}))
"""
