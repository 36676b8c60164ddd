"""TasksTable: the tasks of every session."""

from collections.abc import AsyncIterator

import asyncpg

from adapters.postgres.keyset import in_span
from adapters.postgres.list_queries import matching
from adapters.postgres.session_rows import PostgresSessionRows
from adapters.postgres.task_reads import PostgresTaskReads
from lifecycle.domain import TaskOptions
from lifecycle.statuses import ResultStatus, TaskStatus
from stores.keyset import Span
from stores.queries import TASKS, Condition
from stores.tasks import TaskChange, TaskRecord, TaskRow


class PostgresTasksTable(PostgresSessionRows, PostgresTaskReads):
    table = "tasks"
    key = "task_id"
    columns = ("session_id", "task_id", "status", "priority", "partition_id")

    async def insert(self, conn: asyncpg.Connection, tasks: list[TaskRow]) -> None:
        await self.copy_in(
            conn,
            ((t.session_id, t.task_id, t.status, t.priority, t.partition_id) for t in tasks),
        )

    async def matching(
        self,
        session_id: str,
        filters: list[list[Condition]],
        task_ids: list[str] | None,
        after: str = "",
        limit: int = 1000,
    ) -> list[TaskRecord]:
        sql, params = matching(
            TASKS.what, filters, RECORD_COLUMNS, session_id, task_ids, after, limit
        )
        return [_record(r) for r in await self.db.fetch(sql, *params)]

    async def rows(
        self,
        conn: asyncpg.Connection,
        session_id: str,
        span: Span,
        statuses: list[int] | None = None,
    ) -> list[TaskRow]:
        """The tasks of the span, those in `statuses` only if given."""
        rows = await self.select_span(conn, session_id, span, ", ".join(self.columns), statuses)
        return [TaskRow(**dict(r)) for r in rows]

    async def with_status(self, session_id: str, statuses: list[int]) -> list[TaskRow]:
        """Every task of the session in `statuses`; for checks and tests, not for sweeps."""
        wanted = {int(s) for s in statuses}
        return [
            task
            async for chunk in self.chunks(session_id)
            for task in chunk
            if task.status in wanted
        ]

    async def chunks(self, session_id: str) -> AsyncIterator[list[TaskRow]]:
        """Every task of the session, by chunks in key order; for checks and tests."""
        async for chunk in self.walk(session_id):
            yield [TaskRow(**dict(r)) for r in chunk]

    # Submission and the agents.

    async def insert_new(
        self, conn: asyncpg.Connection, tasks: list[TaskRecord], unresolved: dict[str, tuple]
    ) -> set[str]:
        """Insert the tasks not there yet, and the unresolved dependencies of those inserted,
        each one statement over arrays: a retried submission inserts nothing twice."""
        if not tasks:
            return set()
        rows = await conn.fetch(
            "INSERT INTO tasks (session_id, task_id, status, priority, partition_id, options,"
            " payload_id, expected_output_ids, data_dependencies, parent_task_ids,"
            " initial_task_id, retry_of_ids, created_by, submitted_at)"
            " SELECT t.session_id, t.task_id, t.status, t.priority, t.partition_id, t.options,"
            f" t.payload_id, {_texts('outputs')}, {_texts('deps')}, {_texts('parents')},"
            f" t.initial, {_texts('retries')}, t.created_by,"
            " CASE WHEN t.status = $2 THEN now() END"
            " FROM jsonb_to_recordset($1::jsonb) AS t(session_id text, task_id text,"
            " status smallint, priority int, partition_id text, options jsonb, payload_id text,"
            " outputs jsonb, deps jsonb, parents jsonb, initial text, retries jsonb,"
            " created_by text)"
            " ON CONFLICT (session_id, task_id) DO NOTHING RETURNING task_id",
            [_as_json(t) for t in tasks],
            int(TaskStatus.SUBMITTED),
        )
        inserted = {r["task_id"] for r in rows}
        edges = [(t, r) for t in inserted for r in unresolved.get(t, ())]
        if edges:
            await conn.execute(
                "INSERT INTO task_dependencies (session_id, task_id, result_id)"
                " SELECT $1, t, r FROM unnest($2::text[], $3::text[]) AS e(t, r)"
                " ON CONFLICT DO NOTHING",
                tasks[0].session_id,
                [t for t, _ in edges],
                [r for _, r in edges],
            )
        return inserted

    async def insert_waits(
        self, conn: asyncpg.Connection, session_id: str, waits: list[tuple[str, str]]
    ) -> None:
        await conn.copy_records_to_table(
            "task_dependencies",
            records=((session_id, r, t) for t, r in waits),
            columns=["session_id", "result_id", "task_id"],
        )

    async def sessions_of(self, task_ids: list[str]) -> dict[str, str]:
        rows = await self.db.fetch(
            "SELECT t.task_id, t.session_id FROM unnest($1::text[]) AS k(id),"
            " LATERAL (SELECT task_id, session_id FROM tasks WHERE task_id = k.id OFFSET 0) t",
            sorted(set(task_ids)),
        )
        return {r["task_id"]: r["session_id"] for r in rows}

    async def get_many(
        self, conn: asyncpg.Connection, session_id: str, task_ids: list[str], lock: bool = False
    ) -> list[TaskRecord]:
        """One probe of the key per id (LATERAL ... OFFSET 0 keeps it one): while a session
        grows faster than its statistics, the planner takes it for small, and scanned all its
        rows for `task_id = ANY(...)` instead (6 ms a call at 20,000 tasks, and growing). The
        probes go in key order, so the locks are taken in one order."""
        rows = await conn.fetch(
            f"SELECT {', '.join('t.' + c for c in RECORD_COLUMNS.split(', '))}"
            f" FROM {probe('tasks', 'task_id')}{' FOR UPDATE OF t' if lock else ''}",
            session_id,
            sorted(set(task_ids)),
        )
        return sorted((_record(r) for r in rows), key=lambda t: t.task_id)

    async def change(
        self, conn: asyncpg.Connection, session_id: str, task_ids: list[str], change: TaskChange
    ) -> list[TaskRow]:
        if change.stamp is not None and change.stamp not in TASK_DATES:
            raise ValueError(f"not a task date column: {change.stamp}")
        stamp = f", {change.stamp} = now()" if change.stamp else ""
        rows = await conn.fetch(
            "UPDATE tasks SET status = $3,"
            " owner_pod_id = CASE WHEN $6::text IS NULL THEN owner_pod_id ELSE NULLIF($6, '') END,"
            f" output_error = COALESCE($7, output_error){stamp}"
            f" WHERE {locked('tasks', 'task_id')} AND status = ANY($4::smallint[])"
            " AND ($5::text IS NULL OR owner_pod_id = $5)"
            f" RETURNING {', '.join(self.columns)}",
            session_id,
            sorted(set(task_ids)),
            int(change.to_status),
            [int(s) for s in change.from_statuses],
            change.owned_by,
            change.owner,
            change.error,
        )
        return [TaskRow(**dict(r)) for r in rows]

    async def resolve(
        self, conn: asyncpg.Connection, session_id: str, result_ids: list[str], ready: int
    ) -> list[TaskRow]:
        """Three statements, so that two completions racing on one task's last two dependencies
        cannot both miss that it is ready: the waits are dropped, the dependants locked in key
        order (one waits for the other's commit), and only then, in a new snapshot that sees
        the other's deletes, the dependants left waiting on nothing are made ready."""
        waiting = await self.dependants(conn, session_id, result_ids)
        if not waiting:
            return []
        await conn.execute(
            f"SELECT 1 FROM {probe('tasks', 'task_id')} FOR UPDATE OF t", session_id, waiting
        )
        rows = await conn.fetch(
            "UPDATE tasks t SET status = $3::smallint,"
            " submitted_at = CASE WHEN $3::smallint = $5 THEN now() ELSE submitted_at END,"
            " ended_at = CASE WHEN $3::smallint = $6 THEN now() ELSE ended_at END"
            f" WHERE t.{locked('tasks', 'task_id')} AND t.status = $4"
            " AND NOT EXISTS (SELECT 1 FROM task_dependencies d"
            "  WHERE d.session_id = t.session_id AND d.task_id = t.task_id)"
            f" RETURNING {', '.join('t.' + c for c in self.columns)}",
            session_id,
            waiting,
            int(ready),
            int(TaskStatus.PENDING),
            int(TaskStatus.SUBMITTED),
            int(TaskStatus.CANCELLED),
        )
        return [TaskRow(**dict(r)) for r in rows]

    async def dependants(
        self, conn: asyncpg.Connection, session_id: str, result_ids: list[str]
    ) -> list[str]:
        rows = await conn.fetch(
            "DELETE FROM task_dependencies WHERE session_id = $1 AND result_id = ANY($2)"
            " RETURNING task_id",
            session_id,
            result_ids,
        )
        return sorted({r["task_id"] for r in rows})

    async def children(
        self, conn: asyncpg.Connection, session_id: str, parent_task_id: str, statuses: list[int]
    ) -> list[TaskRecord]:
        """Through the partial index of subtasks by their creator (migration 007)."""
        rows = await conn.fetch(
            f"SELECT {RECORD_COLUMNS} FROM tasks WHERE session_id = $1 AND created_by = $2"
            " AND created_by <> '' AND status = ANY($3::smallint[]) ORDER BY task_id",
            session_id,
            parent_task_id,
            [int(s) for s in statuses],
        )
        return [_record(r) for r in rows]

    async def held_by(self, pod_ids: list[str]) -> list[TaskRecord]:
        rows = await self.db.fetch(
            f"SELECT {RECORD_COLUMNS} FROM tasks WHERE owner_pod_id = ANY($1::text[])"
            " AND status = ANY($2::smallint[]) ORDER BY session_id, task_id",
            pod_ids,
            [int(TaskStatus.DISPATCHED), int(TaskStatus.PROCESSING)],
        )
        return [_record(r) for r in rows]

    async def unresolved(
        self, conn: asyncpg.Connection, session_id: str, task_ids: list[str]
    ) -> set[str]:
        rows = await conn.fetch(
            "SELECT DISTINCT task_id FROM task_dependencies"
            " WHERE session_id = $1 AND task_id = ANY($2)",
            session_id,
            task_ids,
        )
        return {r["task_id"] for r in rows}

    async def mark_for_queue(
        self, conn: asyncpg.Connection, session_id: str, task_ids: list[str]
    ) -> list[int]:
        if not task_ids:
            return []
        rows = await conn.fetch(
            "INSERT INTO queue_outbox (session_id, task_id) SELECT $1, unnest($2::text[])"
            " RETURNING seq",
            session_id,
            task_ids,
        )
        return [r["seq"] for r in rows]

    async def claim_marks(
        self, conn: asyncpg.Connection, limit: int, seqs: list[int] | None = None
    ) -> list[tuple[int, str, str]]:
        rows = await conn.fetch(
            "SELECT seq, session_id, task_id FROM queue_outbox"
            " WHERE $2::bigint[] IS NULL OR seq = ANY($2)"
            " ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
            limit,
            seqs,
        )
        return [(r["seq"], r["session_id"], r["task_id"]) for r in rows]

    async def lock_for_queue(
        self, conn: asyncpg.Connection, keys: list[tuple[str, str]]
    ) -> list[TaskRow]:
        rows = await conn.fetch(
            f"SELECT {', '.join('t.' + c for c in self.columns)} FROM tasks t"
            " JOIN unnest($1::text[], $2::text[]) AS k(s, i)"
            " ON t.session_id = k.s AND t.task_id = k.i"
            " ORDER BY t.session_id, t.task_id FOR SHARE OF t",
            [s for s, _ in keys],
            [t for _, t in keys],
        )
        return [TaskRow(**dict(r)) for r in rows]

    async def clear_marks(self, conn: asyncpg.Connection, seqs: list[int]) -> None:
        await conn.execute("DELETE FROM queue_outbox WHERE seq = ANY($1)", seqs)

    async def marks(self, session_id: str | None = None) -> int:
        return await self.db.fetchval(
            "SELECT count(*) FROM queue_outbox WHERE $1::text IS NULL OR session_id = $1",
            session_id,
        )

    async def delete_span(self, conn: asyncpg.Connection, session_id: str, span: Span) -> int:
        """The span's tasks, with their waits and queue marks: a deleted session leaves no row."""
        for table in ("task_dependencies", "queue_outbox"):
            await conn.execute(
                f"DELETE FROM {table} WHERE {self.where_span()}",
                session_id,
                span.after,
                span.last,
            )
        return await super().delete_span(conn, session_id, span)

    async def work_rows(self, session_id: str) -> int:
        return await self.db.fetchval(
            "SELECT (SELECT count(*) FROM task_dependencies WHERE session_id = $1)"
            " + (SELECT count(*) FROM queue_outbox WHERE session_id = $1)",
            session_id,
        )

    async def dependency_faults(self, session_id: str) -> dict[str, list[str]]:
        return await self.faults(session_id, DEPENDENCY_FAULTS)


