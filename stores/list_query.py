"""ArmoniK's ListSessions, compiled to SQL: filters (an OR of ANDs of conditions on a session's
fields, its task options and its free-form options), a sort, and a page. Filtering, sorting and
paging all run in PostgreSQL."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from lifecycle.refusals import INVALID_ARGUMENT, Refused
from lifecycle.statuses import SessionStatus

STRING, NUMBER, BOOLEAN, STATUS, DATE, ARRAY, DURATION = (
    "string",
    "number",
    "boolean",
    "status",
    "date",
    "array",
    "duration",
)

FIELDS: dict[str, tuple[str, str]] = {
    "session_id": ("session_id", STRING),
    "status": ("status", STATUS),
    "client_submission": ("client_submission", BOOLEAN),
    "worker_submission": ("worker_submission", BOOLEAN),
    "partition_ids": ("partition_ids", ARRAY),
    "created_at": ("created_at", DATE),
    "cancelled_at": ("cancelled_at", DATE),
    "closed_at": ("closed_at", DATE),
    "purged_at": ("purged_at", DATE),
    "deleted_at": ("deleted_at", DATE),
    "duration": ("(closed_at - created_at)", DURATION),
    "options.max_duration": ("(options->>'max_duration')::double precision", NUMBER),
    "options.max_retries": ("(options->>'max_retries')::bigint", NUMBER),
    "options.priority": ("(options->>'priority')::bigint", NUMBER),
    "options.partition_id": ("(options->>'partition_id')", STRING),
    "options.application_name": ("(options->>'application_name')", STRING),
    "options.application_version": ("(options->>'application_version')", STRING),
    "options.application_namespace": ("(options->>'application_namespace')", STRING),
    "options.application_service": ("(options->>'application_service')", STRING),
    "options.engine_type": ("(options->>'engine_type')", STRING),
}

OPERATORS: dict[str, set[str]] = {
    STRING: {"eq", "ne", "contains", "not_contains", "starts_with", "ends_with"},
    NUMBER: {"eq", "ne", "lt", "le", "gt", "ge"},
    DURATION: {"eq", "ne", "lt", "le", "gt", "ge"},
    DATE: {"eq", "ne", "lt", "le", "gt", "ge"},
    BOOLEAN: {"eq", "ne"},
    STATUS: {"eq", "ne"},
    ARRAY: {"contains", "not_contains"},
}
OPTIONS_MAP = "options.options."
COMPARISONS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
MAX_PAGE_SIZE = 1000


@dataclass
class Condition:
    field: str  # a key of FIELDS, or OPTIONS_MAP + key for the free-form options map
    op: str
    value: Any


@dataclass
class ListQuery:
    filters: list[list[Condition]] = field(default_factory=list)
    sort_field: str = "created_at"
    sort_desc: bool = False
    page: int = 0
    page_size: int = 100

    def __post_init__(self) -> None:
        if self.page < 0:
            raise Refused(INVALID_ARGUMENT, "page must not be negative")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise Refused(INVALID_ARGUMENT, f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        compile_query(self)


@dataclass(frozen=True)
class CompiledQuery:
    where: str
    params: list[Any]
    order_by: str
    page: str  # LIMIT and OFFSET


def compile_query(query: ListQuery) -> CompiledQuery:
    """The query as SQL over the sessions table, or an INVALID_ARGUMENT refusal."""
    where, params = _where(query.filters)
    direction = "DESC" if query.sort_desc else "ASC"
    # The session id breaks ties, so that pages neither repeat nor skip a session.
    order_by = f"{_sort_column(query.sort_field)} {direction}, session_id {direction}"
    page = f"LIMIT {int(query.page_size)} OFFSET {int(query.page) * int(query.page_size)}"
    return CompiledQuery(where, params, order_by, page)


def _sort_column(name: str) -> str:
    if name not in FIELDS or FIELDS[name][1] == ARRAY:
        raise Refused(INVALID_ARGUMENT, f"cannot sort sessions by {name!r}")
    return FIELDS[name][0]


def _field(name: str, params: list[Any]) -> tuple[str, str]:
    if name.startswith(OPTIONS_MAP):
        params.append(name.removeprefix(OPTIONS_MAP))
        return f"(options->'options'->>${len(params)})", STRING
    if name not in FIELDS:
        raise Refused(INVALID_ARGUMENT, f"unknown session field {name!r}")
    return FIELDS[name]


def _where(filters: list[list[Condition]]) -> tuple[str, list[Any]]:
    if not filters:
        return "TRUE", []
    params: list[Any] = []
    ors = []
    for conjunction in filters:
        ands = [_condition(c, params) for c in conjunction] or ["TRUE"]
        ors.append("(" + " AND ".join(ands) + ")")
    return " OR ".join(ors), params


def _condition(c: Condition, params: list[Any]) -> str:
    column, kind = _field(c.field, params)
    if c.op not in OPERATORS[kind]:
        raise Refused(INVALID_ARGUMENT, f"operator {c.op!r} does not apply to {c.field!r}")
    params.append(_value(c, kind))
    p = f"${len(params)}"
    if kind == STRING and c.op not in COMPARISONS:
        pattern = {
            "contains": f"'%' || {p} || '%'",
            "not_contains": f"'%' || {p} || '%'",
            "starts_with": f"{p} || '%'",
            "ends_with": f"'%' || {p}",
        }[c.op]
        negate = "NOT " if c.op == "not_contains" else ""
        return f"{negate}(COALESCE({column}, '') LIKE {pattern})"
    if kind == ARRAY:
        negate = "NOT " if c.op == "not_contains" else ""
        return f"{negate}({p} = ANY({column}))"
    return f"{column} {COMPARISONS[c.op]} {p}"


def _value(c: Condition, kind: str) -> Any:
    v = c.value
    try:
        if kind == STRING:
            s = str(v)
            if c.op in COMPARISONS:
                return s
            return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        if kind == ARRAY:
            return str(v)
        if kind == NUMBER:
            if isinstance(v, bool):
                raise TypeError
            return float(v) if isinstance(v, float) else int(v)
        if kind == STATUS:
            return int(SessionStatus[v] if isinstance(v, str) else SessionStatus(int(v)))
        if kind == BOOLEAN:
            if not isinstance(v, bool):
                raise TypeError
            return v
        if kind == DATE:
            return v if isinstance(v, datetime) else datetime.fromisoformat(str(v))
        if kind == DURATION:
            return v if isinstance(v, timedelta) else timedelta(seconds=float(v))
    except (TypeError, ValueError, KeyError) as e:
        raise Refused(INVALID_ARGUMENT, f"bad value {v!r} for {c.field!r}") from e
    raise Refused(INVALID_ARGUMENT, f"bad value {v!r} for {c.field!r}")
