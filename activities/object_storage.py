"""Arrows to the ObjectStorage. Object keys are read from the ResultsTable; the rows that hold
them change (or go) only in a later step, once the objects are gone, so an object never
outlives the last row that knows its key.

Here the unit of commit is one S3 call, not one batch. A batch reads a span of results and cuts
it into calls of up to 1,000 keys, which run side by side within the process's window of calls
(stores/adaptive.py); each call that S3 acknowledges is checkpointed at once, in the order the
calls end: the cursor moves over the calls done from the span's start, and the spans done
beyond a call still running are kept beside it (stores/keyset.acknowledge). A call that fails
fails the attempt once the calls already made have ended, and the retry redoes that call's keys
and nothing else. All or nothing, a slow store made every batch of 16 calls lose one call to a
timeout and redo the fifteen others: a purge that never ended.

The S3 calls hold no transaction: the session is held only while a span is read (its guard
checked), so that an admission never waits on S3. Deleting an object after a later operation
superseded the sweep is harmless: Delete deletes them all, and nothing else stops a Purge.
Attempts of one step take turns on a lock of the step (OperationsLog.lock_step) instead of on
the checkpoint's row, since they commit many times per batch.
"""

import asyncio
import contextlib
import dataclasses
import time
from dataclasses import dataclass

from temporalio import activity

from activities.batches import StepFailed
from activities.heartbeat import Heartbeat, heartbeating
from lifecycle.calls import StepCall
from lifecycle.progress import StepProgress, step_of
from stores.database import Database
from stores.keyset import Acked, acknowledge, is_acked
from stores.objects import MAX_KEYS_PER_DELETE, ObjectStorage
from stores.operations import OperationsLog
from stores.results import ResultsTable
from stores.sessions import SessionsTable
from telemetry.metrics import BatchMetrics, operation_of


@dataclass
class Call:
    """The part (after, last] of a span that one delete call covers: its rows not acknowledged
    yet, and the object keys among them."""

    after: str
    last: str
    rows: int
    keys: list[str]


def cut_into_calls(
    rows: list[tuple[str, str | None]], acked: Acked, after: str, last: str, per_call: int
) -> list[Call]:
    """Cut a span's rows (result id, object key or None) into calls of at most `per_call` keys,
    leaving out the rows acknowledged already. The calls cover the span from `after` to `last`
    without a gap, so that acknowledging them all moves the cursor to `last`."""
    calls: list[Call] = []
    start, count, keys = after, 0, []
    for result_id, key in rows:
        if is_acked(result_id, acked):
            continue
        count += 1
        if key is not None:
            keys.append(key)
        if len(keys) == per_call:
            calls.append(Call(start, result_id, count, keys))
            start, count, keys = result_id, 0, []
    if start != last:
        calls.append(Call(start, last, count, keys))
    return calls


class ObjectStorageActivities:
    def __init__(
        self,
        db: Database,
        sessions: SessionsTable,
        operations: OperationsLog,
        results: ResultsTable,
        objects: ObjectStorage,
        batch_size: int,
        batches_per_call: int,
        call_seconds: float,
    ) -> None:
        self.db = db
        self.sessions = sessions
        self.operations = operations
        self.results = results
        self.objects = objects
        self.batch_size = batch_size
        self.batches_per_call = batches_per_call
        self.call_seconds = call_seconds

    @activity.defn
    async def delete_objects(self, sweep: StepCall) -> StepProgress:
        """Delete the objects of the session's results in `from_statuses` (every result if
        empty), span by span, each S3 call checkpointed as it ends."""
        opens = not sweep.follows
        ends_at = time.monotonic() + self.call_seconds
        log = self.operations
        async with heartbeating(cursor=sweep.after) as heartbeat, self.db.connection() as conn:
            # Creates the checkpoint's row if this is the step's first call.
            await log.count_batch_start(sweep.op_id, sweep.step, sweep.session_id, 0, conn)
            await log.lock_step(conn, sweep.op_id, sweep.step)
            try:
                return await self._walk(conn, sweep, heartbeat, opens, ends_at)
            finally:
                # A connection that broke has lost its locks with its PostgreSQL session.
                with contextlib.suppress(Exception):
                    await log.unlock_step(conn, sweep.op_id, sweep.step)

    async def _walk(
        self, conn, sweep: StepCall, heartbeat: Heartbeat, opens: bool, ends_at: float
    ) -> StepProgress:
        log = self.operations
        walk = _Walk(conn, log, self.objects, sweep, heartbeat)
        batches = 0
        while True:
            async with conn.transaction():
                checkpoint = await log.checkpoint(conn, sweep.op_id, sweep.step)
                after = max(sweep.after, checkpoint.cursor)
                checkpoint = dataclasses.replace(checkpoint, cursor=after)
                acked = await log.acknowledged(conn, sweep.op_id, sweep.step)
                if not await self.sessions.hold(conn, sweep.session_id, sweep.guard):
                    return dataclasses.replace(checkpoint, superseded=True)
                span = await self.results.span(
                    conn, sweep.session_id, after, sweep.until, self.batch_size
                )
                rows = await self.results.objects_of_span(
                    conn,
                    sweep.session_id,
                    span,
                    sweep.from_statuses or None,
                    sweep.keep_manual,
                )
            calls = cut_into_calls(rows, acked, span.after, span.last, MAX_KEYS_PER_DELETE)
            progress = await walk.run(checkpoint, acked, calls, span.last, span.exhausted)
            batches += 1
            if progress.done or (
                opens and (batches >= self.batches_per_call or time.monotonic() >= ends_at)
            ):
                return progress


