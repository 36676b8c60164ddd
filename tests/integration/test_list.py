"""Get and List read the SessionsTable in PostgreSQL (no Temporal involved): List filters (an OR
of ANDs), sorts and pages as ArmoniK's ListSessions does, and refuses a bad page, page size,
filter or sort with INVALID_ARGUMENT. A deleted session is neither listed nor found. ArmoniK's
own ListSessionsRequest and ListPartitionsRequest messages, mapped by wire.filters, run here
against the real PostgreSQL."""

import uuid

import pytest
from armonik.protogen.common import partitions_filters_pb2 as pfl
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from engine.operations import Engine, connect_temporal
from lifecycle.domain import Partition, Session, TaskOptions
from lifecycle.refusals import INVALID_ARGUMENT, NOT_FOUND, Refused
from lifecycle.statuses import Operation, SessionStatus
from stores.queries import Condition, ListQuery
from tests.integration.snapshot import assert_invariants
from tests.unit.test_api_filters import (
    SORTABLE_SESSION_FIELDS,
    f_array,
    f_boolean,
    f_date,
    f_duration,
    f_number,
    f_status,
    f_string,
    generic,
    option,
    partition_field,
    partitions_request,
    raw,
    sessions_request,
    timestamp,
)
from wire.filters import list_partitions_query, list_sessions_query

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
    nowhere = settings.model_copy(update={"temporal_address": "127.0.0.1:9"})
    offline = Engine(nowhere, await connect_temporal(nowhere, lazy=True), stores)
    row = await stores.sessions.get(ids[3])
    assert await offline.get(ids[3]) == row
    assert row.status == S.CLOSED and row.closed_at is not None
    found, total = await page_ids(offline, ListQuery([tagged(tag)]))
    assert found == ids and total == len(ids)


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
        {"page_size": 1001},
        {"page_size": -5},
        {"sort_field": "nope"},
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


# --- ArmoniK's ListSessionsRequest and ListPartitionsRequest, through wire.filters ----------------

MAX_TIMESTAMP = Timestamp(seconds=253_402_300_799, nanos=999_999_999)
MIN_TIMESTAMP = Timestamp(seconds=-62_135_596_800)


async def proto_ids(client, tag: str, *ors: list, **kwargs) -> tuple[list[str], int]:
    """The ids a ListSessionsRequest lists among the module's sessions, and its total; each AND
    also asks for the module's tag, with a string filter."""
    tag_filter = f_string(option("application_name"), "EQUAL", tag)
    ands = [[tag_filter, *conjunction] for conjunction in ors] or [[tag_filter]]
    kwargs.setdefault("sort", raw("created_at"))
    query = list_sessions_query(sessions_request(*ands, **kwargs))
    return await page_ids(client, query)


async def sessions_of(client, tag: str) -> list[Session]:
    sessions, _ = await client.list_sessions(ListQuery([tagged(tag)]))
    return sessions


def with_status(ids: list[str], *statuses: SessionStatus) -> list[str]:
    return [i for i, s in zip(ids, PLAN, strict=True) if s in statuses]


async def test_proto_status_filters(client, listed):
    tag, ids = listed
    running = with_status(ids, S.RUNNING)

    assert await proto_ids(client, tag, [f_status(raw("status"), "EQUAL", S.RUNNING)]) == (
        running,
        len(running),
    )
    others = [i for i in ids if i not in running]
    assert await proto_ids(client, tag, [f_status(raw("status"), "NOT_EQUAL", S.RUNNING)]) == (
        others,
        len(others),
    )
    paused_or_closed = with_status(ids, S.PAUSED, S.CLOSED)
    found = await proto_ids(
        client,
        tag,
        [f_status(raw("status"), "EQUAL", S.PAUSED)],
        [f_status(raw("status"), "EQUAL", S.CLOSED)],
    )
    assert found == (paused_or_closed, len(paused_or_closed))
    stopped = with_status(ids, S.CLOSED, S.CANCELLED)
    found = await proto_ids(client, tag, [f_boolean(raw("client_submission"), False)])
    assert found == (stopped, len(stopped))


