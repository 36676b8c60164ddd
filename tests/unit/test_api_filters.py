"""ListSessionsRequest and ListPartitionsRequest mapped to the stores' queries: every operator of
every filter kind, every sort, and a refusal (INVALID_ARGUMENT, never another error) for what a
client may put in a request that names nothing sensible."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from armonik.protogen.common import filters_common_pb2 as fc
from armonik.protogen.common import partitions_common_pb2 as pc
from armonik.protogen.common import partitions_fields_pb2 as pff
from armonik.protogen.common import partitions_filters_pb2 as pfl
from armonik.protogen.common import sessions_common_pb2 as sc
from armonik.protogen.common import sessions_fields_pb2 as sf
from armonik.protogen.common import sessions_filters_pb2 as sfl
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.postgres.list_queries import compile_query
from lifecycle.refusals import INVALID_ARGUMENT, Refused
from lifecycle.statuses import SessionStatus
from stores.queries import Condition, ListQuery, PartitionsQuery
from wire.filters import PARTITION_RAW_FIELDS, list_partitions_query, list_sessions_query
from wire.messages import SESSION_RAW_FIELDS, TASK_OPTION_FIELDS

# --- building requests ---------------------------------------------------------------------------


def raw(name: str) -> sf.SessionField:
    number = sf.SessionRawEnumField.Value(f"SESSION_RAW_ENUM_FIELD_{name.upper()}")
    return sf.SessionField(session_raw_field=sf.SessionRawField(field=number))


def option(name: str) -> sf.SessionField:
    number = sf.TaskOptionEnumField.Value(f"TASK_OPTION_ENUM_FIELD_{name.upper()}")
    return sf.SessionField(task_option_field=sf.TaskOptionField(field=number))


def generic(key: str) -> sf.SessionField:
    return sf.SessionField(task_option_generic_field=sf.TaskOptionGenericField(field=key))


def partition_field(name: str) -> pff.PartitionField:
    number = pff.PartitionRawEnumField.Value(f"PARTITION_RAW_ENUM_FIELD_{name.upper()}")
    return pff.PartitionField(partition_raw_field=pff.PartitionRawField(field=number))


def timestamp(value: datetime, nanos: int = 0) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    stamp.nanos += nanos
    return stamp


def duration(seconds: float = 0, nanos: int = 0) -> Duration:
    return Duration(seconds=int(seconds), nanos=nanos)


# One builder per filter kind: (field, OPERATOR suffix, value) -> FilterField. A value of None
# leaves a date or duration unset.
def f_string(field, op, value, filters=sfl):
    operator = fc.FilterStringOperator.Value(f"FILTER_STRING_OPERATOR_{op}")
    return filters.FilterField(
        field=field, filter_string=fc.FilterString(value=value, operator=operator)
    )


def f_number(field, op, value, filters=sfl):
    operator = fc.FilterNumberOperator.Value(f"FILTER_NUMBER_OPERATOR_{op}")
    return filters.FilterField(
        field=field, filter_number=fc.FilterNumber(value=value, operator=operator)
    )


def f_boolean(field, value, filters=sfl):
    operator = fc.FILTER_BOOLEAN_OPERATOR_IS
    return filters.FilterField(
        field=field, filter_boolean=fc.FilterBoolean(value=value, operator=operator)
    )


def f_array(field, op, value, filters=sfl):
    operator = fc.FilterArrayOperator.Value(f"FILTER_ARRAY_OPERATOR_{op}")
    return filters.FilterField(
        field=field, filter_array=fc.FilterArray(value=value, operator=operator)
    )


def f_status(field, op, value):
    operator = fc.FilterStatusOperator.Value(f"FILTER_STATUS_OPERATOR_{op}")
    return sfl.FilterField(
        field=field, filter_status=sfl.FilterStatus(value=int(value), operator=operator)
    )


def f_date(field, op, value: Timestamp | None):
    operator = fc.FilterDateOperator.Value(f"FILTER_DATE_OPERATOR_{op}")
    condition = fc.FilterDate(operator=operator)
    if value is not None:
        condition.value.CopyFrom(value)
    return sfl.FilterField(field=field, filter_date=condition)


def f_duration(field, op, value: Duration | None):
    operator = fc.FilterDurationOperator.Value(f"FILTER_DURATION_OPERATOR_{op}")
    condition = fc.FilterDuration(operator=operator)
    if value is not None:
        condition.value.CopyFrom(value)
    return sfl.FilterField(field=field, filter_duration=condition)


def sessions_request(
    *ors: list, sort: sf.SessionField | None = None, desc=False, page=0, page_size=100
) -> sc.ListSessionsRequest:
    """A request as ArmoniK's clients send one: always with a sort (by id unless told)."""
    request = sc.ListSessionsRequest(page=page, page_size=page_size)
    for ands in ors:
        getattr(request.filters, "or").add().CopyFrom(sfl.FiltersAnd(**{"and": ands}))
    direction = 2 if desc else 1
    field = sort if sort is not None else raw("session_id")
    request.sort.CopyFrom(sc.ListSessionsRequest.Sort(field=field, direction=direction))
    return request


