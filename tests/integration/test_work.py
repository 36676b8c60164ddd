"""Work in a session against the real PostgreSQL, Redis and S3 (SPEC §6): results, submission
with dependencies, the refusals in ArmoniK's order, paused sessions, the queue outbox after a
crash, and an agent's acquire/start/complete/fail/release; the invariant checker after each
step. Each test has a partition of its own, so its queue holds only its tasks."""

import asyncio
import contextlib
import hashlib
import uuid

import pytest

from engine.work import Work, new_object_key
from lifecycle.domain import Partition, TaskOptions
from lifecycle.refusals import FAILED_PRECONDITION, INVALID_ARGUMENT, NOT_FOUND, Refused
from lifecycle.statuses import Operation, ResultStatus, TaskStatus
from lifecycle.work import TaskRequest
from stores.queue import QueuedTask
from tests.integration.snapshot import assert_invariants
from tests.support import eventually

pytestmark = pytest.mark.stack

T, R = TaskStatus, ResultStatus
OPTIONS = TaskOptions(max_duration=60, max_retries=2, priority=5)
POD = "pod-a"


@pytest.fixture
async def session(client, stores):
    """A RUNNING session on a partition of its own."""
    partition = f"work-{uuid.uuid4()}"
    await stores.partitions.upsert(Partition(partition))
    created = await client.create([partition], OPTIONS)
    return created.session_id


@pytest.fixture
def work(stores) -> Work:
    return Work(stores, download_chunk=64 * 1024)


async def statuses(stores, session_id: str) -> dict[str, int]:
    return {t.task_id: t.status async for chunk in stores.tasks.chunks(session_id) for t in chunk}


async def results(stores, session_id: str, ids: list[str]) -> dict:
    async with stores.db.connection() as conn:
        return await stores.results.get_many(conn, session_id, ids)


async def queued(stores, tasks) -> list[bool]:
    return await stores.queue.queued([QueuedTask.of(t) for t in tasks])


async def run_to_completion(work: Work, stores, session_id: str, task_id: str, outputs: dict):
    """What an agent does with a task it popped: acquire, start, write the outputs, complete."""
    assert await work.acquire(session_id, task_id, POD) is not None
    assert await work.start(session_id, task_id, POD)
    written = {}
    for result_id, data in outputs.items():
        key = new_object_key(session_id)
        await stores.objects.put(key, data)
        written[result_id] = (len(data), key)
    assert await work.complete(session_id, task_id, POD, written)


async def chunks_of(data: bytes, size: int):
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def test_a_dependency_completed_makes_its_dependant_submitted_and_queued(
    work, stores, session
):
    payload, common = await work.create_results(session, [("payload", b"p"), ("common", b"c")])
    assert (payload.status, payload.size) == (R.COMPLETED, 1)
    out_a, out_b, later = await work.create_results_metadata(session, ["a", "b", "later"])
    first = TaskRequest(payload.result_id, (out_a.result_id,))
    [a] = await work.submit_tasks(session, [first])
    [b] = await work.submit_tasks(
        session,
        [
            TaskRequest(
                payload.result_id,
                (out_b.result_id,),
                (out_a.result_id, later.result_id, common.result_id),
                {"priority": 7},
            )
        ],
    )
    assert (a.status, b.status) == (T.SUBMITTED, T.PENDING)
    assert (b.priority, b.options.max_retries, b.partition_id) == (7, 2, a.partition_id)
    assert await queued(stores, [a.row, b.row]) == [True, False]
    owners = await results(stores, session, [out_a.result_id, out_b.result_id])
    assert [r.owner_task_id for r in owners.values()] == [a.task_id, b.task_id]
    await assert_invariants(stores, session)

    # A retried submission finds the task it made: nothing twice, the same answer.
    assert [t.task_id for t in await work.submit_tasks(session, [first])] == [a.task_id]
    assert len(await statuses(stores, session)) == 2

    # One of two dependencies completes: still PENDING. The other, by the agent: ready.
    await work.upload_result_data(session, later.result_id, chunks_of(b"later", 2))
    assert (await statuses(stores, session))[b.task_id] == T.PENDING
    await run_to_completion(work, stores, session, a.task_id, {out_a.result_id: b"A's output"})
    now = await statuses(stores, session)
    assert (now[a.task_id], now[b.task_id]) == (T.COMPLETED, T.SUBMITTED)
    assert await queued(stores, [a.row, b.row]) == [False, True]
    await assert_invariants(stores, session)
    # A repeated report of the same completion changes nothing.
    assert await work.complete(session, a.task_id, POD, {})

    data = b"".join([c async for c in await work.download(session, out_a.result_id)])
    assert data == b"A's output"
    await assert_invariants(stores, session)


