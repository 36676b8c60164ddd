"""CreateSession on the real stack (SPEC §2, Create): the partitions are resolved and checked,
the options validated, and the session inserted RUNNING and open to submission. A refusal
inserts nothing, whether the client refuses before starting or the workflow's own
check_partitions activity refuses."""

import uuid

import pytest
from temporalio.service import RPCError, RPCStatusCode

from engine.operations import OperationHandle
from lifecycle.domain import TaskOptions
from lifecycle.refusals import INVALID_ARGUMENT, NOT_FOUND, Refused
from lifecycle.requests import CreateRequest
from lifecycle.statuses import Operation, SessionStatus
from tests.integration.history import failed_activities, scheduled_activities
from tests.integration.snapshot import assert_invariants, take
from workflows.identity import workflow_id
from workflows.registry import WORKFLOWS

pytestmark = pytest.mark.stack


def options(**changes) -> TaskOptions:
    return TaskOptions(
        **{
            "max_duration": 120.0,
            "max_retries": 3,
            "priority": 7,
            "application_name": "app",
            "application_version": "1.0",
            "options": {"k": "v"},
            **changes,
        }
    )


async def assert_nothing_inserted(stores, session_id: str) -> None:
    snapshot = await take(stores, session_id)
    assert snapshot.session is None
    assert snapshot.operations == [] and snapshot.steps == []
    assert snapshot.tasks == {} and snapshot.objects == frozenset()


async def test_create_inserts_a_running_session_open_to_submission(client, stores, partitions):
    first, second = partitions
    session_id = f"create-{uuid.uuid4()}"

    session = await client.create([first, second], options(), session_id=session_id)

    assert session.session_id == session_id
    assert session.status == SessionStatus.RUNNING
    assert session.client_submission and session.worker_submission
    assert session.partition_ids == [first, second]
    # The options as given, with an empty partition_id resolved to the first partition.
    assert session.options == options(partition_id=first)
    assert session.created_at is not None
    assert (session.cancelled_at, session.closed_at, session.purged_at, session.deleted_at) == (
        None,
        None,
        None,
        None,
    )
    assert session.duration is None
    assert await client.get(session_id) == session
    snapshot = await take(stores, session_id)
    assert [op["operation"] for op in snapshot.operations] == ["create"]
    assert snapshot.tasks == {} and snapshot.results == {} and snapshot.queued == frozenset()
    await assert_invariants(stores, session_id)


@pytest.mark.parametrize(
    ("requested", "partition_id", "expected_partitions", "expected_partition_id"),
    [
        # An empty list: the default partition.
        ([], "", ["DEFAULT"], "DEFAULT"),
        # An empty list: the options' partition_id, when it names one.
        ([], "B", ["B"], "B"),
        # The options' partition_id empty: the first of the session's partitions.
        (["B", "A"], "", ["B", "A"], "B"),
        (["A", "B"], "B", ["A", "B"], "B"),
    ],
    ids=["empty-list-default", "empty-list-options", "first", "named"],
)
async def test_create_resolves_partitions(
    client,
    stores,
    settings,
    partitions,
    requested,
    partition_id,
    expected_partitions,
    expected_partition_id,
):
    names = {"A": partitions[0], "B": partitions[1], "DEFAULT": settings.default_partition}

    session = await client.create(
        [names[p] for p in requested], options(partition_id=names.get(partition_id, ""))
    )

    assert session.partition_ids == [names[p] for p in expected_partitions]
    assert session.options.partition_id == names[expected_partition_id]
    assert session.status == SessionStatus.RUNNING
    assert await client.get(session.session_id) == session
    await assert_invariants(stores, session.session_id)


@pytest.mark.parametrize(
    ("requested", "partition_id"),
    [(["A", "nowhere"], ""), (["nowhere"], ""), ([], "nowhere")],
    ids=["one-unknown", "only-unknown", "options-unknown"],
)
async def test_create_on_an_unknown_partition_is_not_found_and_inserts_nothing(
    client, stores, temporal, partitions, requested, partition_id
):
    unknown = f"nowhere-{uuid.uuid4()}"
    names = {"A": partitions[0], "nowhere": unknown}
    session_id = f"create-{uuid.uuid4()}"

    handle = await client.start_create(
        [names[p] for p in requested],
        options(partition_id=names.get(partition_id, "")),
        session_id=session_id,
    )
    with pytest.raises(Refused) as refused:
        await handle.result()

    assert refused.value.kind == NOT_FOUND
    assert unknown in refused.value.message
    await assert_nothing_inserted(stores, session_id)
    assert await scheduled_activities(temporal, handle.workflow_id) == ["check_partitions"]
    assert await failed_activities(temporal, handle.workflow_id) == ["check_partitions"]
    await assert_invariants(stores, session_id)