async def test_proto_created_at_filters(client, listed):
    tag, ids = listed
    created = [s.created_at for s in await sessions_of(client, tag)]

    window = [
        f_date(raw("created_at"), "AFTER", timestamp(created[1])),
        f_date(raw("created_at"), "BEFORE_OR_EQUAL", timestamp(created[4])),
    ]
    assert await proto_ids(client, tag, window) == (ids[2:5], 3)
    exactly = f_date(raw("created_at"), "EQUAL", timestamp(created[2]))
    assert await proto_ids(client, tag, [exactly]) == ([ids[2]], 1)
    # 700 ns after a session's creation, which PostgreSQL stores to the microsecond.
    just_after = timestamp(created[2], nanos=700)
    cases = {"BEFORE": ids[:3], "AFTER": ids[3:], "EQUAL": [], "NOT_EQUAL": ids}
    for op, expected in cases.items():
        found = await proto_ids(client, tag, [f_date(raw("created_at"), op, just_after)])
        assert found == (expected, len(expected)), op
    # The ends of protobuf's Timestamp range are valid bounds.
    extremes = [
        f_date(raw("created_at"), "AFTER", MIN_TIMESTAMP),
        f_date(raw("created_at"), "BEFORE", MAX_TIMESTAMP),
    ]
    assert await proto_ids(client, tag, extremes) == (ids, len(ids))


async def test_proto_closed_at_and_duration_filters(client, listed):
    tag, ids = listed
    closed = with_status(ids, S.CLOSED)
    not_closed = [i for i in ids if i not in closed]
    session = next(s for s in await sessions_of(client, tag) if s.session_id in closed)
    assert session.closed_at is not None and session.duration is not None

    # A date or duration filter without a value asks whether the field is set.
    for make, field in [(f_date, raw("closed_at")), (f_duration, raw("duration"))]:
        assert await proto_ids(client, tag, [make(field, "NOT_EQUAL", None)]) == (closed, 1)
        assert await proto_ids(client, tag, [make(field, "EQUAL", None)]) == (not_closed, 6)
    # An unset date or duration orders against nothing, but differs from every value.
    epoch = Timestamp(seconds=0)
    assert await proto_ids(client, tag, [f_date(raw("closed_at"), "AFTER", epoch)]) == (closed, 1)
    assert await proto_ids(client, tag, [f_date(raw("closed_at"), "NOT_EQUAL", epoch)]) == (
        ids,
        len(ids),
    )
    cancelled = with_status(ids, S.CANCELLED)
    found = await proto_ids(client, tag, [f_date(raw("cancelled_at"), "BEFORE", MAX_TIMESTAMP)])
    assert found == (cancelled, 1)
    # The duration is closed_at - created_at, compared exactly.
    exact = Duration()
    exact.FromTimedelta(session.closed_at - session.created_at)
    one_ns_more = Duration(seconds=exact.seconds, nanos=exact.nanos + 1)
    cases = [
        ("EQUAL", exact, closed),
        ("EQUAL", one_ns_more, []),
        ("SHORTER_THAN", one_ns_more, closed),
        ("SHORTER_THAN", exact, []),
        ("LONGER_THAN_OR_EQUAL", exact, closed),
        ("LONGER_THAN", Duration(seconds=-315_576_000_000), closed),
        ("NOT_EQUAL", exact, not_closed),
    ]
    for op, value, expected in cases:
        found = await proto_ids(client, tag, [f_duration(raw("duration"), op, value)])
        assert found == (expected, len(expected)), (op, value)


async def test_proto_partition_ids_filters(client, listed, partitions):
    tag, ids = listed
    first = ids[0::2]  # the fixture alternates the two partitions
    second = ids[1::2]

    contains = [f_array(raw("partition_ids"), "CONTAINS", partitions[0])]
    assert await proto_ids(client, tag, contains) == (first, len(first))
    not_contains = [f_array(raw("partition_ids"), "NOT_CONTAINS", partitions[0])]
    assert await proto_ids(client, tag, not_contains) == (second, len(second))
    both = [*contains, f_array(raw("partition_ids"), "CONTAINS", partitions[1])]
    assert await proto_ids(client, tag, both) == ([], 0)


