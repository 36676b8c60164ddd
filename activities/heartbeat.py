"""A heartbeat that beats on its own while an activity works.

A heartbeat tells Temporal that the worker is alive; how far the work got travels with it, so
that a retry starts from there. Beating only between batches would make any slow step (a pool
checkout, a statement waiting on a lock, a store that answers slowly) look like a dead worker,
and a live attempt would then run beside its own retry. So the beat runs in the background, at a
quarter of the heartbeat timeout, with the latest cursor; a dead store is caught instead by the
store timeouts (settings.store_timeout), which fail the call with its cause.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from temporalio import activity

# Used when the activity was scheduled without a heartbeat timeout (a test calling it directly).
DEFAULT_INTERVAL = 1.0


class Heartbeat:
    def __init__(self, details: dict[str, Any]) -> None:
        self.details = dict(details)

    def update(self, **details: Any) -> None:
        """Record how far the work got; it goes out with the next beat."""
        self.details.update(details)

    def beat(self) -> None:
        activity.heartbeat(dict(self.details))


@asynccontextmanager
async def heartbeating(**details: Any) -> AsyncIterator[Heartbeat]:
    heartbeat = Heartbeat(details)
    timeout = activity.info().heartbeat_timeout
    interval = timeout.total_seconds() / 4 if timeout else DEFAULT_INTERVAL

    async def beat_forever() -> None:
        while True:
            heartbeat.beat()
            await asyncio.sleep(interval)

    beating = asyncio.create_task(beat_forever())
    try:
        yield heartbeat
    finally:
        beating.cancel()
        heartbeat.beat()


def last_details() -> dict[str, Any]:
    """What the last attempt of this activity said in its last beat, if it said anything."""
    details: Any = activity.info().heartbeat_details
    if details and isinstance(details[0], dict):
        return details[0]
    return {}
