"""The list-query model (stores/queries.py) compiled to SQL: filtering, sorting, counting and
paging all run in PostgreSQL, and every value a client gives is a bound parameter."""

from dataclasses import dataclass
from typing import Any

from adapters.postgres.database import PostgresDatabase
from lifecycle.statuses import SessionStatus
from stores.queries import (
    APPLICATION_FIELDS,
    APPLICATIONS,
    ARRAY,
    DATE,
    DURATION,
    PARTITIONS,
    RESULTS,
    SESSIONS,
    STRING,
    TASK_OPTION_FIELDS,
    TASKS,
    Condition,
    Field,
    Listing,
    PagedQuery,
    checked_value,
)

COMPARISONS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
LIKE_PATTERNS = {
    "contains": "%{}%",
    "not_contains": "%{}%",
    "starts_with": "{}%",
    "ends_with": "%{}",
}


@dataclass(frozen=True)
class Column:
    sql: str
    kind: str
    nullable: bool = False


@dataclass(frozen=True)
class Source:
    """Where a listing's rows are: its table, the rows of it that are listed at all (`scope`),
    and the SQL of each of its fields."""

    listing: Listing
    table: str
    sql: dict[str, str]
    scope: str = "TRUE"
    # The columns that make a row's key, when it is not the listing's key alone (a task is
    # keyed by its session and its id): the tie-breakers of every sort, in this order.
    keys: tuple[str, ...] = ()
    # Keys that are expressions rather than "C"-collated columns sort bytewise by saying so.
    collate_keys: bool = False
    # The JSON object that holds the generic options (options.options.<key>).
    options_map: str = "options->'options'"

    @property
    def key_columns(self) -> tuple[str, ...]:
        return self.keys or (self.listing.key,)

    def column(self, name: str, params: list[Any], first: int = 1, sort: bool = False) -> Column:
        """The SQL of a field (a generic option key goes in `params`, numbered from `first`)."""
        f: Field = self.listing.field(name)
        key = self.listing.option_key(name)
        if key is not None:
            params.append(key)
            sql = f"(({self.options_map})->>${first + len(params) - 1}::text)"
            return Column(f'{sql} COLLATE "C"' if sort else sql, STRING, nullable=True)
        sql = self.sql[name]
        if sort and f.kind in (STRING, ARRAY):
            # Bytewise, as MongoDB compares strings and as the keys already are, whatever the
            # database's locale.
            sql = f'{sql} COLLATE "C"'
        return Column(sql, f.kind, f.nullable)


def _options_sql(column: str, *, nullable: bool = False) -> dict[str, str]:
    """The SQL of the TaskOptions fields, stored as JSON in `column`. If the column is
    `nullable` (a seeded task has no options of its own), a missing option answers its protobuf
    default: an empty string, a zero, an unset duration."""

    def held(sql: str, default: str) -> str:
        return f"coalesce({sql}, {default})" if nullable else sql

    typed = {
        # Stored as float seconds: rounded to the nanosecond, as a protobuf Duration counts, so
        # that a float's last digit does not decide an equality.
        "options.max_duration": f"round(({column}->>'max_duration')::numeric, 9)",
        "options.max_retries": held(f"({column}->>'max_retries')::bigint", "0"),
        "options.priority": held(f"({column}->>'priority')::bigint", "0"),
    }
    return {
        name: typed.get(name, held(f"({column}->>'{name.removeprefix('options.')}')", "''"))
        for name in TASK_OPTION_FIELDS
    }


# What the tasks table holds of each task field today. The fields it does not hold answer their
# protobuf default (an empty string, an unset date or duration), in filters and sorts as on the
# wire: a column added for them replaces the constant here, and nothing else changes.
_UNHELD = {STRING: "''::text", DATE: "NULL::timestamptz", DURATION: "NULL::numeric"}
TASK_SQL: dict[str, str] = {
    **{name: _UNHELD[f.kind] for name, f in TASKS.fields.items() if f.kind in _UNHELD},
    "task_id": "task_id",
    "session_id": "session_id",
    "owner_pod_id": "coalesce(owner_pod_id, '')",
    "status": "status",
    "created_at": "created_at",
    "submitted_at": "submitted_at",
    "ended_at": "ended_at",
    "creation_to_end_duration": "EXTRACT(EPOCH FROM ended_at - created_at)",
    "payload_id": "coalesce(payload_id, '')",
    **{
        name: column
        for name, column in {
            "received_at": "received_at",
            "acquired_at": "acquired_at",
            "started_at": "started_at",
            "processed_at": "processed_at",
            "initial_task_id": "coalesce(initial_task_id, '')",
            "created_by": "created_by",
        }.items()
        if name in TASKS.fields
    },
    # A task's own options, merged over its session's at submission; a seeded task has none.
    **_options_sql("options", nullable=True),
    # The queue's key: columns of their own.
    "options.priority": "priority::bigint",
    "options.partition_id": "partition_id",
}
# An application is one distinct (name, version, namespace, service) of the tasks' options.
_APPLICATION_SQL = ", ".join(
    f"{TASK_SQL[f'options.application_{name}']} AS {name}" for name in APPLICATION_FIELDS
)

