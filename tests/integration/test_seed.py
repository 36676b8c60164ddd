"""The seed tool fills a session with data the SPEC allows, spread over its partitions."""

from collections import Counter

import pytest

from admin.seed import MANUAL_EVERY, seed
from lifecycle.refusals import FAILED_PRECONDITION, NOT_FOUND, Refused
from lifecycle.statuses import Operation, ResultStatus, TaskStatus
from stores.objects import object_key
from tests.support import OPTIONS, result_rows

pytestmark = pytest.mark.stack


async def test_seed_spreads_tasks_over_partitions_and_queues_the_submitted_ones(client, partitions):
    session = await client.create(partitions, OPTIONS)
    report = await seed(client.stores, session.session_id, 1000, results=130, objects=True)

    assert (report.tasks, report.queued, report.results, report.objects) == (1000, 1000, 130, 130)
    tasks = await client.stores.tasks.with_status(session.session_id, [TaskStatus.SUBMITTED])
    assert Counter(t.partition_id for t in tasks) == {partitions[0]: 500, partitions[1]: 500}
    assert len({t.priority for t in tasks}) > 1
    results = await result_rows(client.stores, session.session_id)
    assert {r.status for r in results} == {
        ResultStatus.COMPLETED,
        ResultStatus.CREATED,
        ResultStatus.ABORTED,
    }
    assert sum(r.manual_deletion for r in results) == 130 // MANUAL_EVERY
    keys = set(await client.stores.objects.keys(f"{session.session_id}/"))
    assert keys == {object_key(session.session_id, r.result_id) for r in results}


@pytest.mark.parametrize(
    ("status", "forbidden"),
    [
        ("RUNNING", TaskStatus.PAUSED),
        ("PAUSED", TaskStatus.SUBMITTED),
        ("PAUSED", TaskStatus.DISPATCHED),
    ],
)
async def test_seed_refuses_tasks_the_sessions_status_forbids(client, status, forbidden):
    session = await client.create([], OPTIONS)
    if status == "PAUSED":
        await client.run(Operation.PAUSE, session.session_id)
    with pytest.raises(Refused) as refused:
        await seed(client.stores, session.session_id, 10, forbidden)
    assert refused.value.kind == FAILED_PRECONDITION
    assert await client.stores.tasks.count(session.session_id) == 0


async def test_seed_refuses_a_missing_session(client):
    with pytest.raises(Refused) as refused:
        await seed(client.stores, "no-such-session", 10)
    assert refused.value.kind == NOT_FOUND