def partitions_request(
    *ors: list, sort: pff.PartitionField | None = None, desc=False, page=0, page_size=100
) -> pc.ListPartitionsRequest:
    request = pc.ListPartitionsRequest(page=page, page_size=page_size)
    for ands in ors:
        getattr(request.filters, "or").add().CopyFrom(pfl.FiltersAnd(**{"and": ands}))
    direction = 2 if desc else 1
    field = sort if sort is not None else partition_field("id")
    request.sort.CopyFrom(pc.ListPartitionsRequest.Sort(field=field, direction=direction))
    return request


def conditions(request) -> list[Condition]:
    query = list_sessions_query(request)
    assert len(query.filters) == 1
    return query.filters[0]


def refused(request, mapping=list_sessions_query) -> str:
    with pytest.raises(Refused) as caught:
        mapping(request)
    assert caught.value.kind == INVALID_ARGUMENT
    return caught.value.message


NOW = datetime(2024, 5, 17, 12, 30, 45, 123456, tzinfo=UTC)

# --- every operator of every filter kind ---------------------------------------------------------

STRING_OPS = {
    "EQUAL": "eq",
    "NOT_EQUAL": "ne",
    "CONTAINS": "contains",
    "NOT_CONTAINS": "not_contains",
    "STARTS_WITH": "starts_with",
    "ENDS_WITH": "ends_with",
}
NUMBER_OPS = {
    "EQUAL": "eq",
    "NOT_EQUAL": "ne",
    "LESS_THAN": "lt",
    "LESS_THAN_OR_EQUAL": "le",
    "GREATER_THAN_OR_EQUAL": "ge",
    "GREATER_THAN": "gt",
}
DATE_OPS = {
    "EQUAL": "eq",
    "NOT_EQUAL": "ne",
    "BEFORE": "lt",
    "BEFORE_OR_EQUAL": "le",
    "AFTER_OR_EQUAL": "ge",
    "AFTER": "gt",
}
DURATION_OPS = {
    "EQUAL": "eq",
    "NOT_EQUAL": "ne",
    "SHORTER_THAN": "lt",
    "SHORTER_THAN_OR_EQUAL": "le",
    "LONGER_THAN_OR_EQUAL": "ge",
    "LONGER_THAN": "gt",
}


@pytest.mark.parametrize(("op", "domain"), STRING_OPS.items())
@pytest.mark.parametrize(
    ("field", "name"),
    [
        (raw("session_id"), "session_id"),
        (option("application_name"), "options.application_name"),
        (generic("team"), "options.options.team"),
    ],
)
def test_string_operators(field, name, op, domain):
    assert conditions(sessions_request([f_string(field, op, "a_b%")])) == [
        Condition(name, domain, "a_b%")
    ]