TASK_DATES = (
    "submitted_at",
    "received_at",
    "acquired_at",
    "started_at",
    "processed_at",
    "ended_at",
)
RECORD_COLUMNS = (
    "session_id, task_id, status, priority, partition_id, options, payload_id,"
    " expected_output_ids, data_dependencies, parent_task_ids, initial_task_id, retry_of_ids,"
    " created_by, owner_pod_id, output_error"
)
_S = TaskStatus
# Within a span of tasks ($2, $3]: a PENDING task waiting on nothing; a task past PENDING still
# waiting; a wait on a result that is COMPLETED (it should have been dropped).
DEPENDENCY_FAULTS = f"""
SELECT 'pending_task_ready' AS fault, t.task_id AS id FROM tasks t
 WHERE {in_span("task_id", 1, "t.")} AND t.status = {int(_S.PENDING)}
   AND NOT EXISTS (SELECT 1 FROM task_dependencies d
                    WHERE d.session_id = t.session_id AND d.task_id = t.task_id)
UNION ALL
SELECT 'queued_task_not_ready', t.task_id FROM tasks t
 WHERE {in_span("task_id", 1, "t.")}
   AND t.status IN ({int(_S.SUBMITTED)}, {int(_S.DISPATCHED)}, {int(_S.PROCESSING)})
   AND EXISTS (SELECT 1 FROM task_dependencies d
                WHERE d.session_id = t.session_id AND d.task_id = t.task_id)
UNION ALL
SELECT 'wait_on_completed_result', d.task_id || ' on ' || d.result_id
  FROM task_dependencies d JOIN results r USING (session_id, result_id)
 WHERE {in_span("task_id", 1, "d.")} AND r.status = {int(ResultStatus.COMPLETED)}
"""


