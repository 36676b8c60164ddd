"""The read side of the Tasks, Results and Applications services, and Authentication and
HealthChecks, driven through the real API server by ArmoniK's own Python client (its calls run
in threads, so that the server in this test's event loop answers them) over rows the seed tool
wrote: filters (an OR of ANDs), sorts, pages, NOT_FOUND for what is not there and
INVALID_ARGUMENT for what does not fit."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from armonik.client.health_checks import ArmoniKHealthChecks
from armonik.client.results import ArmoniKResults
from armonik.client.tasks import ArmoniKTasks
from armonik.common import Direction, Result, Task
from armonik.common import TaskStatus as ArmoniKTaskStatus
from armonik.protogen.client.applications_service_pb2_grpc import ApplicationsStub
from armonik.protogen.client.auth_service_pb2_grpc import AuthenticationStub
from armonik.protogen.client.tasks_service_pb2_grpc import TasksStub
from armonik.protogen.common import applications_common_pb2 as apb
from armonik.protogen.common import applications_fields_pb2 as afields
from armonik.protogen.common import applications_filters_pb2 as afilters
from armonik.protogen.common import auth_common_pb2
from armonik.protogen.common import filters_common_pb2 as fc
from armonik.protogen.common import tasks_common_pb2 as tpb
from armonik.protogen.common import tasks_fields_pb2 as tfields
from armonik.protogen.common import tasks_filters_pb2 as tfilters
from temporalio.client import Client

from api.server import build_server
from engine.operations import Engine
from lifecycle.statuses import ResultStatus, TaskStatus
from security.permissions import ALL
from stores.results import ResultRow
from stores.task_reads import TaskData
from tests.support import new_session, result_rows
from wire.tasks import task_summary

pytestmark = pytest.mark.stack

MIX = {TaskStatus.SUBMITTED: 30, TaskStatus.COMPLETED: 20, TaskStatus.ERROR: 5}


@pytest.fixture(scope="module")
def channel(api):
    with grpc.insecure_channel(api) as channel:
        yield channel


@pytest.fixture(scope="module")
async def seeded(client) -> dict:
    """Two sessions: `a` with MIX and 12 results, two of them owned by its first two tasks;
    `b` with 7 tasks and no results."""
    a = await new_session(client, mix=MIX, results=12)
    b = await new_session(client, mix={TaskStatus.SUBMITTED: 7})
    tasks = [t async for chunk in client.stores.tasks.chunks(a) for t in chunk]
    owner, other = tasks[0].task_id, tasks[1].task_id
    owned = {f"out-{uuid.uuid4()}": task_id for task_id in (owner, owner, other)}
    async with client.stores.db.transaction() as tx:
        await client.stores.results.insert(
            tx,
            [
                ResultRow(a, result_id, f"output-{n}", int(ResultStatus.CREATED), task_id)
                for n, (result_id, task_id) in enumerate(owned.items())
            ],
        )
    return {"a": a, "b": b, "tasks": tasks, "owned": owned}


async def call(function, *args, **kwargs):
    return await asyncio.to_thread(function, *args, **kwargs)


async def refused(function, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as error:
        await call(function, *args, **kwargs)
    return error.value


async def test_tasks_are_counted_listed_paged_and_got(channel, seeded):
    tasks = ArmoniKTasks(channel)
    a, b = seeded["a"], seeded["b"]
    in_a = Task.session_id == a

    # The Admin GUI's call, for each session row.
    counts = await call(tasks.count_tasks_by_status, in_a)
    assert counts == {ArmoniKTaskStatus(int(s)): n for s, n in MIX.items()}

    # Every page of 10, sorted by id: each task once, and the total on each page.
    seen = []
    for page in range(6):
        total, listed = await call(tasks.list_tasks, in_a, page=page, page_size=10, detailed=False)
        assert total == 55
        seen += [t.id for t in listed]
    assert seen == sorted(t.task_id for t in seeded["tasks"])
    # A deep page walked from the end answers as a shallow one does.
    total, last = await call(tasks.list_tasks, in_a, page=5, page_size=10, detailed=False)
    assert [t.id for t in last] == seen[50:]

    # An OR of ANDs.
    either = (in_a & (Task.status == ArmoniKTaskStatus.COMPLETED)) | (Task.session_id == b)
    total, listed = await call(tasks.list_tasks, either, page_size=100)
    assert total == 27
    assert {t.session_id for t in listed} == {a, b}
    assert all(t.session_id == b or t.status == ArmoniKTaskStatus.COMPLETED for t in listed)

    # Sorted by an option, descending, with the key breaking ties.
    total, by_priority = await call(
        tasks.list_tasks,
        in_a,
        page_size=100,
        sort_field=Task.options.priority,
        sort_direction=Direction.DESC,
    )
    priorities = [t.options.priority for t in by_priority]
    assert priorities == sorted(priorities, reverse=True) and len(set(priorities)) > 1

    # A field the tasks table does not hold is its default, in filters as on the wire.
    total, _ = await call(tasks.list_tasks, in_a & (Task.options.application_name == ""))
    assert total == 55
    total, _ = await call(tasks.list_tasks, in_a & (Task.initial_task_id != ""))
    assert total == 0
    total, _ = await call(tasks.list_tasks, in_a & (Task.options["k"] == "v"))
    assert total == 0

    seeded_task = seeded["tasks"][0]
    got = await call(tasks.get_task, seeded_task.task_id)
    assert (got.id, got.session_id) == (seeded_task.task_id, a)
    assert got.status == ArmoniKTaskStatus(seeded_task.status)
    assert got.options.priority == seeded_task.priority
    assert got.options.partition_id == seeded_task.partition_id
    assert got.created_at is not None

    missing = await refused(tasks.get_task, f"nowhere-{uuid.uuid4()}")
    assert missing.code() == grpc.StatusCode.NOT_FOUND


async def test_result_ids_of_tasks(channel, seeded):
    tasks = ArmoniKTasks(channel)
    owner, other, idle = (t.task_id for t in seeded["tasks"][:3])
    owned = await call(tasks.get_result_ids, [owner, other, idle])
    expected: dict[str, list[str]] = {owner: [], other: [], idle: []}
    for result_id, task_id in seeded["owned"].items():
        expected[task_id].append(result_id)
    assert {t: sorted(r) for t, r in owned.items()} == {t: sorted(r) for t, r in expected.items()}
    unknown = f"nowhere-{uuid.uuid4()}"
    missing = await refused(tasks.get_result_ids, [owner, unknown])
    assert missing.code() == grpc.StatusCode.NOT_FOUND and unknown in missing.details()


def _task_field(summary: int) -> tfields.TaskField:
    return tfields.TaskField(task_summary_field=tfields.TaskSummaryField(field=summary))


SORT = tpb.ListTasksRequest.Sort(
    field=_task_field(tfields.TASK_SUMMARY_ENUM_FIELD_TASK_ID), direction=1
)
STATUS_ON_ID = tfilters.Filters(
    **{
        "or": [
            tfilters.FiltersAnd(
                **{
                    "and": [
                        tfilters.FilterField(
                            field=_task_field(tfields.TASK_SUMMARY_ENUM_FIELD_TASK_ID),
                            filter_status=tfilters.FilterStatus(value=2, operator=0),
                        )
                    ]
                }
            )
        ]
    }
)
BAD_TASK_LISTS = {
    "status filter on a string field": tpb.ListTasksRequest(
        page_size=10, sort=SORT, filters=STATUS_ON_ID
    ),
    "no sort": tpb.ListTasksRequest(page_size=10),
    "unspecified sort field": tpb.ListTasksRequest(
        page_size=10, sort=tpb.ListTasksRequest.Sort(field=tfields.TaskField(), direction=1)
    ),
    "page too large": tpb.ListTasksRequest(page_size=100_000, sort=SORT),
    "negative page": tpb.ListTasksRequest(page=-1, page_size=10, sort=SORT),
}


@pytest.mark.parametrize("request_name", list(BAD_TASK_LISTS))
async def test_a_bad_task_list_is_an_invalid_argument(channel, request_name):
    stub = TasksStub(channel)
    request = BAD_TASK_LISTS[request_name]
    for method in (stub.ListTasks, stub.ListTasksDetailed):
        error = await refused(method, request)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    if request.HasField("filters"):
        count = tpb.CountTasksByStatusRequest(filters=request.filters)
        error = await refused(stub.CountTasksByStatus, count)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_the_write_side_of_tasks_is_served_beside_the_reads(channel):
    unknown = tpb.SubmitTasksRequest(session_id=str(uuid.uuid4()))
    error = await refused(TasksStub(channel).SubmitTasks, unknown)
    assert error.code() == grpc.StatusCode.NOT_FOUND, error.details()


async def test_results_are_listed_got_and_their_owners_found(client, channel, seeded):
    results = ArmoniKResults(channel)
    a = seeded["a"]
    rows = {r.result_id: r for r in await result_rows(client.stores, a)}
    assert len(rows) == 15

    total, listed = await call(
        results.list_results, Result.session_id == a, page_size=100, sort_field=Result.name
    )
    assert total == 15 and [r.result_id for r in listed] == [
        r.result_id for r in sorted(rows.values(), key=lambda r: (r.name.encode(), r.result_id))
    ]
    completed = [r for r in rows.values() if r.status == ResultStatus.COMPLETED]
    total, listed = await call(
        results.list_results,
        (Result.session_id == a) & (Result.status == int(ResultStatus.COMPLETED)),
        page_size=2,
        page=1,
    )
    assert total == len(completed) > 2 and len(listed) == 2
    assert all(r.status == int(ResultStatus.COMPLETED) for r in listed)

    owned_id = next(iter(seeded["owned"]))
    got = await call(results.get_result, owned_id)
    assert (got.result_id, got.session_id) == (owned_id, a)
    assert got.owner_task_id == seeded["owned"][owned_id]
    assert got.created_at is not None

    unowned = next(r for r in rows if r not in seeded["owned"])
    owners = await call(results.get_owner_task_id, [owned_id, unowned], a)
    assert owners == {owned_id: seeded["owned"][owned_id], unowned: ""}

    unknown = f"nowhere-{uuid.uuid4()}"
    assert (await refused(results.get_result, unknown)).code() == grpc.StatusCode.NOT_FOUND
    missing = await refused(results.get_owner_task_id, [owned_id, unknown], a)
    assert missing.code() == grpc.StatusCode.NOT_FOUND and unknown in missing.details()
    gone = await refused(results.get_owner_task_id, [owned_id], unknown)
    assert gone.code() == grpc.StatusCode.NOT_FOUND
    # A result's status filter takes a result status.
    bad = await refused(results.list_results, Result.status == 99)
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT

    assert await call(results.get_service_config) == 64 * 1024


def _application_field(number: int) -> afields.ApplicationField:
    return afields.ApplicationField(application_field=afields.ApplicationRawField(field=number))


async def test_applications_are_the_distinct_options_of_the_tasks(channel, seeded):
    stub = ApplicationsStub(channel)
    by_name = _application_field(afields.APPLICATION_RAW_ENUM_FIELD_NAME)
    sort = apb.ListApplicationsRequest.Sort(fields=[by_name], direction=1)
    listed = await call(stub.ListApplications, apb.ListApplicationsRequest(page_size=10, sort=sort))
    # The tasks table keeps no application options yet: every task is of the one unnamed one.
    assert listed.total == 1
    assert [(a.name, a.version, a.namespace, a.service) for a in listed.applications] == [
        ("", "", "", "")
    ]
    named = afilters.FilterField(
        field=by_name,
        filter_string=fc.FilterString(value="x", operator=fc.FILTER_STRING_OPERATOR_STARTS_WITH),
    )
    filters = afilters.Filters(**{"or": [afilters.FiltersAnd(**{"and": [named]})]})
    none = await call(
        stub.ListApplications,
        apb.ListApplicationsRequest(page_size=10, sort=sort, filters=filters),
    )
    assert none.total == 0 and not none.applications
    bad_sort = apb.ListApplicationsRequest.Sort(fields=[_application_field(0)], direction=1)
    error = await refused(
        stub.ListApplications, apb.ListApplicationsRequest(page_size=10, sort=bad_sort)
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_without_tls_the_current_user_is_anonymous_with_every_permission(channel):
    answer = await call(
        AuthenticationStub(channel).GetCurrentUser, auth_common_pb2.GetCurrentUserRequest()
    )
    assert answer.user.username == "anonymous"
    assert sorted(answer.user.permissions) == ALL


async def test_health_checks_name_each_store_and_temporal(channel, settings, stores):
    healthy = {"status": 1, "message": ""}
    expected = {"database", "queue", "object storage", "temporal"}
    assert await call(ArmoniKHealthChecks(channel).check_health) == {
        name: healthy for name in expected
    }

    # Temporal out of reach: its entry says so, the stores' stay healthy, the call answers.
    nowhere = await Client.connect("127.0.0.1:1", lazy=True)
    server, port = await build_server(Engine(settings, nowhere, stores), "127.0.0.1:0")
    await server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as other:
            health = await call(ArmoniKHealthChecks(other).check_health)
    finally:
        await server.stop(None)
    assert set(health) == expected
    assert health["temporal"]["status"] == 3 and health["temporal"]["message"]
    assert all(health[name] == healthy for name in expected - {"temporal"})


def test_durations_of_a_task_are_between_its_dates():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    task = TaskData("s", "t", 4, 1, "p", 1, 60.0, created_at=start, ended_at=start + timedelta(3))
    summary = task_summary(task)
    assert summary.creation_to_end_duration.ToTimedelta() == timedelta(3)
    assert summary.options.max_duration.ToTimedelta() == timedelta(seconds=60)