@pytest.mark.parametrize(("op", "domain"), NUMBER_OPS.items())
@pytest.mark.parametrize("value", [-(2**63), 0, 7, 2**63 - 1])
def test_number_operators(op, domain, value):
    request = sessions_request([f_number(option("priority"), op, value)])
    assert conditions(request) == [Condition("options.priority", domain, value)]
    compile_query(list_sessions_query(request))


@pytest.mark.parametrize(("op", "domain"), DATE_OPS.items())
def test_date_operators(op, domain):
    request = sessions_request([f_date(raw("created_at"), op, timestamp(NOW))])
    assert conditions(request) == [Condition("created_at", domain, NOW)]


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        # NOW + 700 ns lies strictly between NOW and NOW + 1 µs, PostgreSQL's next timestamp.
        ("BEFORE", [("le", NOW)]),
        ("BEFORE_OR_EQUAL", [("le", NOW)]),
        ("AFTER", [("gt", NOW)]),
        ("AFTER_OR_EQUAL", [("gt", NOW)]),
        ("EQUAL", [("lt", NOW), ("gt", NOW)]),  # no timestamp equals it
        ("NOT_EQUAL", []),  # every timestamp differs from it, and null does
    ],
)
def test_date_with_nanoseconds_compares_exactly(op, expected):
    request = sessions_request([f_date(raw("closed_at"), op, timestamp(NOW, nanos=700))])
    assert conditions(request) == [Condition("closed_at", o, v) for o, v in expected]


@pytest.mark.parametrize(("op", "domain"), [("EQUAL", "eq"), ("NOT_EQUAL", "ne")])
@pytest.mark.parametrize(
    ("make", "field"), [(f_date, raw("closed_at")), (f_duration, raw("duration"))]
)
def test_date_or_duration_without_value_asks_for_null(make, field, op, domain):
    (condition,) = conditions(sessions_request([make(field, op, None)]))
    assert condition.op == domain and condition.value is None


@pytest.mark.parametrize(("op", "domain"), DURATION_OPS.items())
@pytest.mark.parametrize(
    ("field", "name"),
    [(raw("duration"), "duration"), (option("max_duration"), "options.max_duration")],
)
def test_duration_operators(field, name, op, domain):
    request = sessions_request([f_duration(field, op, duration(90, 5))])
    assert conditions(request) == [Condition(name, domain, Decimal("90.000000005"))]


@pytest.mark.parametrize(("op", "domain"), [("EQUAL", "eq"), ("NOT_EQUAL", "ne")])
@pytest.mark.parametrize("status", list(SessionStatus))
def test_status_operators(op, domain, status):
    request = sessions_request([f_status(raw("status"), op, status)])
    assert conditions(request) == [Condition("status", domain, status)]


@pytest.mark.parametrize("value", [True, False])
@pytest.mark.parametrize("name", ["client_submission", "worker_submission"])
def test_boolean_operator(name, value):
    assert conditions(sessions_request([f_boolean(raw(name), value)])) == [
        Condition(name, "eq", value)
    ]


@pytest.mark.parametrize(
    ("op", "domain"), [("CONTAINS", "contains"), ("NOT_CONTAINS", "not_contains")]
)
def test_array_operators(op, domain):
    request = sessions_request([f_array(raw("partition_ids"), op, "gpu")])
    assert conditions(request) == [Condition("partition_ids", domain, "gpu")]


def test_filters_are_an_or_of_ands_and_empty_ones_match_everything():
    query = list_sessions_query(
        sessions_request(
            [f_status(raw("status"), "EQUAL", SessionStatus.RUNNING)],
            [
                f_number(option("priority"), "GREATER_THAN", 3),
                f_string(generic("team"), "EQUAL", "x"),
            ],
            [],
        )
    )
    assert [[c.field for c in ands] for ands in query.filters] == [
        ["status"],
        ["options.priority", "options.options.team"],
        [],
    ]
    assert compile_query(query).where.endswith(" OR (TRUE)")
    assert list_sessions_query(sessions_request()).filters == []


