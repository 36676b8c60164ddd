"""The ChangeFeed: what changed of a session's tasks and results, as the database publishes it
when each change commits (the Events service streams it). A subscriber learns every change
committed after its subscription began, and may miss none silently: if the feed cannot deliver
(its connection lost, the subscriber too slow to keep up), the subscription ends with FeedLost,
and a new one starts from what the tables then hold."""

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from stores.queries import Condition

# The kinds of change, named as ArmoniK's EventSubscriptionResponse names its updates.
NEW_TASK = "new_task"
TASK_STATUS_UPDATE = "task_status_update"
NEW_RESULT = "new_result"
RESULT_STATUS_UPDATE = "result_status_update"
RESULT_OWNER_UPDATE = "result_owner_update"
KINDS = (NEW_TASK, TASK_STATUS_UPDATE, NEW_RESULT, RESULT_STATUS_UPDATE, RESULT_OWNER_UPDATE)


@dataclass(frozen=True)
class Change:
    """One row's change: `key` is the task or result id; `status` the new one (status
    updates); `previous_owner` and `owner` the result's owner task ids ('' for none)."""

    kind: str
    session_id: str
    key: str
    status: int = 0
    previous_owner: str = ""
    owner: str = ""


@dataclass(frozen=True)
class Subscription:
    session_id: str
    kinds: frozenset[str] = frozenset(KINDS)
    task_filters: list[list[Condition]] | None = None
    result_filters: list[list[Condition]] | None = None


@dataclass(frozen=True)
class Event:
    """One event: `row` is the new task (a TaskRecord) or result (a ResultRow), or the Change
    of an update."""

    kind: str
    session_id: str
    row: Any


class FeedLost(Exception):
    """The feed could not deliver every change to a subscriber: its subscription is over."""


class ChangeFeed(Protocol):
    def subscribe(
        self, session_id: str
    ) -> AbstractAsyncContextManager[AsyncIterator[list[Change]]]:
        """Changes of the session, in batches, from the moment the context is entered (it
        returns once the feed listens) until it is left; the iterator raises FeedLost if some
        could not be delivered."""
        ...

    async def close(self) -> None: ...
