"""Tasks, results and applications as ArmoniK's messages (TaskSummary, TaskDetailed, ResultRaw,
ApplicationRaw). What the tables do not hold of a task is left at its protobuf default: no
lineage, no agent dates, no error, and of its options only what the tasks table keeps."""

from datetime import datetime

from armonik.protogen.common import applications_common_pb2, results_common_pb2
from armonik.protogen.common import tasks_common_pb2 as tc

from lifecycle.domain import TaskOptions
from lifecycle.statuses import TaskStatus
from stores.results import ResultRow
from stores.task_reads import Application, TaskData
from wire.messages import task_options_message

DATES = ("created_at", "submitted_at", "ended_at")


def _options(task: TaskData) -> TaskOptions:
    return TaskOptions(
        max_duration=task.max_duration,
        max_retries=task.max_retries,
        priority=task.priority,
        partition_id=task.partition_id,
    )


def _fill(message, task: TaskData) -> None:
    message.id = task.task_id
    message.session_id = task.session_id
    message.owner_pod_id = task.owner_pod_id or ""
    message.status = task.status
    message.payload_id = task.payload_id or ""
    message.options.CopyFrom(task_options_message(_options(task)))
    for name in DATES:
        value: datetime | None = getattr(task, name)
        if value is not None:
            getattr(message, name).FromDatetime(value)
    if task.created_at is not None and task.ended_at is not None:
        message.creation_to_end_duration.FromTimedelta(task.ended_at - task.created_at)


def task_summary(task: TaskData) -> tc.TaskSummary:
    summary = tc.TaskSummary()
    _fill(summary, task)
    return summary


def task_detailed(task: TaskData) -> tc.TaskDetailed:
    detailed = tc.TaskDetailed()
    _fill(detailed, task)
    # No error is kept yet: a task's output is a success once it completed.
    detailed.output.success = task.status == TaskStatus.COMPLETED
    return detailed


def result_raw(result: ResultRow) -> results_common_pb2.ResultRaw:
    raw = results_common_pb2.ResultRaw(
        session_id=result.session_id,
        result_id=result.result_id,
        name=result.name,
        owner_task_id=result.owner_task_id or "",
        created_by=result.created_by,
        status=result.status,
        size=result.size,
        opaque_id=(result.opaque_id or "").encode(),
        manual_deletion=result.manual_deletion,
    )
    if result.created_at is not None:
        raw.created_at.FromDatetime(result.created_at)
    if result.completed_at is not None:
        raw.completed_at.FromDatetime(result.completed_at)
    return raw


def application_raw(application: Application) -> applications_common_pb2.ApplicationRaw:
    return applications_common_pb2.ApplicationRaw(
        name=application.name,
        version=application.version,
        namespace=application.namespace,
        service=application.service,
    )
