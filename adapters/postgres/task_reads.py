"""The API's reads of the tasks table (stores/task_reads.py), on the list-query model compiled
to SQL (adapters/postgres/list_queries.py).

A task is found by its id alone, as ArmoniK's GetTask asks: the primary key starts with the
session, so that lookup scans the table (see docs/design.md, the tasks table)."""

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.list_queries import TASK_SQL, fetch_counts, fetch_page
from stores.queries import ApplicationsQuery, TasksQuery
from stores.task_reads import Application, TaskData

# TaskData's fields; its two options come from the task's options (NULL for a seeded task).
_OPTION_COLUMNS = {
    "max_retries": f"{TASK_SQL['options.max_retries']} AS max_retries",
    "max_duration": "(options->>'max_duration')::float8 AS max_duration",
}
TASK_COLUMNS = ", ".join(_OPTION_COLUMNS.get(name, name) for name in TaskData.__dataclass_fields__)
APPLICATION_COLUMNS = ", ".join(Application.__dataclass_fields__)


class PostgresTaskReads:
    db: PostgresDatabase

    async def get_task(self, task_id: str) -> TaskData | None:
        found = await self.get_tasks([task_id])
        return found[0] if found else None

    async def get_tasks(self, task_ids: list[str]) -> list[TaskData]:
        # One probe of tasks_by_id per id (see tasks_table.sessions_of).
        rows = await self.db.fetch(
            f"SELECT {TASK_COLUMNS} FROM unnest($1::text[]) AS k(id),"
            " LATERAL (SELECT * FROM tasks WHERE task_id = k.id LIMIT 1) t ORDER BY task_id",
            sorted(set(task_ids)),
        )
        return [TaskData(**dict(r)) for r in rows]

    async def query(self, query: TasksQuery) -> tuple[list[TaskData], int]:
        rows, total = await fetch_page(self.db, query, TASK_COLUMNS)
        return [TaskData(**dict(r)) for r in rows], total

    async def count_statuses(self, query: TasksQuery) -> dict[int, int]:
        return await fetch_counts(self.db, query, "status")

    async def applications(self, query: ApplicationsQuery) -> tuple[list[Application], int]:
        rows, total = await fetch_page(self.db, query, APPLICATION_COLUMNS)
        return [Application(**dict(r)) for r in rows], total

    async def result_ids(self, task_ids: list[str]) -> dict[str, list[str]]:
        rows = await self.db.fetch(
            "SELECT t.task_id, r.result_id FROM tasks t"
            " LEFT JOIN results r ON r.session_id = t.session_id AND r.owner_task_id = t.task_id"
            " WHERE t.task_id = ANY($1::text[]) ORDER BY t.task_id, r.result_id",
            task_ids,
        )
        owned: dict[str, list[str]] = {}
        for r in rows:
            results = owned.setdefault(r["task_id"], [])
            if r["result_id"] is not None:
                results.append(r["result_id"])
        return owned