class _Walk:
    """The calls of one batch, each checkpointed as S3 acknowledges it."""

    def __init__(
        self,
        conn,
        log: OperationsLog,
        objects: ObjectStorage,
        sweep: StepCall,
        heartbeat: Heartbeat,
    ) -> None:
        self.conn = conn
        self.log = log
        self.objects = objects
        self.sweep = sweep
        self.heartbeat = heartbeat
        self.metrics = BatchMetrics.of(operation_of(sweep.op_id), step_of(sweep.step))
        # One connection serves the walk's statements, one at a time.
        self.statements = asyncio.Lock()
        self.progress = StepProgress(sweep.step)
        self.acked: Acked = []

    async def run(
        self,
        checkpoint: StepProgress,
        acked: Acked,
        calls: list[Call],
        last: str,
        exhausted: bool,
    ) -> StepProgress:
        """Make the calls side by side and checkpoint each as it ends; the first failure is
        raised once every call already made has ended (and the calls not made by then are
        not made: the retry makes them)."""
        self.progress, self.acked = checkpoint, list(acked)
        self.last, self.exhausted = last, exhausted
        made = sum(1 for c in calls if c.keys)
        if made:
            async with self.statements:
                await self.log.count_batch_start(
                    self.sweep.op_id, self.sweep.step, self.sweep.session_id, made, self.conn
                )
            self.progress = dataclasses.replace(
                self.progress, batches_started=self.progress.batches_started + made
            )
        if not calls and exhausted and not self.progress.done:
            await self._acknowledge(Call(last, last, 0, []))
        failures: list[BaseException] = []

        async def call(c: Call) -> None:
            try:
                began = time.monotonic()
                if c.keys and not await self.objects.delete_call(
                    c.keys, proceed=lambda: not failures
                ):
                    return
                await self._acknowledge(c)
                if c.keys:
                    self.metrics.record(len(c.keys), time.monotonic() - began)
            except Exception as error:
                failures.append(error)

        await asyncio.gather(*(call(c) for c in calls))
        if failures:
            raise StepFailed(self.progress) from failures[0]
        return self.progress

    async def _acknowledge(self, call: Call) -> None:
        """Checkpoint one call: the new cursor and spans are computed under the walk's lock, so
        that two calls ending together both count, once each."""
        sweep = self.sweep
        async with self.statements:
            cursor, acked = acknowledge(self.progress.cursor, self.acked, call.after, call.last)
            done = self.exhausted and cursor >= self.last
            async with self.conn.transaction():
                await self.log.acknowledge(
                    self.conn,
                    sweep.op_id,
                    sweep.step,
                    cursor,
                    acked,
                    call.rows,
                    len(call.keys),
                    done,
                    calls=1 if call.keys else 0,
                )
            self.acked = acked
            self.progress = dataclasses.replace(
                self.progress,
                cursor=cursor,
                scanned=self.progress.scanned + call.rows,
                changed=self.progress.changed + len(call.keys),
                done=done,
                batches_committed=self.progress.batches_committed + (1 if call.keys else 0),
            )
        self.heartbeat.update(cursor=cursor, scanned=self.progress.scanned)
