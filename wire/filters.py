"""ArmoniK's list requests (ListSessions, ListPartitions, ListTasks, CountTasksByStatus,
ListResults, ListApplications), mapped to the stores'
list-query model (stores/queries.py), which the PostgreSQL adapter compiles to SQL. Pure
functions: a request either maps to a query or is refused with INVALID_ARGUMENT, whatever a
client puts in it (any number in an enum field, int64 extremes, timestamps out of range, empty
or contradictory filters).

As in ArmoniK.Core (Common/src/gRPC/ListSessionsRequestExt.cs, EnumFieldExt.cs,
FilterRangeExt.cs and the Validators/List*RequestValidator.cs), each filter kind applies to the
fields of its type: string to session_id, the string task options and the generic option keys;
number to max_retries and priority; duration to duration and max_duration; date to the five
dates; status to status; boolean to the submission flags; array to partition_ids. Where ArmoniK
throws (answering UNKNOWN), this refuses with INVALID_ARGUMENT naming the field and the filter:
an unspecified or unknown field, operator, sort direction or status, or a filter kind that does
not fit its field. A request without `sort` sorts by the key ascending and one without `filters`
lists everything, as ArmoniK's services do when those messages are null (their validators
refuse such requests first; nothing is ambiguous in them, so they are accepted here).
`with_task_options` does not change which sessions are listed.

Tasks are filtered on their summary fields, their options and their generic options (a task's
status filter takes a TaskStatus), results on their raw fields (all but opaque_id, bytes that
no filter kind fits), applications on their four strings; ListApplications sorts by a list of
fields. `with_errors` (ListTasks) does not change which tasks are listed.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from armonik.protogen.common import (
    applications_common_pb2,
    applications_fields_pb2,
    partitions_common_pb2,
    partitions_fields_pb2,
    results_common_pb2,
    results_fields_pb2,
    sessions_common_pb2,
    sessions_fields_pb2,
    sort_direction_pb2,
    tasks_common_pb2,
    tasks_fields_pb2,
)
from armonik.protogen.common import filters_common_pb2 as fc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from lifecycle.domain import TASK_OPTION_NAMES
from lifecycle.refusals import INVALID_ARGUMENT, Refused
from stores.queries import (
    APPLICATIONS,
    ARRAY,
    BOOLEAN,
    DATE,
    DURATION,
    MAX_DURATION_SECONDS,
    NUMBER,
    OPTIONS_MAP,
    RESULTS,
    STATUS,
    STRING,
    TASKS,
    ApplicationsQuery,
    Condition,
    Listing,
    ListQuery,
    PartitionsQuery,
    ResultsQuery,
    TasksQuery,
    field_kind,
)
from wire.messages import SESSION_RAW_FIELDS, TASK_OPTION_FIELDS

sf = sessions_fields_pb2
Q = TypeVar("Q", ListQuery, PartitionsQuery, TasksQuery, ResultsQuery)
pf = partitions_fields_pb2
PARTITION_RAW_FIELDS = {
    pf.PARTITION_RAW_ENUM_FIELD_ID: "partition_id",
    pf.PARTITION_RAW_ENUM_FIELD_PARENT_PARTITION_IDS: "parent_partition_ids",
    pf.PARTITION_RAW_ENUM_FIELD_POD_RESERVED: "pod_reserved",
    pf.PARTITION_RAW_ENUM_FIELD_POD_MAX: "pod_max",
    pf.PARTITION_RAW_ENUM_FIELD_PREEMPTION_PERCENTAGE: "preemption_percentage",
    pf.PARTITION_RAW_ENUM_FIELD_PRIORITY: "priority",
}
tf = tasks_fields_pb2


def _by_enum_name(enum: Any, prefix: str, listing: Listing) -> dict[int, str]:
    """An enum of ArmoniK's fields (TASK_SUMMARY_ENUM_FIELD_CREATED_AT) by the listing's names
    (created_at): the names are the same, lower case. Those the listing lacks are left out, and
    refused where a request names them."""
    names = {number: name.removeprefix(prefix).lower() for name, number in enum.items()}
    return {number: name for number, name in names.items() if name in listing.fields}


TASK_SUMMARY_FIELDS = _by_enum_name(tf.TaskSummaryEnumField, "TASK_SUMMARY_ENUM_FIELD_", TASKS)
TASK_OPTIONS_OF_TASKS = {
    getattr(tf, f"TASK_OPTION_ENUM_FIELD_{name.upper()}"): f"options.{name}"
    for name in TASK_OPTION_NAMES
}
RESULT_RAW_FIELDS = _by_enum_name(
    results_fields_pb2.ResultRawEnumField, "RESULT_RAW_ENUM_FIELD_", RESULTS
)
APPLICATION_RAW_FIELDS = _by_enum_name(
    applications_fields_pb2.ApplicationRawEnumField, "APPLICATION_RAW_ENUM_FIELD_", APPLICATIONS
)

# Each filter kind: the field kind it applies to, and its operators in the stores' terms.
FILTERS: dict[str, tuple[str, dict[int, str]]] = {
    "filter_string": (
        STRING,
        {
            fc.FILTER_STRING_OPERATOR_EQUAL: "eq",
            fc.FILTER_STRING_OPERATOR_NOT_EQUAL: "ne",
            fc.FILTER_STRING_OPERATOR_CONTAINS: "contains",
            fc.FILTER_STRING_OPERATOR_NOT_CONTAINS: "not_contains",
            fc.FILTER_STRING_OPERATOR_STARTS_WITH: "starts_with",
            fc.FILTER_STRING_OPERATOR_ENDS_WITH: "ends_with",
        },
    ),
    "filter_number": (
        NUMBER,
        {
            fc.FILTER_NUMBER_OPERATOR_EQUAL: "eq",
            fc.FILTER_NUMBER_OPERATOR_NOT_EQUAL: "ne",
            fc.FILTER_NUMBER_OPERATOR_LESS_THAN: "lt",
            fc.FILTER_NUMBER_OPERATOR_LESS_THAN_OR_EQUAL: "le",
            fc.FILTER_NUMBER_OPERATOR_GREATER_THAN_OR_EQUAL: "ge",
            fc.FILTER_NUMBER_OPERATOR_GREATER_THAN: "gt",
        },
    ),
    "filter_date": (
        DATE,
        {
            fc.FILTER_DATE_OPERATOR_EQUAL: "eq",
            fc.FILTER_DATE_OPERATOR_NOT_EQUAL: "ne",
            fc.FILTER_DATE_OPERATOR_BEFORE: "lt",
            fc.FILTER_DATE_OPERATOR_BEFORE_OR_EQUAL: "le",
            fc.FILTER_DATE_OPERATOR_AFTER_OR_EQUAL: "ge",
            fc.FILTER_DATE_OPERATOR_AFTER: "gt",
        },
    ),
    "filter_duration": (
        DURATION,
        {
            fc.FILTER_DURATION_OPERATOR_EQUAL: "eq",
            fc.FILTER_DURATION_OPERATOR_NOT_EQUAL: "ne",
            fc.FILTER_DURATION_OPERATOR_SHORTER_THAN: "lt",
            fc.FILTER_DURATION_OPERATOR_SHORTER_THAN_OR_EQUAL: "le",
            fc.FILTER_DURATION_OPERATOR_LONGER_THAN_OR_EQUAL: "ge",
            fc.FILTER_DURATION_OPERATOR_LONGER_THAN: "gt",
        },
    ),
    "filter_status": (
        STATUS,
        {fc.FILTER_STATUS_OPERATOR_EQUAL: "eq", fc.FILTER_STATUS_OPERATOR_NOT_EQUAL: "ne"},
    ),
    "filter_boolean": (BOOLEAN, {fc.FILTER_BOOLEAN_OPERATOR_IS: "eq"}),
    "filter_array": (
        ARRAY,
        {
            fc.FILTER_ARRAY_OPERATOR_CONTAINS: "contains",
            fc.FILTER_ARRAY_OPERATOR_NOT_CONTAINS: "not_contains",
        },
    ),
}
# Which filter kind fits a field of each kind, for the refusals' hints.
FILTER_OF_KIND = {kind: name for name, (kind, _) in FILTERS.items()}
SORT_DIRECTIONS = {
    sort_direction_pb2.SORT_DIRECTION_ASC: False,
    sort_direction_pb2.SORT_DIRECTION_DESC: True,
}
# Protobuf's valid Timestamp range (0001-01-01 to 9999-12-31).
MIN_TIMESTAMP, MAX_TIMESTAMP = -62_135_596_800, 253_402_300_799
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NANOS = 1_000_000_000


def list_sessions_query(request: sessions_common_pb2.ListSessionsRequest) -> ListQuery:
    """The ListQuery a ListSessionsRequest asks for, or an INVALID_ARGUMENT refusal."""
    return _list_query(request, ListQuery, _session_field)


def list_partitions_query(request: partitions_common_pb2.ListPartitionsRequest) -> PartitionsQuery:
    """The PartitionsQuery a ListPartitionsRequest asks for, or an INVALID_ARGUMENT refusal."""
    return _list_query(request, PartitionsQuery, _partition_field)


def list_tasks_query(request: tasks_common_pb2.ListTasksRequest) -> TasksQuery:
    """The TasksQuery a ListTasksRequest asks for, or an INVALID_ARGUMENT refusal."""
    return _list_query(request, TasksQuery, _task_field)


def count_tasks_query(request: tasks_common_pb2.CountTasksByStatusRequest) -> TasksQuery:
    """The tasks a CountTasksByStatusRequest counts, as a query (it has no sort nor page)."""
    return TasksQuery(_filters(request, TasksQuery.listing, _task_field), page_size=0)


def list_results_query(request: results_common_pb2.ListResultsRequest) -> ResultsQuery:
    """The ResultsQuery a ListResultsRequest asks for, or an INVALID_ARGUMENT refusal."""
    return _list_query(request, ResultsQuery, _result_field)


def list_applications_query(
    request: applications_common_pb2.ListApplicationsRequest,
) -> ApplicationsQuery:
    """The ApplicationsQuery a ListApplicationsRequest asks for, or an INVALID_ARGUMENT
    refusal. Its sort names a list of fields, none meaning by name."""
    filters = _filters(request, ApplicationsQuery.listing, _application_field)
    _require_sort(request)
    fields = [
        _application_field(f, f"sort.fields[{i}]") for i, f in enumerate(request.sort.fields)
    ] or ["name"]
    return ApplicationsQuery(
        filters,
        fields[0],
        _direction(request.sort.direction),
        *_page(request),
        then_by=fields[1:],
    )


def _list_query(request: Any, query: type[Q], field_of: Callable[[Any, str], str]) -> Q:
    filters = _filters(request, query.listing, field_of)
    _require_sort(request)
    sort_field = field_of(request.sort.field, "sort.field")
    return query(filters, sort_field, _direction(request.sort.direction), *_page(request))


def _require_sort(request: Any) -> None:
    # ArmoniK's validators refuse a list request without a sort: its field is unspecified.
    # (Absent filters, on the other hand, list everything.)
    if not request.HasField("sort"):
        raise Refused(INVALID_ARGUMENT, "sort is required: a field and a direction")


def _page(request: Any) -> tuple[int, int]:
    if request.page < 0:
        raise Refused(INVALID_ARGUMENT, f"page must not be negative, not {request.page}")
    if request.page_size < 0:
        raise Refused(INVALID_ARGUMENT, f"page_size must not be negative, not {request.page_size}")
    return request.page, request.page_size


def _direction(direction: int) -> bool:
    if direction not in SORT_DIRECTIONS:
        raise Refused(
            INVALID_ARGUMENT,
            f"sort.direction must be SORT_DIRECTION_ASC or SORT_DIRECTION_DESC, not {direction}"
            f" ({_enum_name(sort_direction_pb2.SortDirection, direction)})",
        )
    return SORT_DIRECTIONS[direction]


def _session_field(field: sessions_fields_pb2.SessionField, where: str) -> str:
    which = field.WhichOneof("field")
    if which == "session_raw_field":
        number = field.session_raw_field.field
        if number == sf.SESSION_RAW_ENUM_FIELD_OPTIONS:
            raise Refused(
                INVALID_ARGUMENT,
                f"{where}: options is the whole TaskOptions; name one of them with"
                " task_option_field or task_option_generic_field",
            )
        return _named(SESSION_RAW_FIELDS, number, sf.SessionRawEnumField, f"{where}.session_raw")
    return _option_field(field, which, TASK_OPTION_FIELDS, sf.TaskOptionEnumField, where)


def _task_field(field: tasks_fields_pb2.TaskField, where: str) -> str:
    which = field.WhichOneof("field")
    if which == "task_summary_field":
        number = field.task_summary_field.field
        return _named(TASK_SUMMARY_FIELDS, number, tf.TaskSummaryEnumField, f"{where}.task_summary")
    return _option_field(field, which, TASK_OPTIONS_OF_TASKS, tf.TaskOptionEnumField, where)


def _option_field(field, which: str | None, names: dict, enum, where: str) -> str:
    """The option a session's or a task's field names: one of TaskOptions' own (by its enum
    number) or one of its generic options (by key)."""
    if which == "task_option_field":
        number = field.task_option_field.field
        return _named(names, number, enum, f"{where}.task_option")
    if which == "task_option_generic_field":
        key = field.task_option_generic_field.field
        if not key:
            raise Refused(INVALID_ARGUMENT, f"{where}: task_option_generic_field has no key")
        return OPTIONS_MAP + key
    raise Refused(INVALID_ARGUMENT, f"{where} is unspecified")


def _result_field(field: results_fields_pb2.ResultField, where: str) -> str:
    if field.WhichOneof("field") != "result_raw_field":
        raise Refused(INVALID_ARGUMENT, f"{where} is unspecified")
    number = field.result_raw_field.field
    return _named(
        RESULT_RAW_FIELDS, number, results_fields_pb2.ResultRawEnumField, f"{where}.result_raw"
    )


def _application_field(field: applications_fields_pb2.ApplicationField, where: str) -> str:
    if field.WhichOneof("field") != "application_field":
        raise Refused(INVALID_ARGUMENT, f"{where} is unspecified")
    number = field.application_field.field
    return _named(
        APPLICATION_RAW_FIELDS,
        number,
        applications_fields_pb2.ApplicationRawEnumField,
        f"{where}.application",
    )


def _partition_field(field: partitions_fields_pb2.PartitionField, where: str) -> str:
    if field.WhichOneof("field") != "partition_raw_field":
        raise Refused(INVALID_ARGUMENT, f"{where} is unspecified")
    number = field.partition_raw_field.field
    return _named(PARTITION_RAW_FIELDS, number, pf.PartitionRawEnumField, f"{where}.partition_raw")


def _named(names: dict[int, str], number: int, enum: Any, where: str) -> str:
    if number not in names:
        raise Refused(
            INVALID_ARGUMENT, f"{where}_field is {_enum_name(enum, number)}: name a field"
        )
    return names[number]


def _enum_name(enum: Any, number: int) -> str:
    try:
        return enum.Name(number)
    except ValueError:
        return f"unknown value {number}"


def task_filters(filters: Any, where: str = "tasks_filters") -> list[list[Condition]]:
    """A tasks Filters message as conditions (the Events service's), or a refusal."""
    return filters_of(filters, TasksQuery.listing, _task_field, where)


def result_filters(filters: Any, where: str = "results_filters") -> list[list[Condition]]:
    """A results Filters message as conditions (the Events service's), or a refusal."""
    return filters_of(filters, ResultsQuery.listing, _result_field, where)


def _filters(
    request: Any, listing: Listing, field_of: Callable[[Any, str], str]
) -> list[list[Condition]]:
    return filters_of(request.filters, listing, field_of)


def filters_of(
    filters: Any, listing: Listing, field_of: Callable[[Any, str], str], prefix: str = "filters"
) -> list[list[Condition]]:
    """An OR of ANDs of filter fields, as conditions on the listing's fields."""
    ors = []
    for i, conjunction in enumerate(getattr(filters, "or")):
        ands = []
        for j, filter_field in enumerate(getattr(conjunction, "and")):
            where = f"{prefix}.or[{i}].and[{j}]"
            ands.extend(
                _conditions(
                    filter_field, listing, field_of(filter_field.field, f"{where}.field"), where
                )
            )
        ors.append(ands)
    return ors


def _conditions(filter_field: Any, listing: Listing, name: str, where: str) -> list[Condition]:
    which = filter_field.WhichOneof("value_condition")
    if which is None:
        raise Refused(INVALID_ARGUMENT, f"{where} has no filter")
    kind, operators = FILTERS[which]
    field_is = field_kind(listing, name)
    if field_is != kind:
        raise Refused(
            INVALID_ARGUMENT,
            f"{where}: {which} does not apply to {_display(name)}, a {field_is} field;"
            f" use {FILTER_OF_KIND.get(field_is, 'another field')}",
        )
    condition = getattr(filter_field, which)
    if condition.operator not in operators:
        raise Refused(
            INVALID_ARGUMENT,
            f"{where}: unknown {which} operator {condition.operator} for {_display(name)}",
        )
    op = operators[condition.operator]
    if kind in (DATE, DURATION) and not condition.HasField("value"):
        # Compared with null, as ArmoniK's duration filter does (FilterRangeExt): EQUAL asks
        # for an unset field (a session not closed has no duration), NOT_EQUAL for a set one.
        if op not in ("eq", "ne"):
            raise Refused(INVALID_ARGUMENT, f"{where}: {which} needs a value to order by")
        return [Condition(name, op, None)]
    if kind == DATE:
        return _date_conditions(name, op, condition.value, where)
    if kind == DURATION:
        return [Condition(name, op, _duration_as_seconds(condition.value, where))]
    if kind == STATUS:
        statuses = listing.statuses
        assert statuses is not None, f"{listing.what} has a status field but no statuses"
        try:
            return [Condition(name, op, statuses(condition.value))]
        except ValueError:
            raise Refused(
                INVALID_ARGUMENT, f"{where}: unknown {listing.what} status {condition.value}"
            ) from None
    return [Condition(name, op, condition.value)]


def _display(name: str) -> str:
    if name.startswith(OPTIONS_MAP):
        return f"the option key {name.removeprefix(OPTIONS_MAP)!r}"
    return name


def _date_conditions(name: str, op: str, value: Timestamp, where: str) -> list[Condition]:
    """A date filter as conditions on PostgreSQL's timestamps, which count microseconds. A
    Timestamp with a fraction of a microsecond (C# clients send 100 ns ticks) lies strictly
    between two of them, t and t + 1 µs, so each comparison with it is exactly one with t."""
    seconds, nanos = value.seconds, value.nanos
    if not MIN_TIMESTAMP <= seconds <= MAX_TIMESTAMP or not 0 <= nanos < NANOS:
        raise Refused(
            INVALID_ARGUMENT,
            f"{where}: timestamp ({seconds} s, {nanos} ns) is out of protobuf's range"
            " (0001-01-01 to 9999-12-31)",
        )
    t = EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)
    if nanos % 1000 == 0:
        return [Condition(name, op, t)]
    return {
        "lt": [Condition(name, "le", t)],
        "le": [Condition(name, "le", t)],
        "gt": [Condition(name, "gt", t)],
        "ge": [Condition(name, "gt", t)],
        # No stored date equals it: a contradiction, which leaves null out too...
        "eq": [Condition(name, "lt", t), Condition(name, "gt", t)],
        # ... and every one differs from it, null included: no condition at all.
        "ne": [],
    }[op]


def _duration_as_seconds(value: Duration, where: str) -> Decimal:
    """A Duration as exact seconds."""
    seconds, nanos = value.seconds, value.nanos
    if (
        abs(seconds) > MAX_DURATION_SECONDS
        or abs(nanos) >= NANOS
        or (seconds > 0 and nanos < 0)
        or (seconds < 0 and nanos > 0)
    ):
        raise Refused(
            INVALID_ARGUMENT, f"{where}: duration ({seconds} s, {nanos} ns) is not a valid Duration"
        )
    return Decimal(seconds) + Decimal(nanos).scaleb(-9)
