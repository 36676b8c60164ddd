"""The first arrow of every sweep, to the TasksTable or the ResultsTable: count the rows it will
walk (for its progress) and cut them into ranges of about equal size, which the workflow then
runs side by side, each with its own checkpoint, on whichever workers take them."""

import itertools

from temporalio import activity

from activities.heartbeat import heartbeating
from lifecycle.calls import PlanRequest, Range, SweepPlan
from stores.database import Database
from stores.operations import OperationsLog
from stores.rows import SessionRows

# Rows counted per statement: one statement stays well within the store timeout whatever the
# session's size, and the background heartbeat runs from the first instant.
COUNT_CHUNK = 100_000


class RangesActivities:
    def __init__(
        self, db: Database, tables: dict[str, SessionRows], operations: OperationsLog
    ) -> None:
        self.db = db
        self.tables = tables
        self.operations = operations

    @activity.defn
    async def plan_sweep(self, request: PlanRequest) -> SweepPlan:
        """Any cut is correct (the ranges only have to cover the keys once); an even one lets
        the ranges end together."""
        rows = self.tables[request.rows]
        # (rows counted so far, last key counted) at the end of each chunk.
        ends: list[tuple[int, str]] = [(0, "")]
        async with heartbeating(counted=0) as heartbeat:
            while True:
                async with self.db.connection() as conn:
                    span = await rows.span(conn, request.session_id, ends[-1][1], None, COUNT_CHUNK)
                if span.rows:
                    ends.append((ends[-1][0] + span.rows, span.last))
                heartbeat.update(counted=ends[-1][0])
                if span.exhausted:
                    break
            total = ends[-1][0]
            bounds = [
                await self._key_at(rows, request, ends, total * i // request.ranges)
                for i in range(1, request.ranges)
            ]
        await self.operations.record_total(request.op_id, request.step, request.session_id, total)
        cuts = ["", *sorted({b for b in bounds if b}), None]
        return SweepPlan(total, [Range(a, u) for a, u in itertools.pairwise(cuts)])

    async def _key_at(
        self, rows: SessionRows, request: PlanRequest, ends: list[tuple[int, str]], position: int
    ) -> str:
        """The key of the `position`-th row (1-based), read from the chunk end before it: at
        most one chunk is skipped over by the index."""
        if position <= 0:
            return ""
        counted, after = max(e for e in ends if e[0] < position)
        async with self.db.connection() as conn:
            span = await rows.span(conn, request.session_id, after, None, position - counted)
        return span.last
