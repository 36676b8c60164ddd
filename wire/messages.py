"""The control plane's data as ArmoniK's messages, and back: what the gRPC API answers, and what
the CLI reads from it."""

from datetime import UTC, datetime, timedelta

from armonik.protogen.common import sessions_fields_pb2 as sf
from armonik.protogen.common.objects_pb2 import TaskOptions as TaskOptionsMessage
from armonik.protogen.common.partitions_common_pb2 import PartitionRaw
from armonik.protogen.common.sessions_common_pb2 import SessionRaw
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from lifecycle.domain import TASK_OPTION_NAMES, TASK_OPTION_TEXTS, Partition, Session, TaskOptions
from lifecycle.refusals import INVALID_ARGUMENT, Refused
from lifecycle.statuses import SessionStatus

# The trailer on an UNAVAILABLE that the API server itself answers, naming what behind it is down
# ("store" or "temporal"). gRPC answers UNAVAILABLE too when the connection is lost, and only this
# tells the two apart without racing the channel's state.
UNAVAILABLE_TRAILER = "armonik-sessions-unavailable"

# ArmoniK's session fields (filters and sorts) by the names the stores and docs/lifecycle.md use.
# OPTIONS, the whole TaskOptions message, is not a field to filter or order by.
SESSION_RAW_FIELDS = {
    sf.SESSION_RAW_ENUM_FIELD_SESSION_ID: "session_id",
    sf.SESSION_RAW_ENUM_FIELD_STATUS: "status",
    sf.SESSION_RAW_ENUM_FIELD_CLIENT_SUBMISSION: "client_submission",
    sf.SESSION_RAW_ENUM_FIELD_WORKER_SUBMISSION: "worker_submission",
    sf.SESSION_RAW_ENUM_FIELD_PARTITION_IDS: "partition_ids",
    sf.SESSION_RAW_ENUM_FIELD_CREATED_AT: "created_at",
    sf.SESSION_RAW_ENUM_FIELD_CANCELLED_AT: "cancelled_at",
    sf.SESSION_RAW_ENUM_FIELD_CLOSED_AT: "closed_at",
    sf.SESSION_RAW_ENUM_FIELD_PURGED_AT: "purged_at",
    sf.SESSION_RAW_ENUM_FIELD_DELETED_AT: "deleted_at",
    sf.SESSION_RAW_ENUM_FIELD_DURATION: "duration",
}
TASK_OPTION_FIELDS = {
    getattr(sf, f"TASK_OPTION_ENUM_FIELD_{name.upper()}"): f"options.{name}"
    for name in TASK_OPTION_NAMES
}


def session_raw(session: Session, with_options: bool = True) -> SessionRaw:
    raw = SessionRaw(
        session_id=session.session_id,
        status=int(session.status),
        client_submission=session.client_submission,
        worker_submission=session.worker_submission,
        partition_ids=session.partition_ids,
    )
    if with_options:
        raw.options.CopyFrom(task_options_message(session.options))
    for name in ("created_at", "cancelled_at", "closed_at", "purged_at", "deleted_at"):
        value: datetime | None = getattr(session, name)
        if value is not None:
            getattr(raw, name).CopyFrom(_timestamp(value))
    if session.duration is not None:
        raw.duration.CopyFrom(_duration(session.duration))
    return raw


def task_options_message(options: TaskOptions) -> TaskOptionsMessage:
    message = TaskOptionsMessage(
        max_retries=options.max_retries,
        priority=options.priority,
        options=options.options,
        **{name: getattr(options, name) for name in TASK_OPTION_TEXTS},
    )
    if options.max_duration is not None:
        message.max_duration.CopyFrom(_duration(timedelta(seconds=options.max_duration)))
    return message


def task_options(message: TaskOptionsMessage) -> TaskOptions:
    """The options a CreateSession asks for; lifecycle.options checks their values."""
    max_duration = None
    if message.HasField("max_duration"):
        try:
            max_duration = message.max_duration.ToTimedelta().total_seconds()
        except (ValueError, OverflowError) as error:
            raise Refused(INVALID_ARGUMENT, f"max_duration is not a duration: {error}") from None
    return TaskOptions(
        max_duration=max_duration,
        max_retries=message.max_retries,
        priority=message.priority,
        options=dict(message.options),
        **{name: getattr(message, name) for name in TASK_OPTION_TEXTS},
    )


def session_from_raw(raw: SessionRaw) -> Session:
    return Session(
        session_id=raw.session_id,
        status=SessionStatus(raw.status),
        client_submission=raw.client_submission,
        worker_submission=raw.worker_submission,
        partition_ids=list(raw.partition_ids),
        options=task_options(raw.options),
        created_at=_datetime(raw, "created_at"),
        cancelled_at=_datetime(raw, "cancelled_at"),
        closed_at=_datetime(raw, "closed_at"),
        purged_at=_datetime(raw, "purged_at"),
        deleted_at=_datetime(raw, "deleted_at"),
    )


def partition_raw(partition: Partition) -> PartitionRaw:
    return PartitionRaw(
        id=partition.partition_id,
        parent_partition_ids=partition.parent_partition_ids,
        pod_reserved=partition.pod_reserved,
        pod_max=partition.pod_max,
        pod_configuration=partition.pod_configuration,
        preemption_percentage=partition.preemption_percentage,
        priority=partition.priority,
    )


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _duration(value: timedelta) -> Duration:
    duration = Duration()
    duration.FromTimedelta(value)
    return duration


def partition_from_raw(raw: PartitionRaw) -> Partition:
    return Partition(
        partition_id=raw.id,
        parent_partition_ids=list(raw.parent_partition_ids),
        pod_reserved=raw.pod_reserved,
        pod_max=raw.pod_max,
        preemption_percentage=raw.preemption_percentage,
        priority=raw.priority,
        pod_configuration=dict(raw.pod_configuration),
    )


def _datetime(raw: SessionRaw, name: str) -> datetime | None:
    if not raw.HasField(name):
        return None
    return getattr(raw, name).ToDatetime(tzinfo=UTC)
