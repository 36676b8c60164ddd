"""The Events service's stream (ArmoniK's WatchToGrpc): a session's new tasks and results and
their status and owner changes, those of the kinds asked for and matching the filters.

The stream subscribes to the change feed first, then reads what the tables already hold as
new_task and new_result events (if those kinds are asked for), then follows the feed: a client
that subscribes after its result completed learns it from the first read, and one that
subscribed before from the feed, so no change is lost in between. A change committed just
before the subscription may be both read and heard: a birth is then told once (for a first read
of up to MAX_TOLD rows), a status or owner change may repeat what the read told, as in ArmoniK.
A change's filters are matched against its row as it is when the change is read.
If the feed cannot deliver, the stream ends UNAVAILABLE and the client subscribes again."""

from collections.abc import AsyncIterator, Iterable
from typing import Any

from lifecycle.options import check_session_id
from lifecycle.refusals import NOT_FOUND, Refused
from stores.events import (
    NEW_RESULT,
    NEW_TASK,
    RESULT_OWNER_UPDATE,
    RESULT_STATUS_UPDATE,
    TASK_STATUS_UPDATE,
    Change,
    ChangeFeed,
    Event,
    Subscription,
)
from stores.store_set import StoreSet

TASK_KINDS = frozenset({NEW_TASK, TASK_STATUS_UPDATE})
RESULT_KINDS = frozenset({NEW_RESULT, RESULT_STATUS_UPDATE, RESULT_OWNER_UPDATE})
BIRTHS = frozenset({NEW_TASK, NEW_RESULT})
# Rows read a statement when the stream starts from what the tables hold.
SNAPSHOT_PAGE = 1000
# The most rows of the first read whose births the stream remembers, so as not to tell them twice.
MAX_TOLD = 1000


class Events:
    def __init__(self, stores: StoreSet, feed: ChangeFeed) -> None:
        self.stores = stores
        self.feed = feed

    async def stream(self, wanted: Subscription) -> AsyncIterator[Event]:
        check_session_id(wanted.session_id)
        if await self.stores.sessions.get_live(wanted.session_id) is None:
            raise Refused(NOT_FOUND, f"session {wanted.session_id} not found")
        async with self.feed.subscribe(wanted.session_id) as batches:
            # A row's birth is told once: the feed may still bring the notification of a row
            # the first read already reported (committed just before the subscription, heard
            # just after). Kept for small first reads only (a waiter's hundred results), so a
            # stream over a large session costs no memory per row.
            told: set[tuple[str, str]] | None = set()
            async for event in self._snapshot(wanted):
                if told is not None:
                    told.add((event.kind, _key(event.row)))
                    if len(told) > MAX_TOLD:
                        told = None
                yield event
            async for batch in batches:
                for event in await self._events(wanted, batch):
                    if told and event.kind in BIRTHS and (event.kind, _key(event.row)) in told:
                        continue
                    yield event

    async def _snapshot(self, wanted: Subscription) -> AsyncIterator[Event]:
        session = wanted.session_id
        for kind, table, filters in (
            (NEW_TASK, self.stores.tasks, wanted.task_filters),
            (NEW_RESULT, self.stores.results, wanted.result_filters),
        ):
            if kind not in wanted.kinds:
                continue
            after = ""
            while rows := await table.matching(session, filters or [], None, after, SNAPSHOT_PAGE):
                for row in rows:
                    yield Event(kind, session, row)
                after = _key(rows[-1])

    async def _events(self, wanted: Subscription, batch: list[Change]) -> list[Event]:
        changes = [c for c in batch if c.kind in wanted.kinds]
        if not changes:
            return []
        session = wanted.session_id
        kind = changes[0].kind
        tasks = kind in TASK_KINDS
        table = self.stores.tasks if tasks else self.stores.results
        filters = wanted.task_filters if tasks else wanted.result_filters
        keys = [c.key for c in changes]
        if kind in (NEW_TASK, NEW_RESULT):
            rows = {_key(r): r for r in await table.matching(session, filters or [], keys)}
            return [Event(kind, session, rows[k]) for k in dict.fromkeys(keys) if k in rows]
        matched = set(keys) if not filters else _keys(await table.matching(session, filters, keys))
        return [Event(kind, session, c) for c in changes if c.key in matched]


def _key(row: Any) -> str:
    return getattr(row, "task_id", None) or row.result_id


def _keys(rows: Iterable[Any]) -> set[str]:
    return {_key(r) for r in rows}
