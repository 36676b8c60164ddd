"""The invariant checker finds each kind of violation planted in a real session, by its name, and
nothing else; the other tests trust it to say a session is sound."""

from admin.invariants import check
from lifecycle.statuses import Operation, ResultStatus, SessionStatus, TaskStatus
from stores.queue import QueuedTask
from tests.support import new_session, result_rows


async def _violations(stores, session_id: str) -> dict[str, int]:
    return dict((await check(stores, [session_id])).violations)


async def _task(stores, session_id: str, status: TaskStatus) -> QueuedTask:
    [task] = (await stores.tasks.with_status(session_id, [status]))[:1]
    return QueuedTask.of(task)


async def test_a_sound_session_has_no_violation(client, stores, partitions):
    session_id = await new_session(
        client, partitions=partitions, mix={TaskStatus.SUBMITTED: 30, TaskStatus.COMPLETED: 5}
    )
    assert await _violations(stores, session_id) == {}


async def test_queue_entries_missing_extra_and_twice_are_each_named(client, stores, partitions):
    session_id = await new_session(
        client, partitions=partitions, mix={TaskStatus.SUBMITTED: 30, TaskStatus.COMPLETED: 5}
    )
    lost = await _task(stores, session_id, TaskStatus.SUBMITTED)
    await stores.queue.remove([lost])
    done = await _task(stores, session_id, TaskStatus.COMPLETED)
    await stores.queue.push([done])
    queued = [t for t in await stores.tasks.with_status(session_id, [TaskStatus.SUBMITTED])]
    twice = QueuedTask.of(next(t for t in queued if t.task_id != lost.task_id))
    elsewhere = next(p for p in partitions if p != twice.partition_id)
    await stores.queue.push([QueuedTask(session_id, twice.task_id, elsewhere, twice.priority)])

    planted = [done, QueuedTask(session_id, twice.task_id, elsewhere, twice.priority)]
    try:
        assert await _violations(stores, session_id) == {
            "2_submitted_task_not_queued": 1,
            # The completed task, and the second entry of the one queued twice.
            "2_queued_task_not_submitted": 2,
            "6_task_queued_twice": 1,
        }
    finally:
        # The queues are shared: leave them sound for the tests that check them all.
        await stores.queue.remove(planted)
        await stores.queue.push([lost])
    assert await _violations(stores, session_id) == {}


async def test_task_statuses_the_session_forbids_are_named(client, stores):
    session_id = await new_session(client, mix={TaskStatus.DISPATCHED: 10})
    await client.run(Operation.PAUSE, session_id)
    async with stores.db.transaction() as tx:
        await tx.execute(
            "UPDATE tasks SET status = $2 WHERE session_id = $1",
            session_id,
            int(TaskStatus.DISPATCHED),
        )
    assert await _violations(stores, session_id) == {
        "1_paused_has_no_submitted_or_dispatched_task": 10
    }


async def test_a_purge_that_left_a_result_or_an_object_is_named(client, stores):
    session_id = await new_session(client, results=20, objects=True)
    await client.run(Operation.CLOSE, session_id)
    await client.run(Operation.PURGE, session_id)
    assert (await stores.sessions.get(session_id)).status == SessionStatus.PURGED
    [kept] = [r for r in await result_rows(stores, session_id) if r.status == ResultStatus.DELETED][
        :1
    ]
    await stores.objects.put(f"{session_id}/{kept.result_id}", b"late")
    async with stores.db.transaction() as tx:
        await tx.execute(
            "UPDATE results SET status = $3 WHERE session_id = $1 AND result_id = $2",
            session_id,
            kept.result_id,
            int(ResultStatus.COMPLETED),
        )
    assert await _violations(stores, session_id) == {
        "4_purged_has_undeleted_result": 1,
        "4_purged_left_an_object": 1,
    }