def test_contradictory_filters_are_a_valid_query():
    request = sessions_request(
        [
            f_status(raw("status"), "EQUAL", SessionStatus.RUNNING),
            f_status(raw("status"), "EQUAL", SessionStatus.PAUSED),
            f_number(option("priority"), "LESS_THAN", -(2**63)),
        ]
    )
    compile_query(list_sessions_query(request))


# --- sorts and pages -----------------------------------------------------------------------------

SORTABLE_SESSION_FIELDS = [
    *[
        (sf.SessionField(session_raw_field=sf.SessionRawField(field=number)), name)
        for number, name in SESSION_RAW_FIELDS.items()
    ],
    *[
        (sf.SessionField(task_option_field=sf.TaskOptionField(field=number)), name)
        for number, name in TASK_OPTION_FIELDS.items()
    ],
    (generic("rank"), "options.options.rank"),
]


@pytest.mark.parametrize("desc", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize(
    ("field", "name"), SORTABLE_SESSION_FIELDS, ids=[n for _, n in SORTABLE_SESSION_FIELDS]
)
def test_sessions_sort_on_every_field_both_ways(field, name, desc):
    query = list_sessions_query(sessions_request(sort=field, desc=desc, page=4, page_size=25))
    assert (query.sort_field, query.sort_desc, query.page, query.page_size) == (name, desc, 4, 25)
    assert compile_query(query).order_by.endswith(f"session_id {'DESC' if desc else 'ASC'}")


def test_a_list_without_a_sort_is_refused_as_armonik_refuses_it():
    assert "sort is required" in refused(sc.ListSessionsRequest(page_size=10))
    assert "sort is required" in refused(pc.ListPartitionsRequest(), list_partitions_query)


def test_page_size_zero_counts_only():
    assert list_sessions_query(sessions_request(page=3, page_size=0)).page_size == 0


@pytest.mark.parametrize("desc", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize(("number", "name"), PARTITION_RAW_FIELDS.items())
def test_partitions_sort_on_every_field_both_ways(number, name, desc):
    field = pff.PartitionField(partition_raw_field=pff.PartitionRawField(field=number))
    query = list_partitions_query(partitions_request(sort=field, desc=desc))
    assert isinstance(query, PartitionsQuery)
    assert (query.sort_field, query.sort_desc) == (name, desc)


@pytest.mark.parametrize(
    ("filter_field", "expected"),
    [
        (
            f_string(partition_field("id"), "STARTS_WITH", "gpu", pfl),
            ("partition_id", "starts_with"),
        ),
        (f_number(partition_field("pod_max"), "LESS_THAN", 5, pfl), ("pod_max", "lt")),
        (
            f_array(partition_field("parent_partition_ids"), "NOT_CONTAINS", "p", pfl),
            ("parent_partition_ids", "not_contains"),
        ),
    ],
)
def test_partition_filters(filter_field, expected):
    query = list_partitions_query(partitions_request([filter_field]))
    ((condition,),) = query.filters
    assert (condition.field, condition.op) == expected
    compile_query(query)


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "says"),
    [
        (sessions_request(page=-1), "page must not be negative"),
        (sessions_request(page_size=-1), "page_size must not be negative"),
        (sessions_request(page_size=1001), "page_size must be between 0 and 1000"),
        (sc.ListSessionsRequest(sort=sc.ListSessionsRequest.Sort(direction=1)), "sort.field is"),
        (sessions_request(sort=raw("unspecified")), "SESSION_RAW_ENUM_FIELD_UNSPECIFIED"),
        (sessions_request(sort=option("unspecified")), "TASK_OPTION_ENUM_FIELD_UNSPECIFIED"),
        (sessions_request(sort=raw("options")), "options is the whole TaskOptions"),
        (sessions_request(sort=generic("")), "no key"),
        (
            sessions_request(
                sort=sf.SessionField(session_raw_field=sf.SessionRawField(field=2**31 - 1))
            ),
            f"unknown value {2**31 - 1}",
        ),
        (
            sessions_request(sort=sf.SessionField(task_option_field=sf.TaskOptionField(field=-7))),
            "unknown value -7",
        ),
        (
            sc.ListSessionsRequest(sort=sc.ListSessionsRequest.Sort(field=raw("status"))),
            "SORT_DIRECTION_UNSPECIFIED",
        ),
        (
            sc.ListSessionsRequest(
                sort=sc.ListSessionsRequest.Sort(field=raw("status"), direction=3)
            ),
            "unknown value 3",
        ),
        (sessions_request([sfl.FilterField(field=raw("status"))]), "has no filter"),
        (
            sessions_request([f_string(sf.SessionField(), "EQUAL", "x")]),
            "filters.or[0].and[0].field is unspecified",
        ),
        (
            sessions_request([f_string(raw("unspecified"), "EQUAL", "x")]),
            "SESSION_RAW_ENUM_FIELD_UNSPECIFIED",
        ),
        (sessions_request([f_string(raw("options"), "EQUAL", "x")]), "whole TaskOptions"),
        (
            sessions_request(
                [
                    f_status(raw("status"), "EQUAL", SessionStatus.RUNNING),
                    f_status(raw("status"), "EQUAL", 42),
                ]
            ),
            "filters.or[0].and[1]: unknown session status 42",
        ),
        (
            sessions_request(
                [
                    sfl.FilterField(
                        field=raw("session_id"),
                        filter_string=fc.FilterString(value="x", operator=99),
                    )
                ]
            ),
            "unknown filter_string operator 99",
        ),
        (
            sessions_request(
                [
                    sfl.FilterField(
                        field=raw("client_submission"),
                        filter_boolean=fc.FilterBoolean(value=True, operator=1),
                    )
                ]
            ),
            "unknown filter_boolean operator 1",
        ),
        (sessions_request([f_date(raw("created_at"), "BEFORE", None)]), "needs a value"),
        (sessions_request([f_duration(raw("duration"), "LONGER_THAN", None)]), "needs a value"),
        (
            sessions_request([f_date(raw("created_at"), "AFTER", Timestamp(seconds=2**62))]),
            "out of protobuf's range",
        ),
        (
            sessions_request(
                [f_date(raw("created_at"), "AFTER", Timestamp(seconds=-62_135_596_801))]
            ),
            "out of protobuf's range",
        ),
        (
            sessions_request([f_date(raw("created_at"), "AFTER", Timestamp(nanos=-1))]),
            "out of protobuf's range",
        ),
        (
            sessions_request([f_duration(raw("duration"), "EQUAL", duration(-(2**62)))]),
            "not a valid Duration",
        ),
        (
            sessions_request([f_duration(raw("duration"), "EQUAL", duration(1, -5))]),
            "not a valid Duration",
        ),
        (
            sessions_request([f_duration(raw("duration"), "EQUAL", duration(0, 10**9))]),
            "not a valid Duration",
        ),
        (sessions_request([f_string(generic(""), "EQUAL", "x")]), "no key"),
        (sessions_request([f_string(generic("k"), "EQUAL", "a\x00b")]), "NUL"),
        (sessions_request([f_array(raw("partition_ids"), "CONTAINS", "\x00")]), "NUL"),
        (sessions_request([f_string(generic("k\x00"), "EQUAL", "x")]), "NUL"),
    ],
)
def test_refusals(request_, says):
    assert says in refused(request_)


