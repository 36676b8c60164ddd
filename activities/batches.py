"""The batch loop every bulk activity runs.

One batch is one PostgreSQL transaction that (1) locks the step's checkpoint, (2) holds the
session under the operation's guard, (3) changes the rows of the next span of keys, together with
any queue or object-storage effect of that span, and (4) advances the checkpoint. Its commit is
the checkpoint: a crash at any instant redoes at most the batch in flight, and each batch is
idempotent. A step that opens ranges hands work back to the workflow every `batches_per_call`
batches or `call_seconds`, whichever comes first, so that progress shows there and no activity
call runs for long, while the history of a large operation stays small.

How many rows a batch carries follows the store (stores/adaptive.py): a batch that times out,
or runs longer than half the store timeout, halves the size of this process's next batches of
that table, and successes grow it back to the configured size. The halved size also goes out
with the heartbeat, so that the retry starts small wherever it runs: a batch too large for a
slow store would otherwise time out again on every attempt.

A call that fails raises StepFailed, which carries the figures it had committed, so that the
workflow can tell a step that retries while it moves from one that is stalled.
"""

import dataclasses
import time
from collections.abc import Awaitable, Callable

from activities.heartbeat import heartbeating, last_details
from lifecycle.calls import StepCall
from lifecycle.progress import StepProgress, step_of
from stores.adaptive import AdaptiveSize
from stores.database import Database, Tx
from stores.failures import TIMEOUT, failure_cause
from stores.keyset import Span
from stores.operations import OperationsLog
from stores.rows import SessionRows
from stores.sessions import SessionsTable
from telemetry.metrics import BatchMetrics, operation_of

# Changes the rows of a span and answers how many changed.
BatchWork = Callable[[Tx, Span], Awaitable[int]]
# The heartbeat's detail that carries a batch size found too large to the next attempt.
BATCH_SIZE = "batch_size"


class StepFailed(Exception):
    """A call of a batch step failed after committing `progress` (the step's figures so far);
    the store's error is its __cause__."""

    def __init__(self, progress: StepProgress) -> None:
        super().__init__(f"step {progress.step} failed")
        self.progress = progress


class BatchRunner:
    def __init__(
        self,
        db: Database,
        sessions: SessionsTable,
        operations: OperationsLog,
        batches_per_call: int,
        call_seconds: float,
        slow_batch_seconds: float,
    ) -> None:
        self.db = db
        self.sessions = sessions
        self.operations = operations
        self.batches_per_call = batches_per_call
        self.call_seconds = call_seconds
        # A batch slower than this is one step away from a statement timeout: the next ones go
        # smaller.
        self.slow_batch_seconds = slow_batch_seconds

    async def run(
        self,
        sweep: StepCall,
        rows: SessionRows,
        size: AdaptiveSize,
        work: BatchWork,
    ) -> StepProgress:
        """Run batches of `work` over `rows`, from the step's checkpoint on, until the range ends,
        the guard fails, or (for a step that opens the range) a call's worth of batches ran."""
        opens = not sweep.follows
        ends_at = time.monotonic() + self.call_seconds
        details = last_details()
        resume_after = max(sweep.after, str(details.get("cursor", "")))
        if isinstance(details.get(BATCH_SIZE), int):
            size.at_most(details[BATCH_SIZE])
        metrics = BatchMetrics.of(operation_of(sweep.op_id), step_of(sweep.step))
        progress = StepProgress(sweep.step, cursor=resume_after)
        async with heartbeating(cursor=resume_after) as heartbeat:
            batches = 0
            while True:
                began = time.monotonic()
                generation, limit = size.generation, size.value
                try:
                    await self.operations.count_batch_start(
                        sweep.op_id, sweep.step, sweep.session_id
                    )
                    async with self.db.transaction() as tx:
                        checkpoint = await self.operations.checkpoint(tx, sweep.op_id, sweep.step)
                        after = max(resume_after, checkpoint.cursor)
                        progress = dataclasses.replace(checkpoint, cursor=after)
                        if not await self.sessions.hold(tx, sweep.session_id, sweep.guard):
                            await self.operations.advance(
                                tx, sweep.op_id, sweep.step, after, 0, 0, checkpoint.done
                            )
                            return _after_batch(checkpoint, after, 0, 0, False, superseded=True)
                        span = await rows.span(tx, sweep.session_id, after, sweep.until, limit)
                        changed = await work(tx, span) if span.rows else 0
                        await self.operations.advance(
                            tx,
                            sweep.op_id,
                            sweep.step,
                            span.last,
                            span.rows,
                            changed,
                            span.exhausted,
                        )
                except Exception as error:
                    if failure_cause(error) == TIMEOUT and size.congested(generation):
                        heartbeat.update(**{BATCH_SIZE: size.value})
                        heartbeat.beat()
                    raise StepFailed(progress) from error
                seconds = time.monotonic() - began
                if seconds > self.slow_batch_seconds:
                    size.congested(generation)
                else:
                    size.succeeded()
                batches += 1
                metrics.record(changed, seconds)
                progress = _after_batch(checkpoint, span.last, span.rows, changed, span.exhausted)
                heartbeat.update(cursor=progress.cursor, scanned=progress.scanned)
                if span.exhausted or (
                    opens and (batches >= self.batches_per_call or time.monotonic() >= ends_at)
                ):
                    return progress


def _after_batch(
    checkpoint: StepProgress,
    cursor: str,
    scanned: int,
    changed: int,
    done: bool,
    *,
    superseded: bool = False,
) -> StepProgress:
    """The step's figures so far: its checkpoint as read before this batch, plus the batch."""
    return dataclasses.replace(
        checkpoint,
        cursor=cursor,
        scanned=checkpoint.scanned + scanned,
        changed=checkpoint.changed + changed,
        done=done,
        batches_committed=checkpoint.batches_committed + 1,
        superseded=superseded,
    )
