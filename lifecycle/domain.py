"""The domain's data: a session, its default task options, a partition. Plain dataclasses, so
that Temporal's default converter carries them and the workflow sandbox can import them."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from lifecycle.statuses import SessionStatus


@dataclass
class TaskOptions:
    """A session's default task options, as ArmoniK's TaskOptions carries them."""

    max_duration: float | None = None  # seconds
    max_retries: int = 1
    priority: int = 1
    partition_id: str = ""
    application_name: str = ""
    application_version: str = ""
    application_namespace: str = ""
    application_service: str = ""
    engine_type: str = ""
    options: dict[str, str] = field(default_factory=dict)


# TaskOptions' fields by kind: each layer that maps the options (their checks, the list
# queries, the wire) derives its names from these.
TASK_OPTION_NAMES = tuple(n for n in TaskOptions.__dataclass_fields__ if n != "options")
TASK_OPTION_TEXTS = tuple(
    n for n in TASK_OPTION_NAMES if TaskOptions.__dataclass_fields__[n].type in (str, "str")
)


@dataclass
class Session:
    session_id: str
    status: SessionStatus
    client_submission: bool
    worker_submission: bool
    partition_ids: list[str]
    options: TaskOptions
    created_at: datetime
    cancelled_at: datetime | None = None
    closed_at: datetime | None = None
    purged_at: datetime | None = None
    deleted_at: datetime | None = None
    # Bumped by each admitted Pause or Resume; see lifecycle.transitions.
    epoch: int = 0

    @property
    def duration(self) -> timedelta | None:
        return self.closed_at - self.created_at if self.closed_at else None

    def to_json(self) -> dict[str, Any]:
        def date(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        duration = self.duration
        return {
            "session_id": self.session_id,
            "status": SessionStatus(self.status).name,
            "client_submission": self.client_submission,
            "worker_submission": self.worker_submission,
            "partition_ids": list(self.partition_ids),
            "options": {**self.options.__dict__, "options": dict(self.options.options)},
            "created_at": date(self.created_at),
            "cancelled_at": date(self.cancelled_at),
            "closed_at": date(self.closed_at),
            "purged_at": date(self.purged_at),
            "deleted_at": date(self.deleted_at),
            "duration": duration.total_seconds() if duration is not None else None,
        }


@dataclass
class Partition:
    partition_id: str
    parent_partition_ids: list[str] = field(default_factory=list)
    pod_reserved: int = 1
    pod_max: int = 100
    preemption_percentage: int = 50
    priority: int = 1
    pod_configuration: dict[str, str] = field(default_factory=dict)