async def test_proto_task_option_filters(client, listed):
    tag, ids = listed
    sixty = Duration(seconds=60)
    cases = [
        ([f_number(option("priority"), "GREATER_THAN_OR_EQUAL", 6)], ids[5:]),
        ([f_number(option("priority"), "NOT_EQUAL", 1)], ids[1:]),
        ([f_number(option("priority"), "LESS_THAN", -(2**63))], []),
        ([f_number(option("priority"), "LESS_THAN_OR_EQUAL", 2**63 - 1)], ids),
        ([f_number(option("max_retries"), "EQUAL", 1)], ids),
        ([f_duration(option("max_duration"), "EQUAL", sixty)], ids),
        ([f_duration(option("max_duration"), "SHORTER_THAN", Duration(seconds=60, nanos=1))], ids),
        ([f_duration(option("max_duration"), "LONGER_THAN", sixty)], []),
        ([f_string(option("application_name"), "ENDS_WITH", tag[-6:])], ids),
        ([f_string(option("application_name"), "CONTAINS", "%")], []),
        ([f_string(option("engine_type"), "EQUAL", "")], ids),
    ]
    for filters, expected in cases:
        assert await proto_ids(client, tag, filters) == (expected, len(expected)), filters


async def test_proto_generic_option_filters(client, listed):
    tag, ids = listed
    cases = [
        ([f_string(generic("rank"), "EQUAL", "3")], [ids[3]]),
        ([f_string(generic("rank"), "NOT_EQUAL", "3")], ids[:3] + ids[4:]),
        ([f_string(generic("rank"), "STARTS_WITH", "")], ids),
        ([f_string(generic("rank"), "NOT_CONTAINS", "5")], ids[:5] + ids[6:]),
        # A key the sessions do not have: null, which differs from and does not contain
        # anything, and equals or contains nothing.
        ([f_string(generic("absent"), "NOT_EQUAL", "x")], ids),
        ([f_string(generic("absent"), "NOT_CONTAINS", "")], ids),
        ([f_string(generic("absent"), "EQUAL", "")], []),
        ([f_string(generic("absent"), "CONTAINS", "")], []),
        # Values are bound, never SQL: quotes and LIKE wildcards are plain characters.
        ([f_string(generic("r'ank"), "NOT_EQUAL", "x' OR TRUE --")], ids),
        ([f_string(generic("rank"), "ENDS_WITH", "_")], []),
        ([f_string(generic("rank"), "EQUAL", "x" * 1_000_000)], []),
    ]
    for filters, expected in cases:
        assert await proto_ids(client, tag, filters) == (expected, len(expected)), filters[0]


def sort_value(session: Session, name: str):
    if name.startswith("options.options."):
        return session.options.options.get(name.removeprefix("options.options."))
    if name.startswith("options."):
        return getattr(session.options, name.removeprefix("options."))
    return getattr(session, name)