# Each field with the one filter kind that fits it; every other kind is refused, naming both.
FIELD_KINDS = {
    "session_id": "filter_string",
    "status": "filter_status",
    "client_submission": "filter_boolean",
    "worker_submission": "filter_boolean",
    "partition_ids": "filter_array",
    "created_at": "filter_date",
    "cancelled_at": "filter_date",
    "closed_at": "filter_date",
    "purged_at": "filter_date",
    "deleted_at": "filter_date",
    "duration": "filter_duration",
    "options.max_duration": "filter_duration",
    "options.max_retries": "filter_number",
    "options.priority": "filter_number",
    "options.partition_id": "filter_string",
    "options.application_name": "filter_string",
    "options.application_version": "filter_string",
    "options.application_namespace": "filter_string",
    "options.application_service": "filter_string",
    "options.engine_type": "filter_string",
    "options.options.team": "filter_string",
}
SAMPLE_FILTERS = {
    "filter_string": fc.FilterString(value="x"),
    "filter_number": fc.FilterNumber(value=1),
    "filter_boolean": fc.FilterBoolean(value=True),
    "filter_status": sfl.FilterStatus(value=1),
    "filter_date": fc.FilterDate(value=Timestamp(seconds=1)),
    "filter_array": fc.FilterArray(value="x"),
    "filter_duration": fc.FilterDuration(value=Duration(seconds=1)),
}


