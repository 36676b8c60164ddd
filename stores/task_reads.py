"""What the API reads of the TasksTable: a task by its id, pages of tasks, counts by status, and
the applications the tasks' options name. The reads of the tasks table as it is today: a field
it does not hold is None here (its protobuf default on the wire)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from stores.queries import ApplicationsQuery, TasksQuery


@dataclass(frozen=True)
class TaskData:
    """A task as the read side sees it (ArmoniK's TaskData, what the table holds of it)."""

    session_id: str
    task_id: str
    status: int
    priority: int
    partition_id: str
    max_retries: int
    max_duration: float | None = None  # seconds
    owner_pod_id: str | None = None
    payload_id: str | None = None
    created_at: datetime | None = None
    submitted_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True)
class Application:
    name: str
    version: str
    namespace: str
    service: str


class TaskReads(Protocol):
    async def get_task(self, task_id: str) -> TaskData | None:
        """The task of that id, in whichever session it is."""
        ...

    async def get_tasks(self, task_ids: list[str]) -> list[TaskData]:
        """The tasks of these ids that exist, in whichever sessions, in id order."""
        ...

    async def query(self, query: TasksQuery) -> tuple[list[TaskData], int]:
        """A page of the tasks that match, and how many match in all."""
        ...

    async def count_statuses(self, query: TasksQuery) -> dict[int, int]:
        """How many tasks match the query's filters, by status (those with none left out)."""
        ...

    async def applications(self, query: ApplicationsQuery) -> tuple[list[Application], int]:
        """A page of the applications that match, and how many match in all."""
        ...

    async def result_ids(self, task_ids: list[str]) -> dict[str, list[str]]:
        """The results each task of `task_ids` that exists owns (its expected outputs), by
        task; a task that owns none maps to []."""
        ...
