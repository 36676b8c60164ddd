"""The ChangeFeed over PostgreSQL's LISTEN/NOTIFY: the triggers of migration 008 publish each
statement's changes on `armonik_events` when its transaction commits, and one connection per
process listens and hands each notification to the subscribers of its session. A thousand idle
subscribers are a thousand entries of a dict: no connection, no query, no timer each.

PostgreSQL delivers a notification to every connection that was listening when its transaction
committed; this connection starts listening before the first subscription is handed out, so a
subscriber misses nothing committed after it subscribed. If the connection is lost, the
notifications meanwhile are lost with it: every subscription then ends with FeedLost, and the
next one opens a new connection."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from stores.events import (
    NEW_RESULT,
    NEW_TASK,
    RESULT_OWNER_UPDATE,
    Change,
    FeedLost,
)

log = logging.getLogger("armonik_sessions.events")

CHANNEL = "armonik_events"
# Batches a subscriber may fall behind by before its subscription ends (and its client starts
# again from the tables): a slow reader costs bounded memory.
BACKLOG = 1000


def changes_of(payload: str) -> list[Change]:
    """A notification's changes (see 008_events.sql)."""
    kind, session, body = payload.split("\x1e")
    entries = [entry.split("\x1f") for entry in body.split("\x1d")]
    if kind in (NEW_TASK, NEW_RESULT):
        return [Change(kind, session, key) for (key,) in entries]
    if kind == RESULT_OWNER_UPDATE:
        return [Change(kind, session, k, 0, p, o) for k, p, o in entries]
    return [Change(kind, session, k, int(s)) for k, s in entries]


class _Subscriber:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[list[Change] | None] = asyncio.Queue(BACKLOG)
        self.lost = ""

    def put(self, batch: list[Change] | None, lost: str = "") -> None:
        if self.lost:
            return
        try:
            self.queue.put_nowait(batch)
        except asyncio.QueueFull:
            lost = lost or f"more than {BACKLOG} batches of changes behind"
            batch = None
            # The end must reach the reader whatever the backlog.
            self.queue.get_nowait()
            self.queue.put_nowait(None)
        if batch is None:
            self.lost = lost

    async def batches(self) -> AsyncIterator[list[Change]]:
        while True:
            batch = await self.queue.get()
            if batch is None:
                raise FeedLost(self.lost)
            yield batch


class PostgresChangeFeed:
    def __init__(self, dsn: str, timeout: float) -> None:
        self.dsn = dsn
        self.timeout = timeout
        self._conn: asyncpg.Connection | None = None
        self._opening = asyncio.Lock()
        self._subscribers: dict[str, set[_Subscriber]] = {}

    @asynccontextmanager
    async def subscribe(self, session_id: str) -> AsyncIterator[AsyncIterator[list[Change]]]:
        subscriber = _Subscriber()
        # Registered before the connection is known to listen: a notification that arrives in
        # between is one the subscriber may have (a change it would also read from the tables).
        self._subscribers.setdefault(session_id, set()).add(subscriber)
        try:
            await self._listening()
            yield subscriber.batches()
        finally:
            subscribers = self._subscribers.get(session_id, set())
            subscribers.discard(subscriber)
            if not subscribers:
                self._subscribers.pop(session_id, None)

    def listening_pid(self) -> int | None:
        """The backend pid of the listening connection, if open (for tests and operators)."""
        conn = self._conn
        return conn.get_server_pid() if conn is not None and not conn.is_closed() else None

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            await conn.close(timeout=self.timeout)

    async def _listening(self) -> None:
        async with self._opening:
            if self._conn is not None and not self._conn.is_closed():
                return
            conn = await asyncpg.connect(self.dsn, timeout=self.timeout)
            try:
                conn.add_termination_listener(self._terminated)
                await conn.add_listener(CHANNEL, self._notified)
            except BaseException:
                await conn.close()
                raise
            self._conn = conn

    def _notified(self, conn, pid, channel, payload: str) -> None:
        try:
            changes = changes_of(payload)
        except (ValueError, KeyError, TypeError):
            log.exception("unreadable change notification %.200s", payload)
            return
        if not changes:
            return
        for subscriber in list(self._subscribers.get(changes[0].session_id, ())):
            subscriber.put(changes)

    def _terminated(self, conn) -> None:
        if conn is self._conn:
            self._conn = None
        log.warning("the change feed's connection was lost: its subscriptions end")
        for subscribers in list(self._subscribers.values()):
            for subscriber in list(subscribers):
                subscriber.put(None, "the change feed's connection was lost")
