"""The API's reads of the results table (stores/result_reads.py), on the list-query model
compiled to SQL (adapters/postgres/list_queries.py)."""

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.list_queries import fetch_page
from stores.queries import ResultsQuery
from stores.results import ResultRow

RESULT_COLUMNS = ", ".join(ResultRow.__dataclass_fields__)


class PostgresResultReads:
    db: PostgresDatabase

    async def get_result(self, result_id: str) -> ResultRow | None:
        row = await self.db.fetchrow(
            f"SELECT {RESULT_COLUMNS} FROM results WHERE result_id = $1 LIMIT 1", result_id
        )
        return ResultRow(**dict(row)) if row is not None else None

    async def query(self, query: ResultsQuery) -> tuple[list[ResultRow], int]:
        rows, total = await fetch_page(self.db, query, RESULT_COLUMNS)
        return [ResultRow(**dict(r)) for r in rows], total

    async def owners(self, session_id: str, result_ids: list[str]) -> dict[str, str]:
        rows = await self.db.fetch(
            "SELECT result_id, coalesce(owner_task_id, '') AS owner FROM results"
            " WHERE session_id = $1 AND result_id = ANY($2::text[])",
            session_id,
            result_ids,
        )
        return {r["result_id"]: r["owner"] for r in rows}