def session_field(name: str) -> sf.SessionField:
    if name.startswith("options.options."):
        return generic(name.removeprefix("options.options."))
    if name.startswith("options."):
        return option(name.removeprefix("options."))
    return raw(name)


@pytest.mark.parametrize("kind", SAMPLE_FILTERS)
@pytest.mark.parametrize("name", FIELD_KINDS)
def test_each_filter_kind_applies_only_to_its_fields(name, kind):
    request = sessions_request(
        [sfl.FilterField(field=session_field(name), **{kind: SAMPLE_FILTERS[kind]})]
    )
    if FIELD_KINDS[name] == kind:
        compile_query(list_sessions_query(request))
        return
    message = refused(request)
    assert kind in message and FIELD_KINDS[name] in message


@pytest.mark.parametrize(
    "request_",
    [
        pc.ListPartitionsRequest(page=-1),
        pc.ListPartitionsRequest(page_size=-1),
        partitions_request(sort=partition_field("unspecified")),
        pc.ListPartitionsRequest(sort=pc.ListPartitionsRequest.Sort(direction=1)),
        pc.ListPartitionsRequest(
            sort=pc.ListPartitionsRequest.Sort(field=partition_field("id"), direction=0)
        ),
        partitions_request(
            sort=pff.PartitionField(partition_raw_field=pff.PartitionRawField(field=77))
        ),
        partitions_request([f_boolean(partition_field("priority"), True, pfl)]),
        partitions_request([f_string(partition_field("priority"), "EQUAL", "1", pfl)]),
        partitions_request([f_number(partition_field("id"), "EQUAL", 1, pfl)]),
        partitions_request([f_array(partition_field("id"), "CONTAINS", "x", pfl)]),
        partitions_request([pfl.FilterField(field=partition_field("id"))]),
    ],
)
def test_partition_refusals(request_):
    refused(request_, list_partitions_query)


# --- whatever the bytes, a query or INVALID_ARGUMENT --------------------------------------------

# Mostly valid numbers, so that many requests get through to the compiler, and the extremes.
ENUM_NUMBERS = st.one_of(
    st.integers(0, 12), st.sampled_from([-1, -(2**31), 2**31 - 1]), st.integers(-(2**31), 2**31 - 1)
)
INT64 = st.one_of(
    st.integers(-3, 3), st.sampled_from([-(2**63), 2**63 - 1]), st.integers(-(2**63), 2**63 - 1)
)
TEXT = st.one_of(st.text(max_size=20), st.just("a" * 100_000), st.just("%_\\"))


