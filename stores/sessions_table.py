"""SessionsTable: one row per session, and the lock that orders the operations on it."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from lifecycle.models import Guard, Session, TaskOptions
from lifecycle.refusals import INVALID_ARGUMENT, Refused
from lifecycle.statuses import SessionStatus
from lifecycle.transitions import SessionTransition
from stores.database import Database

COLUMNS = (
    "session_id, status, client_submission, worker_submission, partition_ids, options, epoch,"
    " created_at, cancelled_at, closed_at, purged_at, deleted_at"
)
DATE_COLUMNS = ("created_at", "cancelled_at", "closed_at", "purged_at", "deleted_at")


def _session(row: asyncpg.Record) -> Session:
    data = dict(row)
    data["status"] = SessionStatus(data["status"])
    data["partition_ids"] = list(data["partition_ids"])
    data["options"] = TaskOptions(**data["options"])
    return Session(**data)


class SessionsTable:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(
        self,
        conn: asyncpg.Connection,
        session_id: str,
        partition_ids: list[str],
        options: TaskOptions,
    ) -> Session | None:
        """Insert a new RUNNING session, open to submission; None if its id is taken."""
        row = await conn.fetchrow(
            "INSERT INTO sessions (session_id, status, partition_ids, options)"
            " VALUES ($1, $2, $3, $4)"
            f" ON CONFLICT (session_id) DO NOTHING RETURNING {COLUMNS}",
            session_id,
            int(SessionStatus.RUNNING),
            partition_ids,
            options.__dict__,
        )
        return _session(row) if row else None

    async def get(self, session_id: str, conn: asyncpg.Connection | None = None) -> Session | None:
        """The stored row, tombstone included: callers decide what DELETED means to them."""
        row = await (conn or self.db).fetchrow(
            f"SELECT {COLUMNS} FROM sessions WHERE session_id = $1", session_id
        )
        return _session(row) if row else None

    async def get_live(self, session_id: str) -> Session | None:
        """The session, or None if it is missing or deleted (a tombstone counts as missing)."""
        session = await self.get(session_id)
        return session if session is not None and session.status != SessionStatus.DELETED else None

    async def lock(self, conn: asyncpg.Connection, session_id: str) -> Session | None:
        """Lock the row against every other admission and every batch until `conn` commits."""
        row = await conn.fetchrow(
            f"SELECT {COLUMNS} FROM sessions WHERE session_id = $1 FOR UPDATE", session_id
        )
        return _session(row) if row else None

    async def hold(self, conn: asyncpg.Connection, session_id: str, guard: Guard) -> bool:
        """Whether a batch guarded by `guard` may commit. The shared lock keeps any admission
        waiting until the batch's transaction ends, so a batch never interleaves with a status
        change: it runs wholly before or wholly after it."""
        row = await conn.fetchrow(
            "SELECT status, epoch FROM sessions WHERE session_id = $1 FOR SHARE", session_id
        )
        return row is not None and guard.allows(row["status"], row["epoch"])

    async def apply(
        self,
        conn: asyncpg.Connection,
        session_id: str,
        to_status: SessionStatus | None,
        *,
        stamp: str | None = None,
        stop_client: bool = False,
        stop_worker: bool = False,
        bump_epoch: bool = False,
        only_from: list[SessionStatus] | None = None,
    ) -> Session | None:
        """Write a transition's effect on the row; None if the row is missing or not in
        `only_from`."""
        if stamp is not None and stamp not in DATE_COLUMNS:
            raise ValueError(f"not a date column: {stamp}")
        stamp_sql = f", {stamp} = now()" if stamp else ""
        row = await conn.fetchrow(
            "UPDATE sessions SET status = COALESCE($2, status), epoch = epoch + $3,"
            " client_submission = client_submission AND NOT $4,"
            f" worker_submission = worker_submission AND NOT $5{stamp_sql}"
            " WHERE session_id = $1 AND ($6::smallint[] IS NULL OR status = ANY($6))"
            f" RETURNING {COLUMNS}",
            session_id,
            int(to_status) if to_status is not None else None,
            1 if bump_epoch else 0,
            stop_client,
            stop_worker,
            [int(s) for s in only_from] if only_from is not None else None,
        )
        return _session(row) if row else None

    async def admit(
        self,
        conn: asyncpg.Connection,
        session_id: str,
        transition: SessionTransition,
        *,
        stop_client: bool = False,
        stop_worker: bool = False,
    ) -> Session:
        session = await self.apply(
            conn,
            session_id,
            transition.admits_to,
            stamp=transition.stamps,
            stop_client=stop_client or transition.stops_submission,
            stop_worker=stop_worker or transition.stops_submission,
            bump_epoch=transition.takes_over_tasks,
        )
        assert session is not None, "admit() runs under lock() of an existing row"
        return session

    async def finish(
        self, conn: asyncpg.Connection, session_id: str, transition: SessionTransition
    ) -> Session | None:
        """Write the transition's last step, if no other operation moved the session since."""
        return await self.apply(
            conn,
            session_id,
            transition.finishes_to,
            stamp=transition.finish_stamps,
            stop_client=True,
            stop_worker=True,
            only_from=list(transition.sweeps_while),
        )

    async def delete(self, conn: asyncpg.Connection, session_id: str) -> None:
        await conn.execute("DELETE FROM sessions WHERE session_id = $1", session_id)

    async def query(self, query: "ListQuery") -> tuple[list[Session], int]:
        """A page of the live sessions that match `query`, and how many match in all."""
        where, params = _where(query.filters)
        sort = _column(query.sort_field, for_sort=True)
        direction = "DESC" if query.sort_desc else "ASC"
        base = f"FROM sessions WHERE status <> {int(SessionStatus.DELETED)} AND ({where})"
        async with self.db.connection() as conn:
            total = await conn.fetchval(f"SELECT count(*) {base}", *params)
            rows = await conn.fetch(
                f"SELECT {COLUMNS} {base} ORDER BY {sort} {direction}, session_id {direction}"
                f" LIMIT {int(query.page_size)} OFFSET {int(query.page) * int(query.page_size)}",
                *params,
            )
        return [_session(r) for r in rows], total


# --- Listing: ArmoniK's ListSessions filters (an OR of ANDs), sort and pages -------------------

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
        _column(self.sort_field, for_sort=True)
        _where(self.filters)


def _column(name: str, for_sort: bool = False) -> str:
    if name not in FIELDS or (for_sort and FIELDS[name][1] == ARRAY):
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