async def test_a_streamed_upload_is_kept_whole_with_its_size(work, stores, session):
    [result] = await work.create_results_metadata(session, ["big"])
    data = hashlib.sha256(b"seed").digest() * (17 * 2**20 // 32 + 3)

    uploaded = await work.upload_result_data(session, result.result_id, chunks_of(data, 2**20))

    assert (uploaded.status, uploaded.size) == (R.COMPLETED, len(data))
    chunks = [c async for c in await work.download(session, result.result_id)]
    assert max(len(c) for c in chunks) <= work.download_chunk
    assert b"".join(chunks) == data
    # A second upload to a COMPLETED result is refused and leaves no object behind.
    with pytest.raises(Refused) as refused:
        await work.upload_result_data(session, result.result_id, chunks_of(b"again", 5))
    assert refused.value.kind == FAILED_PRECONDITION
    assert await stores.objects.keys(f"{session}/") == [uploaded.opaque_id]

    assert await work.delete_results_data(session, [result.result_id]) == [result.result_id]
    row = (await results(stores, session, [result.result_id]))[result.result_id]
    assert (row.status, row.opaque_id) == (R.DELETED, None)
    assert await stores.objects.keys(f"{session}/") == []
    await assert_invariants(stores, session)


async def test_a_failed_upload_leaves_no_object(work, stores, session):
    """A stream that breaks after its multipart upload began, one that breaks before, and one
    that ends after another call completed the result meanwhile (refused at the commit): each
    leaves no object and the result as it was; only the upload that won keeps its object."""
    [result] = await work.create_results_metadata(session, ["r"])

    async def breaking(size):
        yield b"x" * size
        raise OSError("the client went away")

    for size in (17 * 2**20, 10):
        with pytest.raises(OSError):
            await work.upload_result_data(session, result.result_id, breaking(size))
        assert await stores.objects.keys(f"{session}/") == []
    row = (await results(stores, session, [result.result_id]))[result.result_id]
    assert row.status == R.CREATED

    won = []

    async def overtaken():
        yield b"late"
        won.append(await work.upload_result_data(session, result.result_id, chunks_of(b"won", 3)))

    with pytest.raises(Refused) as refused:
        await work.upload_result_data(session, result.result_id, overtaken())
    assert refused.value.kind == FAILED_PRECONDITION
    assert await stores.objects.keys(f"{session}/") == [won[0].opaque_id]
    data = b"".join([c async for c in await work.download(session, result.result_id)])
    assert data == b"won"
    await assert_invariants(stores, session)


async def _refusal(work, session_id, requests) -> str:
    with pytest.raises(Refused) as refused:
        await work.submit_tasks(session_id, requests)
    return refused.value.kind


async def test_submissions_are_refused_in_armoniks_order_and_change_nothing(
    client, work, stores, session
):
    payload, done = await work.create_results(session, [("payload", b"p"), ("done", b"d")])
    owned, free = await work.create_results_metadata(session, ["owned", "free"])
    await work.submit_tasks(session, [TaskRequest(payload.result_id, (owned.result_id,))])
    before = await statuses(stores, session)
    p = payload.result_id
    bad_options = {"priority": 0}

    cases = [
        # Existence first: the session, then a result, whatever else is wrong.
        ("missing-session", [TaskRequest(p, (free.result_id,))], NOT_FOUND, "nope"),
        ("missing-result", [TaskRequest(p, ("ghost",), (), bad_options)], NOT_FOUND, None),
        ("priority", [TaskRequest(p, (free.result_id,), (), bad_options)], INVALID_ARGUMENT, None),
        ("retries", [TaskRequest(p, (), (), {"max_retries": 0})], INVALID_ARGUMENT, None),
        ("partition", [TaskRequest(p, (), (), {"partition_id": "x"})], INVALID_ARGUMENT, None),
        # Another task expecting an owned output (the same request again is a retry).
        ("owned", [TaskRequest(p, (owned.result_id,), (done.result_id,))], INVALID_ARGUMENT, None),
        ("completed", [TaskRequest(p, (done.result_id,))], INVALID_ARGUMENT, None),
        ("self", [TaskRequest(p, (free.result_id,), (free.result_id,))], INVALID_ARGUMENT, None),
        # One bad task refuses the whole submission.
        ("one-bad", [TaskRequest(p), TaskRequest(p, (), (), bad_options)], INVALID_ARGUMENT, None),
    ]
    for name, requests, kind, other in cases:
        assert await _refusal(work, other or session, requests) == kind, name
    assert await statuses(stores, session) == before

    # Submission stopped: FAILED_PRECONDITION, after NOT_FOUND and before INVALID_ARGUMENT.
    await client.run(Operation.STOP_SUBMISSION, session, client=True, worker=False)
    assert await _refusal(work, session, [TaskRequest(p, (free.result_id,))]) == FAILED_PRECONDITION
    assert await _refusal(work, session, [TaskRequest(p, ("ghost",))]) == NOT_FOUND
    assert await _refusal(work, session, [TaskRequest(p, (), (), bad_options)]) == (
        FAILED_PRECONDITION
    )
    await client.run(Operation.CANCEL, session)
    assert await _refusal(work, session, [TaskRequest(p)]) == FAILED_PRECONDITION
    free_row = (await results(stores, session, [free.result_id]))[free.result_id]
    assert free_row.owner_task_id is None
    await assert_invariants(stores, session)


async def test_closed_sessions_take_no_task(client, work, session):
    [payload] = await work.create_results(session, [("payload", b"p")])
    await client.run(Operation.CLOSE, session)
    assert await _refusal(work, session, [TaskRequest(payload.result_id)]) == FAILED_PRECONDITION


async def test_a_paused_session_takes_tasks_paused_and_resume_queues_them(
    client, work, stores, session
):
    [payload] = await work.create_results(session, [("payload", b"p")])
    [dep] = await work.create_results_metadata(session, ["dep"])
    await client.run(Operation.PAUSE, session)

    [ready] = await work.submit_tasks(session, [TaskRequest(payload.result_id)])
    waits = TaskRequest(payload.result_id, (), (dep.result_id,))
    [waiting] = await work.submit_tasks(session, [waits])
    assert (ready.status, waiting.status) == (T.PAUSED, T.PENDING)
    # Completed while paused, the dependant goes PAUSED, not queued.
    await work.upload_result_data(session, dep.result_id, chunks_of(b"d", 1))
    assert (await statuses(stores, session))[waiting.task_id] == T.PAUSED
    assert await queued(stores, [ready.row, waiting.row]) == [False, False]
    await assert_invariants(stores, session)

    await client.run(Operation.RESUME, session)

    assert set((await statuses(stores, session)).values()) == {T.SUBMITTED}
    assert await queued(stores, [ready.row, waiting.row]) == [True, True]
    await assert_invariants(stores, session)


async def test_the_outbox_relays_what_a_crash_left_unqueued(
    client, work, stores, session, monkeypatch
):
    """The process dies after the submission committed and before its push: the marks stay in
    the outbox, and the next relay queues the tasks, or, if a Pause came first, leaves them out
    of the queue as PAUSED."""
    [payload] = await work.create_results(session, [("payload", b"p")])

    async def dead(*_args, **_kwargs) -> int:
        return 0

    monkeypatch.setattr(Work, "relay", dead)
    crashed = Work(stores)
    tasks = await crashed.submit_tasks(session, [TaskRequest(payload.result_id) for _ in range(3)])
    monkeypatch.undo()
    assert await queued(stores, [t.row for t in tasks]) == [False] * 3
    assert await stores.tasks.marks(session) == 3

    # The restarted process's periodic relay finds the marks.
    relaying = asyncio.create_task(Work(stores).relay_forever(0.05))
    try:
        await eventually(lambda: _drained(stores, session), what="the outbox drained")
    finally:
        relaying.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relaying

    assert await queued(stores, [t.row for t in tasks]) == [True] * 3
    await assert_invariants(stores, session)

    monkeypatch.setattr(Work, "relay", dead)
    more = await crashed.submit_tasks(session, [TaskRequest(payload.result_id, task_id="late")])
    monkeypatch.undo()
    await client.run(Operation.PAUSE, session)
    await Work(stores).drain()
    assert await queued(stores, [more[0].row]) == [False]
    assert (await statuses(stores, session))["late"] == T.PAUSED
    await assert_invariants(stores, session)


async def _drained(stores, session_id: str) -> bool:
    return await stores.tasks.marks(session_id) == 0


async def test_a_failed_task_is_retried_then_errors_and_aborts_its_dependants(
    work, stores, session
):
    [payload] = await work.create_results(session, [("payload", b"p")])
    out, out2 = await work.create_results_metadata(session, ["out", "out2"])
    [a] = await work.submit_tasks(session, [TaskRequest(payload.result_id, (out.result_id,))])
    [b] = await work.submit_tasks(
        session, [TaskRequest(payload.result_id, (out2.result_id,), (out.result_id,))]
    )
    task_id = a.task_id
    for attempt in range(OPTIONS.max_retries):
        assert await work.acquire(session, task_id, POD) is not None
        assert await work.start(session, task_id, POD)
        failed = await work.fail(session, task_id, POD, "worker crashed", retriable=True)
        assert failed is not None and failed.status == T.RETRIED
        # A repeated report changes nothing.
        assert (await work.fail(session, task_id, POD, "again", retriable=True)).status == T.RETRIED
        task_id = f"{a.task_id}###{attempt + 1}"
        owner = (await results(stores, session, [out.result_id]))[out.result_id].owner_task_id
        assert owner == task_id
        await assert_invariants(stores, session)
    assert await work.acquire(session, task_id, POD) is not None
    assert await work.start(session, task_id, POD)
    ended = await work.fail(session, task_id, POD, "worker crashed", retriable=True)

    assert ended is not None and ended.status == T.ERROR
    assert ended.retry_of_ids == (a.task_id, f"{a.task_id}###1")
    now = await statuses(stores, session)
    assert now[b.task_id] == T.ERROR
    rows = await results(stores, session, [out.result_id, out2.result_id])
    assert [r.status for r in rows.values()] == [R.ABORTED, R.ABORTED]
    await assert_invariants(stores, session)


async def test_release_requeues_and_cancel_tasks_dequeues_and_aborts(client, work, stores, session):
    [payload] = await work.create_results(session, [("payload", b"p")])
    out, out2 = await work.create_results_metadata(session, ["out", "out2"])
    [a] = await work.submit_tasks(session, [TaskRequest(payload.result_id, (out.result_id,))])
    [b] = await work.submit_tasks(
        session, [TaskRequest(payload.result_id, (out2.result_id,), (out.result_id,))]
    )
    assert await stores.queue.pop(a.partition_id, 1) == [(session, a.task_id)]
    assert await work.acquire(session, a.task_id, POD) is not None
    # Another agent cannot take it, nor start it, nor report on it.
    assert await work.acquire(session, a.task_id, "pod-b") is None
    assert not await work.start(session, a.task_id, "pod-b")
    assert not await work.complete(session, a.task_id, "pod-b", {})
    assert await work.release(session, a.task_id, POD)
    assert await queued(stores, [a.row]) == [True]
    await assert_invariants(stores, session)

    cancelled = await work.cancel_tasks(session, [a.task_id])

    assert [t.task_id for t in cancelled] == [a.task_id]
    now = await statuses(stores, session)
    assert (now[a.task_id], now[b.task_id]) == (T.CANCELLED, T.CANCELLED)
    assert await queued(stores, [a.row]) == [False]
    rows = await results(stores, session, [out.result_id, out2.result_id])
    assert [r.status for r in rows.values()] == [R.ABORTED, R.ABORTED]
    # A late agent cannot bring it back.
    assert await work.acquire(session, a.task_id, POD) is None
    with pytest.raises(Refused) as refused:
        await work.cancel_tasks(session, ["ghost"])
    assert refused.value.kind == NOT_FOUND
    await assert_invariants(stores, session)

    await client.run(Operation.DELETE, session)
    await assert_invariants(stores, session)


async def test_subtasks_wait_for_their_parent_and_take_over_its_outputs(work, stores, session):
    [payload] = await work.create_results(session, [("payload", b"p")])
    [final] = await work.create_results_metadata(session, ["final"])
    first = TaskRequest(payload.result_id, (final.result_id,))
    [parent] = await work.submit_tasks(session, [first])
    assert await work.acquire(session, parent.task_id, POD) is not None
    assert await work.start(session, parent.task_id, POD)
    [partial] = await work.create_results_metadata(session, ["partial"], created_by=parent.task_id)
    [child] = await work.submit_tasks(
        session,
        [TaskRequest(payload.result_id, (final.result_id,), (partial.result_id,))],
        parent_task_id=parent.task_id,
    )
    assert child.status == T.CREATING and child.parent_task_ids == (parent.task_id,)

    key = new_object_key(session)
    await stores.objects.put(key, b"half")
    assert await work.complete(session, parent.task_id, POD, {partial.result_id: (4, key)})

    now = await statuses(stores, session)
    assert (now[parent.task_id], now[child.task_id]) == (T.COMPLETED, T.SUBMITTED)
    owner = (await results(stores, session, [final.result_id]))[final.result_id].owner_task_id
    assert owner == child.task_id
    assert await queued(stores, [child.row]) == [True]
    await assert_invariants(stores, session)


async def test_races_between_completions_submissions_and_a_pause_break_no_invariant(
    client, work, stores, session
):
    """Two completions of a task's last two dependencies must not both miss that it is ready;
    a submission racing its dependency's completion must not wait on it forever; submissions
    racing a Pause land wholly before it (queued, then paused by its sweep) or after (PAUSED)."""
    [payload] = await work.create_results(session, [("payload", b"p")])
    deps = await work.create_results_metadata(session, [f"d{i}" for i in range(12)])
    [fan_in] = await work.submit_tasks(
        session, [TaskRequest(payload.result_id, (), tuple(d.result_id for d in deps))]
    )
    await asyncio.gather(
        *(work.upload_result_data(session, d.result_id, chunks_of(b"x", 1)) for d in deps)
    )
    assert (await statuses(stores, session))[fan_in.task_id] == T.SUBMITTED

    racing = await work.create_results_metadata(session, [f"r{i}" for i in range(10)])
    submitted = await asyncio.gather(
        *(
            work.submit_tasks(session, [TaskRequest(payload.result_id, (), (r.result_id,))])
            for r in racing
        ),
        *(work.upload_result_data(session, r.result_id, chunks_of(b"y", 1)) for r in racing),
    )
    now = await statuses(stores, session)
    assert {now[tasks[0].task_id] for tasks in submitted[: len(racing)]} == {T.SUBMITTED}
    await assert_invariants(stores, session)

    requests = [TaskRequest(payload.result_id, task_id=f"p{i}") for i in range(20)]
    await asyncio.gather(
        *(work.submit_tasks(session, [r]) for r in requests), client.run(Operation.PAUSE, session)
    )
    now = await statuses(stores, session)
    assert {now[f"p{i}"] for i in range(20)} == {T.PAUSED}
    await assert_invariants(stores, session)


async def test_an_agent_killed_between_its_take_and_its_acquisition_loses_nothing(
    work, stores, session
):
    [payload] = await work.create_results(session, [("payload", b"p")])
    tasks = await work.submit_tasks(session, [TaskRequest(payload.result_id) for _ in range(3)])
    partition = tasks[0].partition_id

    # The agent takes two entries and dies before acquiring them.
    taken = await stores.queue.take(partition, 2, "dead-pod")
    assert len(taken) == 2 and len(await stores.queue.held("dead-pod", partition)) == 2
    # Its lease lapses: what it held goes back to the queue.
    assert await work.give_back("dead-pod", partition) == 2
    assert await stores.queue.held("dead-pod", partition) == []
    await assert_invariants(stores, session)

    # A live agent takes and acquires everything; nothing stays in flight.
    acquired = await work.take(partition, 10, POD)
    assert sorted(t.task_id for t in acquired) == sorted(t.task_id for t in tasks)
    assert {t.status for t in acquired} == {T.DISPATCHED}
    assert await stores.queue.held(POD, partition) == []
    assert await queued(stores, [t.row for t in tasks]) == [False] * 3
    await assert_invariants(stores, session)