@st.composite
def session_fields(draw) -> sf.SessionField:
    which = draw(st.sampled_from(["named", "raw", "option", "generic", "none"]))
    if which == "named":
        return session_field(draw(st.sampled_from(list(FIELD_KINDS))))
    if which == "raw":
        return sf.SessionField(session_raw_field=sf.SessionRawField(field=draw(ENUM_NUMBERS)))
    if which == "option":
        return sf.SessionField(task_option_field=sf.TaskOptionField(field=draw(ENUM_NUMBERS)))
    if which == "generic":
        return generic(draw(TEXT))
    return sf.SessionField()


@st.composite
def filter_fields(draw) -> sfl.FilterField:
    if draw(st.booleans()):
        name = draw(st.sampled_from(list(FIELD_KINDS)))
        message = sfl.FilterField(field=session_field(name))
        kind = FIELD_KINDS[name]
    else:
        message = sfl.FilterField(field=draw(session_fields()))
        kind = draw(st.sampled_from([*SAMPLE_FILTERS, None]))
    if kind is None:
        return message
    condition = getattr(message, kind)
    condition.operator = draw(st.one_of(st.integers(0, 5), ENUM_NUMBERS))
    if kind in ("filter_date", "filter_duration"):
        if draw(st.booleans()):
            condition.value.seconds = draw(st.one_of(st.integers(-(10**10), 10**10), INT64))
            condition.value.nanos = draw(st.one_of(st.integers(0, 10**9 - 1), ENUM_NUMBERS))
    elif kind in ("filter_string", "filter_array"):
        condition.value = draw(TEXT)
    elif kind == "filter_boolean":
        condition.value = draw(st.booleans())
    elif kind == "filter_number":
        condition.value = draw(INT64)
    else:
        condition.value = draw(st.one_of(st.integers(0, 7), ENUM_NUMBERS))
    return message


@st.composite
def list_requests(draw) -> sc.ListSessionsRequest:
    ors = draw(st.lists(st.lists(filter_fields(), max_size=3), max_size=3))
    page, page_size = (draw(st.one_of(st.integers(0, 1001), ENUM_NUMBERS)) for _ in range(2))
    request = sessions_request(*ors, page=page, page_size=page_size)
    if draw(st.booleans()):
        request.sort.field.CopyFrom(draw(session_fields()))
        request.sort.direction = draw(st.one_of(st.integers(1, 2), ENUM_NUMBERS))
    return request


def maps_or_refuses(request: sc.ListSessionsRequest) -> None:
    try:
        query = list_sessions_query(request)
    except Refused as refusal:
        assert refusal.kind == INVALID_ARGUMENT
        return
    assert isinstance(query, ListQuery)
    compile_query(query)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(list_requests())
def test_any_request_maps_to_a_query_or_is_refused(request_):
    maps_or_refuses(request_)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_map_to_a_query_or_are_refused(data):
    request = sc.ListSessionsRequest()
    try:
        request.ParseFromString(data)
    except DecodeError:
        return  # grpc answers these itself, before any handler
    maps_or_refuses(request)


def test_timestamps_at_the_ends_of_protobufs_range_are_valid():
    for seconds, nanos in [(-62_135_596_800, 0), (253_402_300_799, 999_999_999)]:
        value = Timestamp(seconds=seconds, nanos=nanos)
        for op in DATE_OPS:
            compile_query(
                list_sessions_query(sessions_request([f_date(raw("created_at"), op, value)]))
            )
    earliest = Timestamp(seconds=-62_135_596_800)
    latest = Timestamp(seconds=253_402_300_799, nanos=999_999_000)
    assert conditions(
        sessions_request(
            [
                f_date(raw("created_at"), "AFTER", earliest),
                f_date(raw("closed_at"), "EQUAL", latest),
            ]
        )
    ) == [
        Condition("created_at", "gt", datetime(1, 1, 1, tzinfo=UTC)),
        Condition("closed_at", "eq", datetime.max.replace(tzinfo=UTC)),
    ]
