"""Sessions brought to each starting status of SPEC §2, seeded with a mix of task statuses and
with results that have objects."""

import uuid

from engine.operations import Engine
from lifecycle.statuses import Operation, SessionStatus, TaskStatus
from tests.integration.snapshot import assert_invariants
from tests.support import new_session

S = SessionStatus
T = TaskStatus

# A few hundred tasks: three batches of 100 per step, in a RUNNING session (so no PAUSED task:
# Pause makes those). Every other status a task can have in a running session is there.
MIX = {
    T.SUBMITTED: 110,
    T.DISPATCHED: 40,
    T.CREATING: 15,
    T.PENDING: 20,
    T.PROCESSING: 20,
    T.PROCESSED: 5,
    T.CANCELLING: 5,
    T.COMPLETED: 30,
    T.ERROR: 15,
    T.TIMEOUT: 5,
    T.RETRIED: 5,
    T.CANCELLED: 5,
}
TASKS = sum(MIX.values())
# Two batches of 50; seed cycles COMPLETED/CREATED/ABORTED and keeps one in 13 for manual deletion.
RESULTS = 70

MISSING = "missing"
DELETED = "deleted"
STARTS = [S.RUNNING, S.PAUSED, S.CLOSED, S.CANCELLED, S.PURGED, MISSING, DELETED]

# The operations that take a new RUNNING session to each starting status.
PATHS: dict[object, list[Operation]] = {
    S.RUNNING: [],
    S.PAUSED: [Operation.PAUSE],
    S.CLOSED: [Operation.CLOSE],
    S.CANCELLED: [Operation.CANCEL],
    S.PURGED: [Operation.CLOSE, Operation.PURGE],
    DELETED: [Operation.DELETE],
}


def start_name(start: object) -> str:
    return start.name if isinstance(start, SessionStatus) else str(start)


async def session_in(
    client: Engine,
    partitions: list[str],
    start: object,
    *,
    mix: dict[TaskStatus, int] | None = None,
    results: int = RESULTS,
) -> str:
    """A session in the starting status `start` (a SessionStatus, MISSING or DELETED), the
    invariants checked after each operation that took it there."""
    if start == MISSING:
        return f"missing-{uuid.uuid4()}"
    session_id = await new_session(
        client, partitions=partitions, mix=MIX if mix is None else mix, results=results
    )
    await assert_invariants(client.stores, session_id)
    for operation in PATHS[start]:
        await client.run(operation, session_id)
        await assert_invariants(client.stores, session_id)
    if isinstance(start, SessionStatus):
        assert (await client.get(session_id)).status == start
    return session_id
