"""Get and List read the SessionsTable in PostgreSQL (no Temporal involved): List filters (an OR
of ANDs), sorts and pages as ArmoniK's ListSessions does, and refuses a bad page, page size,
filter or sort with INVALID_ARGUMENT. A deleted session is neither listed nor found."""

import uuid

import pytest

from client.sessions import SessionsClient
from lifecycle.models import TaskOptions
from lifecycle.refusals import INVALID_ARGUMENT, NOT_FOUND, Refused
from lifecycle.statuses import Operation, SessionStatus
from stores.list_query import Condition, ListQuery
from tests.integration.snapshot import assert_invariants

pytestmark = pytest.mark.stack

S = SessionStatus
# The statuses of the sessions of this module, in creation order.
PLAN = [S.RUNNING, S.PAUSED, S.RUNNING, S.CLOSED, S.RUNNING, S.CANCELLED, S.PAUSED]
PATH = {
    S.RUNNING: [],
    S.PAUSED: [Operation.PAUSE],
    S.CLOSED: [Operation.CLOSE],
    S.CANCELLED: [Operation.CANCEL],
}


@pytest.fixture(scope="module")
async def listed(client, partitions) -> tuple[str, list[str]]:
    """Sessions tagged with an application name of their own, so that no other test's sessions
    match; their ids sort in the reverse of their creation order."""
    tag = f"list-{uuid.uuid4()}"
    ids = []
    for n, status in enumerate(PLAN):
        session_id = f"{tag}-{len(PLAN) - n:02d}"
        options = TaskOptions(
            max_duration=60, priority=n + 1, application_name=tag, options={"rank": str(n)}
        )
        await client.create(partitions[n % 2 : n % 2 + 1], options, session_id=session_id)
        for operation in PATH[status]:
            await client.run(operation, session_id)
        ids.append(session_id)
    await assert_invariants(client.stores, *ids)
    return tag, ids


def tagged(tag: str, *conditions: Condition) -> list[Condition]:
    return [Condition("options.application_name", "eq", tag), *conditions]


async def page_ids(client, query: ListQuery) -> tuple[list[str], int]:
    sessions, total = await client.list_sessions(query)
    return [s.session_id for s in sessions], total


async def test_list_filters_by_status(client, listed):
    tag, ids = listed
    running = [i for i, s in zip(ids, PLAN, strict=True) if s == S.RUNNING]

    found, total = await page_ids(
        client, ListQuery([tagged(tag, Condition("status", "eq", "RUNNING"))])
    )

    assert found == running and total == len(running)
    sessions, _ = await client.list_sessions(ListQuery([tagged(tag)]))
    assert {s.session_id: s.status for s in sessions} == dict(zip(ids, PLAN, strict=True))


async def test_list_filters_are_an_or_of_ands(client, listed):
    tag, ids = listed
    query = ListQuery(
        [
            tagged(tag, Condition("status", "eq", int(S.PAUSED))),
            tagged(tag, Condition("status", "eq", "CLOSED")),
            # An AND that no session satisfies adds nothing.
            tagged(tag, Condition("status", "eq", "RUNNING"), Condition("status", "eq", "PAUSED")),
        ]
    )

    found, total = await page_ids(client, query)

    expected = [i for i, s in zip(ids, PLAN, strict=True) if s in (S.PAUSED, S.CLOSED)]
    assert found == expected and total == len(expected)
    # Other fields filter too: the free-form options map, numbers, booleans.
    found, _ = await page_ids(
        client,
        ListQuery(
            [
                tagged(tag, Condition("options.options.rank", "eq", "0")),
                tagged(tag, Condition("options.priority", "ge", 6)),
            ]
        ),
    )
    assert found == [ids[0], ids[5], ids[6]]
    found, _ = await page_ids(
        client, ListQuery([tagged(tag, Condition("client_submission", "eq", False))])
    )
    assert found == [i for i, s in zip(ids, PLAN, strict=True) if s in (S.CLOSED, S.CANCELLED)]


