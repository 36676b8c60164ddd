"""The engine's reads of tasks, results and applications, and the health of what it stands on:
one store call each, answered within the API call (no workflow)."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from temporalio.client import Client

from lifecycle.options import check_id, check_session_id
from lifecycle.refusals import INVALID_ARGUMENT, NOT_FOUND, Refused
from settings import Settings
from stores.queries import ApplicationsQuery, ResultsQuery, TasksQuery
from stores.results import ResultRow
from stores.store_set import StoreSet
from stores.task_reads import Application, TaskData

# How long a health probe may take before it counts as unhealthy: a health check must answer
# soon whatever is down.
PROBE_SECONDS = 2.0
# The most ids one GetResultIds or GetOwnerTaskId names (ArmoniK's client sends them by 500).
MAX_IDS = 10_000


@dataclass(frozen=True)
class Health:
    name: str
    healthy: bool
    message: str


def check_ids(what: str, values: list[str]) -> list[str]:
    if len(values) > MAX_IDS:
        raise Refused(INVALID_ARGUMENT, f"at most {MAX_IDS} {what} ids a call, not {len(values)}")
    for value in values:
        check_id(what, value)
    return list(dict.fromkeys(values))


def _not_found(what: str, missing: list[str]) -> Refused:
    more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
    shown = ", ".join(missing[:10]) + more
    return Refused(NOT_FOUND, f"{what} not found: {shown}")


class Reads:
    settings: Settings
    temporal: Client
    stores: StoreSet

    async def get_task(self, task_id: str) -> TaskData:
        check_id("task", task_id)
        task = await self.stores.tasks.get_task(task_id)
        if task is None:
            raise Refused(NOT_FOUND, f"task {task_id} not found")
        return task

    async def list_tasks(self, query: TasksQuery) -> tuple[list[TaskData], int]:
        return await self.stores.tasks.query(query)

    async def count_tasks_by_status(self, query: TasksQuery) -> dict[int, int]:
        return await self.stores.tasks.count_statuses(query)

    async def result_ids(self, task_ids: list[str]) -> dict[str, list[str]]:
        """The results each task owns, by task; NOT_FOUND if a task is not there."""
        wanted = check_ids("task", task_ids)
        owned = await self.stores.tasks.result_ids(wanted)
        missing = [t for t in wanted if t not in owned]
        if missing:
            raise _not_found("task(s)", missing)
        return owned

    async def list_applications(self, query: ApplicationsQuery) -> tuple[list[Application], int]:
        return await self.stores.tasks.applications(query)

    async def get_result(self, result_id: str) -> ResultRow:
        check_id("result", result_id)
        result = await self.stores.results.get_result(result_id)
        if result is None:
            raise Refused(NOT_FOUND, f"result {result_id} not found")
        return result

    async def list_results(self, query: ResultsQuery) -> tuple[list[ResultRow], int]:
        return await self.stores.results.query(query)

    async def owner_task_ids(self, session_id: str, result_ids: list[str]) -> dict[str, str]:
        """The owner task of each result of the session ('' for none); NOT_FOUND if the
        session or a result is not there."""
        check_session_id(session_id)
        wanted = check_ids("result", result_ids)
        if await self.stores.sessions.get_live(session_id) is None:
            raise Refused(NOT_FOUND, f"session {session_id} not found")
        owners = await self.stores.results.owners(session_id, wanted)
        missing = [r for r in wanted if r not in owners]
        if missing:
            raise _not_found(f"result(s) of session {session_id}", missing)
        return {r: owners[r] for r in wanted}

    async def health(self) -> list[Health]:
        """Each store and Temporal, healthy or not by a cheap probe, side by side; never
        raises."""
        probes: dict[str, Callable[[], Awaitable[object]]] = {
            "database": self.stores.db.ping,
            "queue": self.stores.queue.ping,
            "object storage": self.stores.objects.ping,
            "temporal": self.temporal.service_client.check_health,
        }
        return list(await asyncio.gather(*(_probe(n, p) for n, p in probes.items())))


async def _probe(name: str, probe: Callable[[], Awaitable[object]]) -> Health:
    try:
        answer = await asyncio.wait_for(probe(), PROBE_SECONDS)
    except TimeoutError:
        return Health(name, False, f"no answer within {PROBE_SECONDS:g} s")
    except Exception as error:
        return Health(name, False, f"{type(error).__name__}: {error}"[:300])
    if answer is False:
        return Health(name, False, "reports itself not serving")
    return Health(name, True, "")