INVALID = [
    ({"max_retries": 0}, None),
    ({"max_retries": -3}, None),
    ({"priority": 0}, None),
    ({"priority": 100}, None),
    ({"max_duration": None}, None),
    ({"max_duration": 0.0}, None),
    ({"partition_id": "B"}, ["A"]),
    ({"partition_id": "DEFAULT"}, ["A", "B"]),
]
INVALID_IDS = [
    "max_retries-0",
    "max_retries-negative",
    "priority-0",
    "priority-100",
    "no-max_duration",
    "max_duration-0",
    "partition_id-not-among",
    "default-not-among",
]


def invalid_request(settings, partitions, changes, requested) -> tuple[list[str], TaskOptions]:
    names = {"A": partitions[0], "B": partitions[1], "DEFAULT": settings.default_partition}
    if "partition_id" in changes:
        changes = {**changes, "partition_id": names[changes["partition_id"]]}
    return [names[p] for p in requested or ["A"]], options(**changes)


@pytest.mark.parametrize(("changes", "requested"), INVALID, ids=INVALID_IDS)
async def test_client_refuses_invalid_options_before_starting_anything(
    client, stores, settings, temporal, partitions, changes, requested
):
    partition_ids, task_options = invalid_request(settings, partitions, changes, requested)
    session_id = f"create-{uuid.uuid4()}"

    with pytest.raises(Refused) as refused:
        await client.start_create(partition_ids, task_options, session_id=session_id)

    assert refused.value.kind == INVALID_ARGUMENT
    # No workflow was started, and no row inserted.
    with pytest.raises(RPCError) as missing:
        await temporal.get_workflow_handle(workflow_id(Operation.CREATE, session_id)).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND
    await assert_nothing_inserted(stores, session_id)


@pytest.mark.parametrize(("changes", "requested"), INVALID, ids=INVALID_IDS)
async def test_create_workflow_refuses_invalid_options_in_check_partitions(
    client, stores, settings, temporal, partitions, changes, requested
):
    partition_ids, task_options = invalid_request(settings, partitions, changes, requested)
    session_id = f"create-{uuid.uuid4()}"
    wid = workflow_id(Operation.CREATE, session_id)

    # Started directly, past the client's own check.
    raw = await temporal.start_workflow(
        WORKFLOWS[Operation.CREATE].run,
        CreateRequest(session_id, partition_ids, task_options),
        id=wid,
        task_queue=settings.temporal_task_queue,
    )
    with pytest.raises(Refused) as refused:
        await OperationHandle(raw, Operation.CREATE, session_id).result()

    assert refused.value.kind == INVALID_ARGUMENT
    assert await scheduled_activities(temporal, wid) == ["check_partitions"]
    assert await failed_activities(temporal, wid) == ["check_partitions"]
    await assert_nothing_inserted(stores, session_id)
    await assert_invariants(stores, session_id)


@pytest.mark.parametrize(
    ("requested", "partition_id"),
    [(["nowhere"], "A"), (["A"], "nowhere"), (["A", "nowhere"], "B")],
    ids=["listed-unknown-options-other", "options-unknown", "listed-unknown-options-not-among"],
)
async def test_an_unknown_partition_is_not_found_before_the_options_misfit(
    client, stores, settings, temporal, partitions, requested, partition_id
):
    """Existence before fit (issue 18, defect 0): the options name a partition that is not
    among the session's, and a partition the request names does not exist. The engine answers
    NOT_FOUND before starting anything, and so does the workflow started past it."""
    unknown = f"nowhere-{uuid.uuid4()}"
    names = {"A": partitions[0], "B": partitions[1], "nowhere": unknown}
    partition_ids = [names[p] for p in requested]
    task_options = options(partition_id=names[partition_id])

    session_id = f"create-{uuid.uuid4()}"
    with pytest.raises(Refused) as refused:
        await client.start_create(partition_ids, task_options, session_id=session_id)
    assert refused.value.kind == NOT_FOUND and unknown in refused.value.message
    with pytest.raises(RPCError) as missing:
        await temporal.get_workflow_handle(workflow_id(Operation.CREATE, session_id)).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND
    await assert_nothing_inserted(stores, session_id)

    session_id = f"create-{uuid.uuid4()}"
    raw = await temporal.start_workflow(
        WORKFLOWS[Operation.CREATE].run,
        CreateRequest(session_id, partition_ids, task_options),
        id=workflow_id(Operation.CREATE, session_id),
        task_queue=settings.temporal_task_queue,
    )
    with pytest.raises(Refused) as refused:
        await OperationHandle(raw, Operation.CREATE, session_id).result()
    assert refused.value.kind == NOT_FOUND and unknown in refused.value.message
    await assert_nothing_inserted(stores, session_id)