@pytest.mark.parametrize(
    ("sort_field", "desc", "order"),
    [
        ("created_at", False, lambda ids: ids),
        ("created_at", True, lambda ids: ids[::-1]),
        ("session_id", False, lambda ids: ids[::-1]),
        ("options.priority", True, lambda ids: ids[::-1]),
    ],
    ids=["created-asc", "created-desc", "id-asc", "priority-desc"],
)
async def test_list_sorts(client, listed, sort_field, desc, order):
    tag, ids = listed
    found, total = await page_ids(
        client, ListQuery([tagged(tag)], sort_field=sort_field, sort_desc=desc)
    )
    assert found == order(ids) and total == len(ids)


async def test_list_pages_with_the_total_of_every_page(client, listed):
    tag, ids = listed
    pages = []
    for page in range(5):
        found, total = await page_ids(
            client, ListQuery([tagged(tag)], sort_field="session_id", page=page, page_size=2)
        )
        assert total == len(ids)
        pages.append(found)
    assert [len(p) for p in pages] == [2, 2, 2, 1, 0]
    assert [i for p in pages for i in p] == sorted(ids)


async def test_get_and_list_read_postgresql_without_temporal(stores, settings, listed):
    tag, ids = listed
    # A client whose Temporal address leads nowhere: reads never need it.
    offline = SessionsClient(
        settings.model_copy(update={"temporal_address": "127.0.0.1:9"}), db=stores.db
    )
    row = await stores.sessions.get(ids[3])
    assert await offline.get(ids[3]) == row
    assert row.status == S.CLOSED and row.closed_at is not None
    found, total = await page_ids(offline, ListQuery([tagged(tag)]))
    assert found == ids and total == len(ids)
    assert offline._temporal is None


async def test_deleted_session_is_not_listed_nor_found(client, stores, partitions):
    tag = f"list-deleted-{uuid.uuid4()}"
    options = TaskOptions(max_duration=60, application_name=tag)
    kept = await client.create(partitions, options)
    gone = await client.create(partitions, options)
    await client.run(Operation.DELETE, gone.session_id)
    await assert_invariants(stores, kept.session_id, gone.session_id)

    found, total = await page_ids(client, ListQuery([tagged(tag)]))

    assert found == [kept.session_id] and total == 1
    with pytest.raises(Refused) as refused:
        await client.get(gone.session_id)
    assert refused.value.kind == NOT_FOUND
    with pytest.raises(Refused) as refused:
        await client.get(f"never-{uuid.uuid4()}")
    assert refused.value.kind == NOT_FOUND


@pytest.mark.parametrize(
    "query",
    [
        {"page": -1},
        {"page_size": 0},
        {"page_size": 1001},
        {"page_size": -5},
        {"sort_field": "nope"},
        {"sort_field": "partition_ids"},
        {"filters": [[Condition("nope", "eq", 1)]]},
        {"filters": [[Condition("status", "lt", "RUNNING")]]},
        {"filters": [[Condition("status", "eq", "NOPE")]]},
        {"filters": [[Condition("status", "eq", 42)]]},
        {"filters": [[Condition("options.priority", "eq", "high")]]},
        {"filters": [[Condition("options.priority", "contains", 1)]]},
        {"filters": [[Condition("client_submission", "eq", "yes")]]},
        {"filters": [[Condition("created_at", "gt", "yesterday")]]},
        {"filters": [[Condition("partition_ids", "eq", "a")]]},
        {"filters": [[], [Condition("session_id", "lt", "x")]]},
    ],
    ids=lambda q: "-".join(
        f"{k}={v[-1][-1].field + ':' + v[-1][-1].op if k == 'filters' else v}" for k, v in q.items()
    ),
)
async def test_list_refuses_bad_arguments_with_invalid_argument(client, query):
    with pytest.raises(Refused) as refused:
        await client.list_sessions(ListQuery(**query))
    assert refused.value.kind == INVALID_ARGUMENT
