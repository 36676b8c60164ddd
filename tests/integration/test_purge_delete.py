"""Purge and Delete against the real PostgreSQL and S3: Purge deletes exactly the objects of the
non-manual COMPLETED, CREATED and ABORTED results and nothing else; Delete leaves no row, no
queue entry and no object of the session, and touches no other session."""

import pytest

from adapters.redis.queue import PREFIX
from lifecycle.statuses import Operation, ResultStatus, SessionStatus, TaskStatus
from tests.integration.snapshot import assert_invariants, take
from tests.integration.states import MIX, session_in

pytestmark = pytest.mark.stack

R = ResultStatus
PURGEABLE = {R.COMPLETED, R.CREATED, R.ABORTED}
# Ten results kept for manual deletion among 130 (one in 13), every status represented.
RESULTS = 130


@pytest.mark.parametrize(
    "start", [SessionStatus.CLOSED, SessionStatus.CANCELLED], ids=lambda s: s.name
)
async def test_purge_deletes_exactly_the_objects_of_non_manual_results(
    client, stores, partitions, start
):
    session_id = await session_in(client, partitions, start, results=RESULTS)
    bystander = await session_in(client, partitions, SessionStatus.CLOSED, results=20)
    before = await take(stores, session_id)
    bystander_before = await take(stores, bystander)
    manual = {r: row for r, row in before.results.items() if row.manual_deletion}
    purged = {r: row for r, row in before.results.items() if r not in manual}
    assert len(manual) == RESULTS // 13
    assert {row.status for row in manual.values()} == {int(s) for s in before.result_counts}
    assert {row.status for row in purged.values()} <= {int(s) for s in PURGEABLE}
    assert all(row.opaque_id for row in before.results.values())
    assert before.objects == {row.opaque_id for row in before.results.values()}

    outcome = await client.run(Operation.PURGE, session_id)

    await assert_invariants(stores, session_id, bystander)
    after = await take(stores, session_id)
    assert outcome.session.status == SessionStatus.PURGED
    for result_id, row in purged.items():
        now = after.results[result_id]
        assert (now.status, now.opaque_id) == (R.DELETED, None), row
        assert await stores.objects.get(row.opaque_id) is None
    for result_id, row in manual.items():
        assert after.results[result_id] == row
        assert await stores.objects.get(row.opaque_id) == row.opaque_id.encode().ljust(64, b".")
    assert after.objects == {row.opaque_id for row in manual.values()}
    assert await take(stores, bystander) == bystander_before


@pytest.mark.parametrize(
    "start",
    [SessionStatus.RUNNING, SessionStatus.PAUSED, SessionStatus.PURGED],
    ids=lambda s: s.name,
)
async def test_delete_leaves_no_row_queue_entry_or_object_of_the_session(
    client, stores, partitions, start
):
    session_id = await session_in(client, partitions, start, results=RESULTS)
    bystander = await session_in(client, partitions, SessionStatus.RUNNING, results=20)
    bystander_before = await take(stores, bystander)
    before = await take(stores, session_id)
    assert before.objects, "some objects to delete (manual ones survive a purge)"
    if start == SessionStatus.RUNNING:
        assert len(before.queued) == MIX[TaskStatus.SUBMITTED]
        assert {e.partition_id for e in before.queued} == set(partitions)
    assert before.operations

    outcome = await client.run(Operation.DELETE, session_id)

    assert outcome.session.status == SessionStatus.DELETED
    await assert_invariants(stores, session_id, bystander)
    pool = stores.db.pool
    for table in ("sessions", "tasks", "results", "operations", "operation_steps"):
        left = await pool.fetchval(
            f"SELECT count(*) FROM {table} WHERE session_id = $1", session_id
        )
        assert left == 0, table
    async for key in stores.queue.redis.scan_iter(match=PREFIX + "*"):
        members = await stores.queue.redis.zrange(key, 0, -1)
        assert not [m for m in members if m.startswith(f"{session_id}/")], key
    assert await stores.objects.keys(f"{session_id}/") == []
    for key in before.objects:
        assert await stores.objects.get(key) is None
    assert await take(stores, bystander) == bystander_before
