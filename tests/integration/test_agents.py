"""The compute plane end to end (issue 19): tasks submitted through the real API with the
`armonik` client as shipped, run by two polling agents (`python -m agent`, real processes) on
the sample worker written with the official SDK (samples/worker.py); outputs downloaded and
checked. Then a worker, and an agent, SIGKILLed mid-task: the task is retried and completes
once; a Cancel that stops the running call; a Pause after whose answer no task starts, and a
Resume that runs the rest."""

import asyncio
import os
import signal
import uuid
from datetime import timedelta

import grpc
import pytest
from armonik.client import ArmoniKResults, ArmoniKTasks
from armonik.common import TaskDefinition
from armonik.common import TaskOptions as ArmoniKTaskOptions
from armonik.protogen.common import agent_common_pb2 as agent_pb
from armonik.protogen.worker.agent_service_pb2_grpc import AgentStub

from lifecycle.domain import Partition, TaskOptions
from lifecycle.statuses import NON_FINAL_TASK_STATUSES, Operation, ResultStatus, TaskStatus
from tests.integration.snapshot import assert_invariants
from tests.support import status_codes

pytestmark = pytest.mark.stack

TASKS = 60


@pytest.fixture
async def agents(stack, client):
    partition = f"agents-{uuid.uuid4().hex[:8]}"
    await client.stores.partitions.upsert(Partition(partition))
    # A short lease, so that a killed agent's task is reaped quickly.
    started = [stack.agent(partition, AGENT_LEASE_SECONDS=2) for _ in range(2)]
    try:
        await asyncio.gather(*(asyncio.to_thread(a.start) for a in started))
        yield partition, started
    finally:
        for agent in started:
            await asyncio.to_thread(agent.stop)


def submit(channel, session, payloads: list[bytes], max_duration: timedelta | None = None):
    results, tasks = ArmoniKResults(channel), ArmoniKTasks(channel)
    names = [f"p{n}" for n in range(len(payloads))]
    made = results.create_results(dict(zip(names, payloads, strict=True)), session, batch_size=50)
    outputs = results.create_results_metadata([f"o{n}" for n in range(len(payloads))], session)
    options = max_duration and ArmoniKTaskOptions(max_duration, 1, 1, "")
    definitions = [
        TaskDefinition(made[f"p{n}"].result_id, [outputs[f"o{n}"].result_id], options=options)
        for n in range(len(payloads))
    ]
    submitted = tasks.submit_tasks(session, definitions)
    return [outputs[f"o{n}"].result_id for n in range(len(payloads))], submitted


async def wait_until_final(stores, session, count: int) -> dict[str, int]:
    """The session's tasks, once there are `count` and each is final."""
    while True:
        rows = await statuses(stores, session)
        if len(rows) >= count and not set(rows.values()) & NON_FINAL_TASK_STATUSES:
            return rows
        await asyncio.sleep(0.2)


async def test_agents_run_a_workload_of_the_sample_worker(client, stores, api, agents):
    partition, _ = agents
    session = (await client.create([partition], TaskOptions(60, 2, 1, partition))).session_id
    payloads = [f"task {n}".encode() for n in range(TASKS)]
    payloads += [b"sub:handed on", b"fail:no good"]
    with grpc.insecure_channel(api) as channel:
        outputs, submitted = await asyncio.to_thread(submit, channel, session, payloads)
        late = await asyncio.to_thread(
            submit, channel, session, [b"sleep:30:late"], timedelta(seconds=1)
        )
        # The subtask and the late task are two more.
        rows = await asyncio.wait_for(wait_until_final(stores, session, len(payloads) + 2), 120)
        by_id = {t.id: t for t in submitted}
        assert rows[submitted[-1].id] == TaskStatus.ERROR
        assert rows[late[1][0].id] == TaskStatus.TIMEOUT
        completed = [t for t, s in rows.items() if s == TaskStatus.COMPLETED]
        assert len(completed) == len(payloads)  # every task but the failing one, and the child
        results = ArmoniKResults(channel)
        data = await asyncio.to_thread(
            lambda: [results.download_result_data(o, session) for o in outputs[:-1]]
        )
    assert data[:TASKS] == [p.upper() for p in payloads[:TASKS]]
    assert data[TASKS] == b"HANDED ON"
    assert set(by_id) <= set(rows)
    async with stores.db.connection() as conn:
        last = (await stores.results.get_many(conn, session, [outputs[-1]]))[outputs[-1]]
    assert last.status == ResultStatus.ABORTED
    await assert_invariants(stores, session)


async def test_the_agent_service_answers_only_the_running_task(stack, agents):
    """A call without the running task's token is refused; the data calls ArmoniK.Core's agent
    does not implement answer UNIMPLEMENTED."""
    _, started = agents
    sockets = list((stack.state_dir / "agents").glob(f"*-{started[0].pid}/agent.sock"))
    assert len(sockets) == 1

    def calls() -> list:
        with grpc.insecure_channel(f"unix://{sockets[0]}") as channel:
            agent, token = AgentStub(channel), "not the running task's"
            return status_codes(
                (
                    lambda: agent.NotifyResultData(
                        agent_pb.NotifyResultDataRequest(communication_token=token)
                    ),
                    lambda: agent.SubmitTasks(
                        agent_pb.SubmitTasksRequest(communication_token=token)
                    ),
                    lambda: agent.GetCommonData(agent_pb.DataRequest(communication_token=token)),
                )
            )

    codes = await asyncio.to_thread(calls)
    S = grpc.StatusCode
    assert codes == [S.FAILED_PRECONDITION, S.FAILED_PRECONDITION, S.UNIMPLEMENTED]


