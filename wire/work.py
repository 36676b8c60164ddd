"""Work's messages: ArmoniK's Results and Tasks requests as the engine takes them, and its rows
as the answers carry them."""

from armonik.protogen.common import tasks_common_pb2 as tpb
from armonik.protogen.common.objects_pb2 import TaskOptions as TaskOptionsMessage

from lifecycle.domain import TASK_OPTION_NAMES, TaskOptions
from lifecycle.work import TaskRequest
from stores.tasks import TaskRecord
from wire.messages import task_options

DEFAULTS = TaskOptions()


def option_overrides(message: TaskOptionsMessage, present: bool) -> dict:
    """The option fields a request sets, to merge over the session's (ArmoniK's
    TaskOptions.Merge): in proto3 a field left at its default is one not set."""
    if not present:
        return {}
    given = task_options(message)
    overrides = {
        n: getattr(given, n) for n in TASK_OPTION_NAMES if getattr(given, n) != getattr(DEFAULTS, n)
    }
    if not message.HasField("max_duration"):
        overrides.pop("max_duration", None)
    if given.options:
        overrides["options"] = dict(given.options)
    return overrides


def task_requests(request: tpb.SubmitTasksRequest) -> list[TaskRequest]:
    """Each creation's options over the request's, which go over the session's."""
    common = option_overrides(request.task_options, request.HasField("task_options"))
    requests = []
    for creation in request.task_creations:
        own = option_overrides(creation.task_options, creation.HasField("task_options"))
        merged = {**common, **own}
        if "options" in common and "options" in own:
            merged["options"] = {**common["options"], **own["options"]}
        requests.append(
            TaskRequest(
                creation.payload_id,
                tuple(creation.expected_output_keys),
                tuple(creation.data_dependencies),
                merged or None,
            )
        )
    return requests


def task_info(task: TaskRecord) -> tpb.SubmitTasksResponse.TaskInfo:
    return tpb.SubmitTasksResponse.TaskInfo(
        task_id=task.task_id,
        expected_output_ids=task.expected_output_ids,
        # ArmoniK lists the data dependencies without the payload.
        data_dependencies=[d for d in task.data_dependencies if d != task.payload_id],
        payload_id=task.payload_id,
    )