@pytest.mark.parametrize("desc", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize(
    ("field", "name"),
    [*SORTABLE_SESSION_FIELDS, (generic("absent"), "options.options.absent")],
    ids=[n for _, n in SORTABLE_SESSION_FIELDS] + ["options.options.absent"],
)
async def test_proto_sorts_on_every_field(client, listed, field, name, desc):
    tag, ids = listed
    sessions = await sessions_of(client, tag)

    found, total = await proto_ids(client, tag, sort=field, desc=desc)

    # Null first when ascending, the session id breaking ties: the whole order, reversed, when
    # descending.
    def key(s: Session):
        value = sort_value(s, name)
        return (value is not None, value if value is not None else 0, s.session_id)

    expected = [s.session_id for s in sorted(sessions, key=key, reverse=desc)]
    assert found == expected and total == len(ids)
    # Page by page too: the pages past the middle are walked from the end, in reverse order.
    pages = [
        await proto_ids(client, tag, sort=field, desc=desc, page=page, page_size=2)
        for page in range(4)
    ]
    assert [i for page, _ in pages for i in page] == expected


async def test_proto_pages_and_page_size_zero(client, listed):
    tag, ids = listed
    by_rank_desc = ids[::-1]
    pages = [
        await proto_ids(client, tag, sort=generic("rank"), desc=True, page=page, page_size=3)
        for page in range(4)
    ]
    assert pages == [
        (by_rank_desc[0:3], 7),
        (by_rank_desc[3:6], 7),
        (by_rank_desc[6:], 7),
        ([], 7),
    ]
    # page_size 0 counts without listing, whatever the page.
    assert await proto_ids(client, tag, page=3, page_size=0) == ([], 7)
    running = [f_status(raw("status"), "EQUAL", S.RUNNING)]
    assert await proto_ids(client, tag, running, page_size=0) == ([], 3)
    assert await proto_ids(client, tag, page=2**31 - 1, page_size=1000) == ([], 7)


@pytest.fixture(scope="module")
async def listed_partitions(client) -> list[str]:
    """Four partitions under a prefix of their own, which holds a LIKE wildcard, and a decoy
    that a prefix filter whose wildcard was not escaped would match."""
    prefix = f"lp_{uuid.uuid4().hex[:8]}"
    specs = [([], 3, 10), ([0], 1, 20), ([0], 2, 30), ([1], 1, 40)]
    ids = [f"{prefix}-{n}" for n in range(len(specs))]
    for partition_id, (parents, priority, pod_max) in zip(ids, specs, strict=True):
        await client.stores.partitions.upsert(
            Partition(partition_id, [ids[p] for p in parents], priority=priority, pod_max=pod_max)
        )
    await client.stores.partitions.upsert(Partition(prefix.replace("_", "X") + "-9"))
    return ids


async def partition_ids(client, prefix_of: list[str], *ors: list, **kwargs):
    prefix = prefix_of[0].rsplit("-", 1)[0]
    mine = f_string(partition_field("id"), "STARTS_WITH", prefix, pfl)
    ands = [[mine, *conjunction] for conjunction in ors] or [[mine]]
    query = list_partitions_query(partitions_request(*ands, **kwargs))
    partitions, total = await client.stores.partitions.query(query)
    return [p.partition_id for p in partitions], total


async def test_proto_list_partitions(client, listed_partitions):
    p = listed_partitions
    parents = partition_field("parent_partition_ids")
    cases = [
        ({}, p),
        ({"sort": partition_field("priority"), "desc": True}, [p[0], p[2], p[3], p[1]]),
        ({"sort": parents}, p),
        ({"sort": parents, "desc": True}, p[::-1]),
    ]
    for kwargs, expected in cases:
        assert await partition_ids(client, p, **kwargs) == (expected, 4), kwargs
    filters = [
        ([[f_array(parents, "CONTAINS", p[0], pfl)]], [p[1], p[2]]),
        ([[f_array(parents, "NOT_CONTAINS", p[0], pfl)]], [p[0], p[3]]),
        (
            [
                [
                    f_number(partition_field("pod_max"), "GREATER_THAN", 15, pfl),
                    f_number(partition_field("pod_max"), "LESS_THAN_OR_EQUAL", 30, pfl),
                ]
            ],
            [p[1], p[2]],
        ),
        (
            [
                [f_string(partition_field("id"), "EQUAL", p[0], pfl)],
                [f_string(partition_field("id"), "ENDS_WITH", "-3", pfl)],
            ],
            [p[0], p[3]],
        ),
    ]
    for ors, expected in filters:
        found = await partition_ids(client, p, *ors, sort=partition_field("id"))
        assert found == (expected, len(expected)), ors
    pages = [await partition_ids(client, p, page=n, page_size=3) for n in range(2)]
    assert pages == [(p[:3], 4), (p[3:], 4)]
    assert await partition_ids(client, p, page_size=0) == ([], 4)
