"""The same operation requested many times at once runs as one workflow execution, and every
caller gets its outcome."""

import asyncio

from lifecycle.statuses import Operation, SessionStatus, TaskStatus
from tests.support import new_session, op_id


async def test_ten_identical_requests_run_once(client):
    session_id = await new_session(client, mix={TaskStatus.SUBMITTED: 20_000})
    handles = await asyncio.gather(*(client.start(Operation.PAUSE, session_id) for _ in range(10)))
    outcomes = await asyncio.gather(*(h.result() for h in handles))

    assert len({op_id(h) for h in handles}) == 1
    assert all(o == outcomes[0] for o in outcomes)
    assert outcomes[0].session.status == SessionStatus.PAUSED
    admitted = await client.stores.operations.of_session(session_id)
    assert [a.operation for a in admitted] == [Operation.CREATE, Operation.PAUSE]
    tasks = await client.stores.tasks.count_by_status(session_id)
    assert tasks == {TaskStatus.PAUSED: 20_000}
