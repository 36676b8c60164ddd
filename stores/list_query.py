"""ArmoniK's list requests (ListSessions, ListPartitions) compiled to SQL: filters (an OR of ANDs
of conditions on a row's fields), a sort and a page. Filtering, sorting, counting and paging all
run in PostgreSQL, and every value a client gives is a bound parameter.

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
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar

from lifecycle.refusals import INVALID_ARGUMENT, Refused
from lifecycle.statuses import SessionStatus

if TYPE_CHECKING:  # the CLI compiles queries too, with no database driver to load
    from stores.database import Database

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
COMPARISONS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
LIKE_PATTERNS = {
    "contains": "%{}%",
    "not_contains": "%{}%",
    "starts_with": "{}%",
    "ends_with": "%{}",
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
class Column:
    sql: str
    kind: str
    nullable: bool = False


@dataclass(frozen=True)
class Source:
    """What a query lists: its table and the rows of it that are listed at all (`scope`), its
    fields, its key (the tie-breaker of every sort) and, for sessions, the prefix that names a
    key of the free-form options map."""

    what: str
    table: str
    fields: dict[str, Column]
    key: str
    scope: str = "TRUE"
    generic_prefix: str | None = None


OPTIONS_MAP = "options.options."
SESSIONS = Source(
    what="session",
    table="sessions",
    key="session_id",
    # A deleted session's tombstone is listed by no one.
    scope=f"status <> {int(SessionStatus.DELETED)}",
    generic_prefix=OPTIONS_MAP,
    fields={
        "session_id": Column("session_id", STRING),
        "status": Column("status", STATUS),
        "client_submission": Column("client_submission", BOOLEAN),
        "worker_submission": Column("worker_submission", BOOLEAN),
        "partition_ids": Column("partition_ids", ARRAY),
        "created_at": Column("created_at", DATE),
        "cancelled_at": Column("cancelled_at", DATE, nullable=True),
        "closed_at": Column("closed_at", DATE, nullable=True),
        "purged_at": Column("purged_at", DATE, nullable=True),
        "deleted_at": Column("deleted_at", DATE, nullable=True),
        # Exact seconds (numeric since PostgreSQL 14), null while the session is not closed.
        "duration": Column("EXTRACT(EPOCH FROM closed_at - created_at)", DURATION, nullable=True),
        # Stored as float seconds: rounded to the nanosecond, as a protobuf Duration counts, so
        # that a float's last digit does not decide an equality.
        "options.max_duration": Column(
            "round((options->>'max_duration')::numeric, 9)", DURATION, nullable=True
        ),
        "options.max_retries": Column("(options->>'max_retries')::bigint", NUMBER, nullable=True),
        "options.priority": Column("(options->>'priority')::bigint", NUMBER, nullable=True),
        **{
            f"options.{name}": Column(f"(options->>'{name}')", STRING, nullable=True)
            for name in (
                "partition_id",
                "application_name",
                "application_version",
                "application_namespace",
                "application_service",
                "engine_type",
            )
        },
    },
)
PARTITIONS = Source(
    what="partition",
    table="partitions",
    key="partition_id",
    fields={
        "partition_id": Column("partition_id", STRING),
        "parent_partition_ids": Column("parent_partition_ids", ARRAY),
        "pod_reserved": Column("pod_reserved", NUMBER),
        "pod_max": Column("pod_max", NUMBER),
        "preemption_percentage": Column("preemption_percentage", NUMBER),
        "priority": Column("priority", NUMBER),
    },
)


@dataclass
class Condition:
    field: str  # a field of the query's source; for sessions OPTIONS_MAP + key names an option
    op: str
    value: Any


@dataclass
class PagedQuery:
    filters: list[list[Condition]] = field(default_factory=list)
    sort_field: str = ""
    sort_desc: bool = False
    page: int = 0
    page_size: int = 100  # 0 counts the matching rows without listing any

    source: ClassVar[Source]

    def __post_init__(self) -> None:
        compile_query(self)


@dataclass
class ListQuery(PagedQuery):
    """ListSessions."""

    sort_field: str = "created_at"
    source: ClassVar[Source] = SESSIONS


@dataclass
class PartitionsQuery(PagedQuery):
    """ListPartitions."""

    sort_field: str = "partition_id"
    source: ClassVar[Source] = PARTITIONS


@dataclass(frozen=True)
class CompiledQuery:
    where: str
    params: list[Any]
    # The sort may refer to parameters of its own (an option key), numbered after the filter's.
    order_by: str
    reverse_order_by: str  # the exact reverse: the key makes the order total
    order_params: list[Any]
    limit: int
    offset: int
    source: Source

    def count(self) -> tuple[str, list[Any]]:
        return f"SELECT count(*) FROM {self._rows} AND ({self.where})", self.params

    def page(self, columns: str, total: int) -> tuple[str, list[Any]]:
        """The page, given how many rows match in all (counted in the same snapshot)."""
        limit, offset, order_by = self.limit, self.offset, self.order_by
        if offset > total // 2:
            # Nearer the end than the start: walked from the end, a deep page costs what a
            # shallow one does (a sort keeps the rows up to the page's end, not 90,000 of them).
            end = min(offset + limit, total)
            limit, offset, order_by = max(end - offset, 0), total - end, self.reverse_order_by
        # The page's keys first, then its rows: the rows an OFFSET skips are never read whole,
        # and where an index covers the sort and the filter (created_at) they are not read at
        # all.
        n = len(self.params) + len(self.order_params)
        key, table = self.source.key, self.source.table
        keys = (
            f"SELECT {key} FROM {self._rows} AND ({self.where})"
            f" ORDER BY {order_by} LIMIT ${n + 1} OFFSET ${n + 2}"
        )
        return (
            f"SELECT {columns} FROM {table} WHERE {key} IN ({keys}) ORDER BY {self.order_by}",
            [*self.params, *self.order_params, limit, offset],
        )

    @property
    def _rows(self) -> str:
        return f"{self.source.table} WHERE {self.source.scope}"


async def fetch_page(db: "Database", query: PagedQuery, columns: str) -> tuple[list[Any], int]:
    """The rows of the query's page, and how many rows match in all."""
    compiled = compile_query(query)
    # One snapshot for the count and the page, so that the total is that of the rows listed.
    async with (
        db.connection() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        sql, args = compiled.count()
        total = await conn.fetchval(sql, *args)
        rows = []
        if compiled.limit > 0 and compiled.offset < total:
            sql, args = compiled.page(columns, total)
            rows = await conn.fetch(sql, *args)
    return rows, total


def field_kind(source: Source, name: str) -> str | None:
    """The kind of a field (STRING, NUMBER, ...), or None if the source has no such field."""
    if source.generic_prefix and name.startswith(source.generic_prefix):
        return STRING
    column = source.fields.get(name)
    return column.kind if column else None


def compile_query(query: PagedQuery) -> CompiledQuery:
    """The query as SQL over its source's table, or an INVALID_ARGUMENT refusal."""
    for name in ("page", "page_size"):
        value = getattr(query, name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise Refused(INVALID_ARGUMENT, f"{name} must be an integer, not {value!r}")
    if not 0 <= query.page <= MAX_PAGE:
        raise Refused(INVALID_ARGUMENT, f"page must be between 0 and {MAX_PAGE}")
    if not 0 <= query.page_size <= MAX_PAGE_SIZE:
        raise Refused(INVALID_ARGUMENT, f"page_size must be between 0 and {MAX_PAGE_SIZE}")
    source = query.source
    params: list[Any] = []
    where = _where(query.filters, source, params)
    order_params: list[Any] = []
    column = _column(query.sort_field, source, order_params, first=len(params) + 1, sort=True)

    def order_by(desc: bool) -> str:
        direction = "DESC" if desc else "ASC"
        # Null is the smallest value, as in ArmoniK's MongoDB. Said only where a null can occur:
        # on a NOT NULL column the clause would keep its plain index from serving the sort.
        nulls = (" NULLS LAST" if desc else " NULLS FIRST") if column.nullable else ""
        return f"{column.sql} {direction}{nulls}, {source.key} {direction}"

    return CompiledQuery(
        where=where,
        params=params,
        order_by=order_by(query.sort_desc),
        reverse_order_by=order_by(not query.sort_desc),
        order_params=order_params,
        limit=query.page_size,
        offset=query.page * query.page_size,
        source=source,
    )


def _column(
    name: Any, source: Source, params: list[Any], first: int = 1, sort: bool = False
) -> Column:
    if not isinstance(name, str):
        raise Refused(INVALID_ARGUMENT, f"a {source.what} field is named by a string, not {name!r}")
    if source.generic_prefix and name.startswith(source.generic_prefix):
        key = _text(name.removeprefix(source.generic_prefix), f"option key of {name!r}")
        if not key:
            raise Refused(INVALID_ARGUMENT, "an option key must not be empty")
        params.append(key)
        sql = f"(options->'options'->>${first + len(params) - 1}::text)"
        return Column(f'{sql} COLLATE "C"' if sort else sql, STRING, nullable=True)
    column = source.fields.get(name)
    if column is None:
        known = ", ".join(source.fields)
        raise Refused(INVALID_ARGUMENT, f"unknown {source.what} field {name!r} (known: {known})")
    if sort and column.kind in (STRING, ARRAY):
        # Bytewise, as MongoDB compares strings and as the keys already are, whatever the
        # database's locale.
        return Column(f'{column.sql} COLLATE "C"', column.kind, column.nullable)
    return column


def _where(filters: Any, source: Source, params: list[Any]) -> str:
    if not isinstance(filters, list) or not all(isinstance(a, list) for a in filters):
        raise Refused(INVALID_ARGUMENT, "filters are a list (OR) of lists (AND) of conditions")
    if not filters:
        return "TRUE"
    ors = []
    for conjunction in filters:
        ands = [_condition(c, source, params) for c in conjunction] or ["TRUE"]
        ors.append("(" + " AND ".join(ands) + ")")
    return " OR ".join(ors)


def _condition(c: Any, source: Source, params: list[Any]) -> str:
    if not isinstance(c, Condition):
        raise Refused(INVALID_ARGUMENT, f"not a condition: {c!r}")
    column = _column(c.field, source, params)
    kind, sql = column.kind, column.sql
    if c.op not in OPERATORS[kind]:
        raise Refused(
            INVALID_ARGUMENT,
            f"operator {c.op!r} does not apply to {c.field!r}, a {kind} field"
            f" (operators: {', '.join(sorted(OPERATORS[kind]))})",
        )
    if c.value is None:
        if c.op not in ("eq", "ne"):
            raise Refused(INVALID_ARGUMENT, f"operator {c.op!r} on {c.field!r} needs a value")
        return f"({sql} IS {'' if c.op == 'eq' else 'NOT '}NULL)"
    value = _value(c, kind)
    if kind == STRING and c.op in LIKE_PATTERNS:
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params.append(LIKE_PATTERNS[c.op].format(escaped))
        like = f"({sql} LIKE ${len(params)} ESCAPE '\\')"
        # A null field does not contain the string: NOT LIKE alone would leave it out.
        return f"({like} IS NOT TRUE)" if c.op == "not_contains" else like
    params.append(value)
    p = f"${len(params)}"
    if kind == ARRAY:
        # Containment (@>) rather than = ANY, so that a GIN index on the array can serve it.
        contains = f"({sql} @> ARRAY[{p}::text])"
        return f"(NOT {contains})" if c.op == "not_contains" else contains
    if c.op == "ne" and column.nullable:
        return f"({sql} IS DISTINCT FROM {p})"
    return f"({sql} {COMPARISONS[c.op]} {p})"


def _value(c: Condition, kind: str) -> Any:
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
        try:
            if isinstance(v, str):
                return int(SessionStatus[v])
            if isinstance(v, int) and not isinstance(v, bool):
                return int(SessionStatus(v))
        except (KeyError, ValueError):
            pass
        raise Refused(INVALID_ARGUMENT, f"unknown session status {_short(v)} for {c.field!r}")
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
        return _seconds(v, bad)
    raise bad


def _seconds(v: Any, bad: Refused) -> Decimal:
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
    """A string PostgreSQL can take as a parameter."""
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
