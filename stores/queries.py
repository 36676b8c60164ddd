"""The list requests of the API (ListSessions, ListPartitions, ListTasks, ListResults,
ListApplications), as a model that no store
backend shapes: filters (an OR of ANDs of conditions on a row's fields), a sort and a page, over
a *listing* that names its fields and their kinds. The PostgreSQL adapter compiles it to SQL
(adapters/postgres/list_queries.py); the API builds it from ArmoniK's filter messages
(wire/filters.py).

The semantics are ArmoniK.Core's (its MongoDB adapter, the reference one):

- A null field (a date not stamped yet, the duration of a session never closed, a generic option
  key the session does not have) equals nothing, orders against nothing and contains nothing, but
  *differs* from every value and *does not contain* any string: `ne` and `not_contains` match it.
  `eq None` and `ne None` ask whether it is null.
- Sorting puts null first in ascending order (last in descending), strings sort bytewise, and
  the row's key breaks ties so that pages neither repeat nor skip a row.
- An AND without conditions matches every row; no filters at all match every row.
- `page_size` 0 counts without listing.

Sessions' `duration` is `closed_at - created_at`, null until the session is closed (as
ArmoniK sets it at CloseSession only). Durations compare as exact seconds (numeric), at
nanosecond precision for `options.max_duration` (protobuf's Duration precision), so a filter
value that carries nanoseconds compares exactly.

A query is checked when it is made: an unknown field, an operator that does not fit its field or
a value that does not fit its kind is refused (INVALID_ARGUMENT) before any store sees it.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import IntEnum
from typing import Any, ClassVar

from lifecycle.domain import TASK_OPTION_NAMES
from lifecycle.refusals import INVALID_ARGUMENT, Refused
from lifecycle.statuses import ResultStatus, SessionStatus, TaskStatus

STRING, NUMBER, BOOLEAN, STATUS, DATE, ARRAY, DURATION = (
    "string",
    "number",
    "boolean",
    "status",
    "date",
    "array",
    "duration",
)
OPERATORS: dict[str, set[str]] = {
    STRING: {"eq", "ne", "contains", "not_contains", "starts_with", "ends_with"},
    NUMBER: {"eq", "ne", "lt", "le", "gt", "ge"},
    DURATION: {"eq", "ne", "lt", "le", "gt", "ge"},
    DATE: {"eq", "ne", "lt", "le", "gt", "ge"},
    BOOLEAN: {"eq", "ne"},
    STATUS: {"eq", "ne"},
    ARRAY: {"contains", "not_contains"},
}
# The largest page, as ArmoniK's Python client asks for by default (1000): a page is built in
# memory and sent as one gRPC message, which a page of 1000 sessions with their options keeps
# well under gRPC's default 4 MB limit. ArmoniK itself has no bound; a larger page is refused.
MAX_PAGE_SIZE = 1000
MAX_PAGE = 2**31 - 1  # a protobuf int32, as ListSessionsRequest.page is
INT64 = 2**63
# Protobuf's Duration range, about 10,000 years.
MAX_DURATION_SECONDS = 315_576_000_000


@dataclass(frozen=True)
class Field:
    kind: str
    nullable: bool = False


@dataclass(frozen=True)
class Listing:
    """What a query lists: its fields by name, its key (the tie-breaker of every sort), the
    statuses its STATUS fields take, and the prefix that names a key of a free-form options map
    (OPTIONS_MAP + key), if its rows have one."""

    what: str
    fields: dict[str, Field]
    key: str
    statuses: type[IntEnum] | None = None
    generic_prefix: str | None = None

    def field(self, name: Any) -> Field:
        """The field `name` names, or an INVALID_ARGUMENT refusal."""
        if not isinstance(name, str):
            raise Refused(
                INVALID_ARGUMENT, f"a {self.what} field is named by a string, not {name!r}"
            )
        if self.option_key(name) is not None:
            return Field(STRING, nullable=True)
        found = self.fields.get(name)
        if found is None:
            known = ", ".join(self.fields)
            raise Refused(INVALID_ARGUMENT, f"unknown {self.what} field {name!r} (known: {known})")
        return found

    def option_key(self, name: str) -> str | None:
        """The options-map key a generic field names (checked), or None for another field."""
        if not self.generic_prefix or not name.startswith(self.generic_prefix):
            return None
        key = _text(name.removeprefix(self.generic_prefix), f"option key of {name!r}")
        if not key:
            raise Refused(INVALID_ARGUMENT, "an option key must not be empty")
        return key


# The free-form map of TaskOptions, as a field prefix: options.options.<key>.
OPTIONS_MAP = "options.options."
# TaskOptions' fields, by their kind in a listing (the map aside).
OPTION_KINDS = {"max_duration": DURATION, "max_retries": NUMBER, "priority": NUMBER}
TASK_OPTION_FIELDS = {
    f"options.{name}": Field(OPTION_KINDS.get(name, STRING), nullable=True)
    for name in TASK_OPTION_NAMES
}
SESSIONS = Listing(
    what="session",
    key="session_id",
    statuses=SessionStatus,
    generic_prefix=OPTIONS_MAP,
    fields={
        "session_id": Field(STRING),
        "status": Field(STATUS),
        "client_submission": Field(BOOLEAN),
        "worker_submission": Field(BOOLEAN),
        "partition_ids": Field(ARRAY),
        "created_at": Field(DATE),
        "cancelled_at": Field(DATE, nullable=True),
        "closed_at": Field(DATE, nullable=True),
        "purged_at": Field(DATE, nullable=True),
        "deleted_at": Field(DATE, nullable=True),
        "duration": Field(DURATION, nullable=True),
        **TASK_OPTION_FIELDS,
    },
)
PARTITIONS = Listing(
    what="partition",
    key="partition_id",
    fields={
        "partition_id": Field(STRING),
        "parent_partition_ids": Field(ARRAY),
        "pod_reserved": Field(NUMBER),
        "pod_max": Field(NUMBER),
        "preemption_percentage": Field(NUMBER),
        "priority": Field(NUMBER),
    },
)


# A task's summary fields (ArmoniK's TaskSummary), its options and its generic options. The
# durations are between two of its dates, null until both are set.
TASKS = Listing(
    what="task",
    key="task_id",
    statuses=TaskStatus,
    generic_prefix=OPTIONS_MAP,
    fields={
        "task_id": Field(STRING),
        "session_id": Field(STRING),
        "owner_pod_id": Field(STRING),
        "initial_task_id": Field(STRING),
        "status": Field(STATUS),
        "created_at": Field(DATE),
        **{
            name: Field(DATE, nullable=True)
            for name in (
                "submitted_at",
                "received_at",
                "acquired_at",
                "fetched_at",
                "started_at",
                "processed_at",
                "ended_at",
                "pod_ttl",
            )
        },
        "creation_to_end_duration": Field(DURATION, nullable=True),
        "processing_to_end_duration": Field(DURATION, nullable=True),
        "received_to_end_duration": Field(DURATION, nullable=True),
        "pod_hostname": Field(STRING),
        "error": Field(STRING),
        "payload_id": Field(STRING),
        "created_by": Field(STRING),
        **TASK_OPTION_FIELDS,
    },
)
RESULTS = Listing(
    what="result",
    key="result_id",
    statuses=ResultStatus,
    fields={
        "session_id": Field(STRING),
        "name": Field(STRING),
        "owner_task_id": Field(STRING),
        "status": Field(STATUS),
        "created_at": Field(DATE),
        "completed_at": Field(DATE, nullable=True),
        "result_id": Field(STRING),
        "size": Field(NUMBER),
        "created_by": Field(STRING),
        "manual_deletion": Field(BOOLEAN),
    },
)
# An application is a distinct (name, version, namespace, service) of the tasks' options.
APPLICATION_FIELDS = ("name", "version", "namespace", "service")
APPLICATIONS = Listing(
    what="application",
    key="name",
    fields={name: Field(STRING) for name in APPLICATION_FIELDS},
)


@dataclass
class Condition:
    field: str  # a field of the query's listing; OPTIONS_MAP + key names an option
    op: str
    value: Any


@dataclass
class PagedQuery:
    filters: list[list[Condition]] = field(default_factory=list)
    sort_field: str = ""
    sort_desc: bool = False
    page: int = 0
    page_size: int = 100  # 0 counts the matching rows without listing any

    listing: ClassVar[Listing]

    def __post_init__(self) -> None:
        check(self)


@dataclass
class ListQuery(PagedQuery):
    """ListSessions."""

    sort_field: str = "created_at"
    listing: ClassVar[Listing] = SESSIONS


@dataclass
class PartitionsQuery(PagedQuery):
    """ListPartitions."""

    sort_field: str = "partition_id"
    listing: ClassVar[Listing] = PARTITIONS


@dataclass
class TasksQuery(PagedQuery):
    """ListTasks, ListTasksDetailed and CountTasksByStatus."""

    sort_field: str = "created_at"
    listing: ClassVar[Listing] = TASKS


@dataclass
class ResultsQuery(PagedQuery):
    """ListResults."""

    sort_field: str = "created_at"
    listing: ClassVar[Listing] = RESULTS


@dataclass
class ApplicationsQuery(PagedQuery):
    """ListApplications: sorted by `sort_field`, then by each of `then_by` (ArmoniK sorts by a
    list of fields)."""

    sort_field: str = "name"
    then_by: list[str] = field(default_factory=list)
    listing: ClassVar[Listing] = APPLICATIONS

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in self.then_by:
            self.listing.field(name)


def field_kind(listing: Listing, name: str) -> str | None:
    """The kind of a field (STRING, NUMBER, ...), or None if the listing has no such field."""
    if listing.generic_prefix and name.startswith(listing.generic_prefix):
        return STRING
    found = listing.fields.get(name)
    return found.kind if found else None


def check(query: PagedQuery) -> None:
    """Refuse (INVALID_ARGUMENT) what a store could not run: a bad page, an unknown field, an
    operator or a value that does not fit its field."""
    for name in ("page", "page_size"):
        value = getattr(query, name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise Refused(INVALID_ARGUMENT, f"{name} must be an integer, not {value!r}")
    if not 0 <= query.page <= MAX_PAGE:
        raise Refused(INVALID_ARGUMENT, f"page must be between 0 and {MAX_PAGE}")
    if not 0 <= query.page_size <= MAX_PAGE_SIZE:
        raise Refused(INVALID_ARGUMENT, f"page_size must be between 0 and {MAX_PAGE_SIZE}")
    filters = query.filters
    if not isinstance(filters, list) or not all(isinstance(a, list) for a in filters):
        raise Refused(INVALID_ARGUMENT, "filters are a list (OR) of lists (AND) of conditions")
    for conjunction in filters:
        for condition in conjunction:
            checked_value(condition, query.listing)
    query.listing.field(query.sort_field)


def checked_value(c: Any, listing: Listing) -> Any:
    """The condition's value as a store compares it (a status as its number, a date with its
    zone, a duration as exact seconds), or a refusal."""
    if not isinstance(c, Condition):
        raise Refused(INVALID_ARGUMENT, f"not a condition: {c!r}")
    kind = listing.field(c.field).kind
    if c.op not in OPERATORS[kind]:
        raise Refused(
            INVALID_ARGUMENT,
            f"operator {c.op!r} does not apply to {c.field!r}, a {kind} field"
            f" (operators: {', '.join(sorted(OPERATORS[kind]))})",
        )
    if c.value is None:
        if c.op not in ("eq", "ne"):
            raise Refused(INVALID_ARGUMENT, f"operator {c.op!r} on {c.field!r} needs a value")
        return None
    return _value(c, kind, listing)


def _value(c: Condition, kind: str, listing: Listing) -> Any:
    v = c.value
    bad = Refused(INVALID_ARGUMENT, f"bad value {_short(v)} for {c.field!r}, a {kind} field")
    if kind in (STRING, ARRAY):
        if not isinstance(v, str):
            raise bad
        return _text(v, f"the value for {c.field!r}")
    if kind == NUMBER:
        if not isinstance(v, int) or isinstance(v, bool) or not -INT64 <= v < INT64:
            raise bad
        return v
    if kind == BOOLEAN:
        if not isinstance(v, bool):
            raise bad
        return v
    if kind == STATUS:
        statuses = listing.statuses
        assert statuses is not None, f"{listing.what} has a status field but no statuses"
        try:
            if isinstance(v, str):
                return int(statuses[v])
            if isinstance(v, int) and not isinstance(v, bool):
                return int(statuses(v))
        except (KeyError, ValueError):
            pass
        raise Refused(
            INVALID_ARGUMENT, f"unknown {listing.what} status {_short(v)} for {c.field!r}"
        )
    if kind == DATE:
        if isinstance(v, str):
            try:
                v = datetime.fromisoformat(v)
            except ValueError:
                raise bad from None
        if not isinstance(v, datetime):
            raise bad
        return v if v.tzinfo is not None else v.replace(tzinfo=UTC)
    if kind == DURATION:
        return _exact_duration_seconds(v, bad)
    raise bad


def _exact_duration_seconds(v: Any, bad: Refused) -> Decimal:
    """A duration as exact seconds."""
    if isinstance(v, timedelta):
        seconds = Decimal(v.days * 86_400 + v.seconds) + Decimal(v.microseconds).scaleb(-6)
    elif isinstance(v, Decimal | int | float) and not isinstance(v, bool):
        try:
            seconds = Decimal(str(v)) if isinstance(v, float) else Decimal(v)
        except InvalidOperation:
            raise bad from None
    else:
        raise bad
    if not seconds.is_finite() or abs(seconds) > MAX_DURATION_SECONDS:
        raise bad
    return seconds


def _text(v: str, what: str) -> str:
    """A string any store can take: no NUL, valid Unicode."""
    if "\x00" in v:
        raise Refused(INVALID_ARGUMENT, f"{what} holds a NUL character")
    try:
        v.encode()
    except UnicodeEncodeError:
        raise Refused(INVALID_ARGUMENT, f"{what} is not valid Unicode") from None
    return v


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."