SOURCES = {
    SESSIONS.what: Source(
        SESSIONS,
        table="sessions",
        # A deleted session's tombstone is listed by no one.
        scope=f"status <> {int(SessionStatus.DELETED)}",
        sql={
            **{name: name for name in SESSIONS.fields if not name.startswith("options.")},
            # Exact seconds (numeric since PostgreSQL 14), null while the session is open.
            "duration": "EXTRACT(EPOCH FROM closed_at - created_at)",
            **_options_sql("options"),
        },
    ),
    PARTITIONS.what: Source(
        PARTITIONS, table="partitions", sql={name: name for name in PARTITIONS.fields}
    ),
    TASKS.what: Source(
        TASKS,
        table="tasks",
        sql=TASK_SQL,
        keys=("session_id", "task_id"),
        # Today's tasks table keeps no generic options.
        options_map="NULL::jsonb",
    ),
    RESULTS.what: Source(
        RESULTS,
        table="results",
        sql={
            **{name: name for name in RESULTS.fields},
            "owner_task_id": "coalesce(owner_task_id, '')",
            "created_by": "''::text",
        },
        keys=("session_id", "result_id"),
    ),
    APPLICATIONS.what: Source(
        APPLICATIONS,
        table=f"(SELECT DISTINCT {_APPLICATION_SQL} FROM tasks) AS applications",
        sql={name: name for name in APPLICATION_FIELDS},
        keys=APPLICATION_FIELDS,
        collate_keys=True,
    ),
}


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

    def count_by(self, column: str) -> tuple[str, list[Any]]:
        """How many rows match, by value of `column`."""
        return (
            f"SELECT {column} AS value, count(*) AS n FROM {self._rows} AND ({self.where})"
            f" GROUP BY {column}",
            self.params,
        )

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
        key, table = ", ".join(self.source.key_columns), self.source.table
        keys = (
            f"SELECT {key} FROM {self._rows} AND ({self.where})"
            f" ORDER BY {order_by} LIMIT ${n + 1} OFFSET ${n + 2}"
        )
        return (
            f"SELECT {columns} FROM {table} WHERE ({key}) IN ({keys}) ORDER BY {self.order_by}",
            [*self.params, *self.order_params, limit, offset],
        )

    @property
    def _rows(self) -> str:
        return f"{self.source.table} WHERE {self.source.scope}"


async def fetch_counts(db: PostgresDatabase, query: PagedQuery, field: str) -> dict[Any, int]:
    """How many rows match the query's filters, by value of `field` (its sort and page
    aside)."""
    compiled = compile_query(query)
    sql, args = compiled.count_by(compiled.source.sql[field])
    rows = await db.fetch(sql, *args)
    return {r["value"]: r["n"] for r in rows}


async def fetch_page(
    db: PostgresDatabase, query: PagedQuery, columns: str
) -> tuple[list[Any], int]:
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


def compile_query(query: PagedQuery) -> CompiledQuery:
    """The query (checked when it was made) as SQL over its listing's table."""
    source = SOURCES[query.listing.what]
    params: list[Any] = []
    where = _where(query.filters, source, params)
    order_params: list[Any] = []
    sort_fields = [query.sort_field, *getattr(query, "then_by", [])]
    columns = [
        source.column(name, order_params, first=len(params) + 1, sort=True) for name in sort_fields
    ]
    collate = ' COLLATE "C"' if source.collate_keys else ""

    def order_by(desc: bool) -> str:
        direction = "DESC" if desc else "ASC"
        # Null is the smallest value, as in ArmoniK's MongoDB. Said only where a null can occur:
        # on a NOT NULL column the clause would keep its plain index from serving the sort.
        nulls = " NULLS LAST" if desc else " NULLS FIRST"
        sorts = [f"{c.sql} {direction}{nulls if c.nullable else ''}" for c in columns]
        sorts += [f"{key}{collate} {direction}" for key in source.key_columns]
        return ", ".join(sorts)

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


def _where(filters: Any, source: Source, params: list[Any]) -> str:
    if not filters:
        return "TRUE"
    ors = []
    for conjunction in filters:
        ands = [_condition(c, source, params) for c in conjunction] or ["TRUE"]
        ors.append("(" + " AND ".join(ands) + ")")
    return " OR ".join(ors)


def _condition(c: Condition, source: Source, params: list[Any]) -> str:
    value = checked_value(c, source.listing)
    column = source.column(c.field, params)
    kind, sql = column.kind, column.sql
    if value is None:
        return f"({sql} IS {'' if c.op == 'eq' else 'NOT '}NULL)"
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


def matching(
    what: str,
    filters: Any,
    columns: str,
    session_id: str,
    keys: list[str] | None,
    after: str = "",
    limit: int = 1000,
) -> tuple[str, list[Any]]:
    """The rows of a session's listing `what` that match `filters` (the Events service's): of
    `keys`, each found by one probe of the primary key (ids a change named); or, with no
    `keys`, the next `limit` in key order after `after` (a walk through the session)."""
    source = SOURCES[what]
    key = source.key_columns[-1]
    if keys is not None:
        params: list[Any] = [session_id, sorted(set(keys))]
        where = _where(filters, source, params)
        return (
            f"SELECT {columns} FROM unnest($2::text[]) AS k(id), LATERAL (SELECT * FROM"
            f" {source.table} WHERE session_id = $1 AND {key} = k.id OFFSET 0) t"
            f" WHERE ({where}) ORDER BY {key}",
            params,
        )
    params = [session_id, after]
    where = _where(filters, source, params)
    params.append(limit)
    return (
        f"SELECT {columns} FROM {source.table} WHERE session_id = $1 AND {key} > $2"
        f" AND ({where}) ORDER BY {key} LIMIT ${len(params)}",
        params,
    )
