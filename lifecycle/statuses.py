"""Status enums with ArmoniK's numeric values, so that the wire API stays compatible."""

from enum import IntEnum, StrEnum


class SessionStatus(IntEnum):
    UNSPECIFIED = 0
    RUNNING = 1
    CANCELLED = 2
    PAUSED = 3
    CLOSED = 4
    PURGED = 5
    DELETED = 6


class TaskStatus(IntEnum):
    UNSPECIFIED = 0
    CREATING = 1
    SUBMITTED = 2
    DISPATCHED = 3
    COMPLETED = 4
    ERROR = 5
    TIMEOUT = 6
    CANCELLING = 7
    CANCELLED = 8
    PROCESSING = 9
    PROCESSED = 10
    RETRIED = 11
    PENDING = 12
    PAUSED = 13


class ResultStatus(IntEnum):
    UNSPECIFIED = 0
    CREATED = 1
    COMPLETED = 2
    ABORTED = 3
    DELETED = 4
    NOTFOUND = 127


class Operation(StrEnum):
    CREATE = "create"
    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"
    CLOSE = "close"
    PURGE = "purge"
    DELETE = "delete"
    STOP_SUBMISSION = "stop-submission"


FINAL_TASK_STATUSES = frozenset(
    {
        TaskStatus.COMPLETED,
        TaskStatus.ERROR,
        TaskStatus.TIMEOUT,
        TaskStatus.RETRIED,
        TaskStatus.CANCELLED,
    }
)
NON_FINAL_TASK_STATUSES = frozenset(TaskStatus) - FINAL_TASK_STATUSES