def probe(table: str, key: str) -> str:
    """The rows of `table` whose key is among $2 (sorted) in session $1, found by one index probe
    each, in key order, as `t` (with `at`, the row's ctid)."""
    return (
        f"unnest($2::text[]) AS k(id), LATERAL (SELECT ctid AS at, * FROM {table}"
        f" WHERE session_id = $1 AND {key} = k.id OFFSET 0) t"
    )


def locked(table: str, key: str) -> str:
    """The condition on `table`'s rows of probe(): they are locked by the probe, so no other
    transaction can move them before the statement's own update of that ctid (the idiom
    `ctid = ANY(ARRAY(SELECT ctid ... FOR UPDATE))`), and an UPDATE or DELETE over many keys
    is as cheap as its probes whatever the planner believes of the session's size."""
    return f"ctid = ANY(ARRAY(SELECT t.at FROM {probe(table, key)} FOR UPDATE OF t))"


def _texts(field: str) -> str:
    """A JSON array of the recordset as text[]."""
    return f"ARRAY(SELECT jsonb_array_elements_text(t.{field}))"


def _as_json(task: TaskRecord) -> dict:
    return {
        "session_id": task.session_id,
        "task_id": task.task_id,
        "status": int(task.status),
        "priority": task.priority,
        "partition_id": task.partition_id,
        "options": {**task.options.__dict__, "options": dict(task.options.options)},
        "payload_id": task.payload_id,
        "outputs": list(task.expected_output_ids),
        "deps": list(task.data_dependencies),
        "parents": list(task.parent_task_ids),
        "initial": task.initial_task_id or task.task_id,
        "retries": list(task.retry_of_ids),
        "created_by": task.created_by,
    }


def _record(row: asyncpg.Record) -> TaskRecord:
    data = dict(row)
    data["options"] = TaskOptions(**(data["options"] or {}))
    for name in (
        "expected_output_ids",
        "data_dependencies",
        "parent_task_ids",
        "retry_of_ids",
    ):
        data[name] = tuple(data[name])
    data["initial_task_id"] = data["initial_task_id"] or ""
    data["payload_id"] = data["payload_id"] or ""
    return TaskRecord(**data)