async def one_running_task(client, stores, channel, agents, options: TaskOptions, payload: bytes):
    """A new session with one task, once an agent runs it: its outputs, the task, and the
    agent process that owns it."""
    partition, started = agents
    options = TaskOptions(options.max_duration, options.max_retries, options.priority, partition)
    session = (await client.create([partition], options)).session_id
    outputs, submitted = await asyncio.to_thread(submit, channel, session, [payload])
    task = await asyncio.wait_for(processing(stores, session, submitted[0].id), 60)
    owner = next(a for a in started if task.owner_pod_id.endswith(f"-{a.pid}"))
    return outputs, task, owner


@pytest.mark.parametrize("victim", ["worker", "agent"])
async def test_a_killed_task_is_retried_and_completes_once(client, stores, api, agents, victim):
    """SIGKILL the worker running a task (its agent fails the call as retriable and relaunches
    it), or its agent (its lease lapses, and the other agent reaps the task and runs the
    retry): either way the task is RETRIED once and its retry completes."""
    with grpc.insecure_channel(api) as channel:
        outputs, task, owner = await one_running_task(
            client, stores, channel, agents, TaskOptions(60, 3, 1), b"sleep:3:slow"
        )
        session, task_id = task.session_id, task.task_id
        workers = _children(owner.pid)
        assert len(workers) == 1
        os.kill(workers[0] if victim == "worker" else owner.pid, signal.SIGKILL)
        rows = await asyncio.wait_for(wait_until_final(stores, session, 2), 120)
        data = await asyncio.to_thread(
            ArmoniKResults(channel).download_result_data, outputs[0], session
        )
    assert rows[task_id] == TaskStatus.RETRIED
    assert sorted(rows.values()) == sorted([TaskStatus.RETRIED, TaskStatus.COMPLETED])
    assert data == b"SLOW"
    if victim == "agent":
        retry = next(t for t in rows if t != task_id)
        async with stores.db.connection() as conn:
            ran = (await stores.tasks.get_many(conn, session, [retry]))[0]
        assert ran.owner_pod_id != task.owner_pod_id
    await assert_invariants(stores, session)


async def test_cancel_stops_the_running_call(client, stores, api, agents):
    with grpc.insecure_channel(api) as channel:
        _, task, owner = await one_running_task(
            client, stores, channel, agents, TaskOptions(120, 3, 1), b"sleep:100:long"
        )
        session, task_id = task.session_id, task.task_id
        before = _children(owner.pid)
        await asyncio.to_thread(ArmoniKTasks(channel).cancel_tasks, [task_id])
    # The agent abandons the call and relaunches its worker, long before the sleep would end.
    await asyncio.wait_for(relaunched(owner.pid, before), 60)
    async with stores.db.connection() as conn:
        ended = (await stores.tasks.get_many(conn, session, [task_id]))[0]
    assert ended.status == TaskStatus.CANCELLED
    await assert_invariants(stores, session)


async def relaunched(pid: int, before: list[int]) -> None:
    """Once the agent's worker is a new process."""
    while True:
        now = _children(pid)
        if now and set(now).isdisjoint(before):
            return
        await asyncio.sleep(0.1)


async def processing(stores, session: str, task_id: str):
    """The task, once an agent runs it."""
    while True:
        async with stores.db.connection() as conn:
            task = (await stores.tasks.get_many(conn, session, [task_id]))[0]
        if task.status == TaskStatus.PROCESSING:
            return task
        await asyncio.sleep(0.05)


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (the agent's worker)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


async def test_no_task_starts_after_pause_answered_and_resume_runs_the_rest(
    client, stores, api, agents
):
    """Once Pause has answered, a task that had not started never starts (the ones running
    finish); after Resume every task completes."""
    partition, _ = agents
    session = (await client.create([partition], TaskOptions(60, 2, 1, partition))).session_id
    count = 40
    with grpc.insecure_channel(api) as channel:
        outputs, _ = await asyncio.to_thread(
            submit, channel, session, [f"sleep:0.1:t{n}".encode() for n in range(count)]
        )
        await asyncio.wait_for(some_completed(stores, session), 60)
        await client.run(Operation.PAUSE, session)
        at_pause = await statuses(stores, session)
        started = {
            t for t, s in at_pause.items() if s in (TaskStatus.PROCESSING, TaskStatus.COMPLETED)
        }
        await asyncio.wait_for(none_processing(stores, session), 60)
        after = await statuses(stores, session)
        assert {t for t, s in after.items() if s == TaskStatus.COMPLETED} <= started
        assert {s for t, s in after.items() if t not in started} == {TaskStatus.PAUSED}
        await assert_invariants(stores, session)
        await client.run(Operation.RESUME, session)
        rows = await asyncio.wait_for(wait_until_final(stores, session, count), 120)
        data = await asyncio.to_thread(
            lambda: [ArmoniKResults(channel).download_result_data(o, session) for o in outputs]
        )
    assert set(rows.values()) == {TaskStatus.COMPLETED}
    assert data == [f"T{n}".encode() for n in range(count)]
    await assert_invariants(stores, session)


async def statuses(stores, session: str) -> dict[str, int]:
    return {t.task_id: t.status async for c in stores.tasks.chunks(session) for t in c}


async def some_completed(stores, session: str) -> None:
    while True:
        if TaskStatus.COMPLETED in (await statuses(stores, session)).values():
            return
        await asyncio.sleep(0.05)


async def none_processing(stores, session: str) -> None:
    while True:
        found = set((await statuses(stores, session)).values())
        if not found & {TaskStatus.PROCESSING, TaskStatus.DISPATCHED}:
            return
        await asyncio.sleep(0.05)
