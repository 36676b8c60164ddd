"""The Events service's messages: an EventSubscriptionRequest as the engine's Subscription, and
its events as EventSubscriptionResponses (ArmoniK's field for field)."""

from armonik.protogen.common import events_common_pb2 as pb

from lifecycle.refusals import INVALID_ARGUMENT, Refused
from stores.events import (
    KINDS,
    NEW_RESULT,
    NEW_TASK,
    RESULT_OWNER_UPDATE,
    RESULT_STATUS_UPDATE,
    TASK_STATUS_UPDATE,
    Event,
    Subscription,
)
from wire.filters import result_filters, task_filters

# EventsEnum by its number: EVENTS_ENUM_NEW_TASK is new_task, and so on.
KIND_OF = {pb.EventsEnum.Value(f"EVENTS_ENUM_{kind.upper()}"): kind for kind in KINDS}


def subscription(request: pb.EventSubscriptionRequest) -> Subscription:
    """No returned_events asks for every kind, as in ArmoniK (UNSPECIFIED asks for none)."""
    kinds = set()
    for number in request.returned_events:
        if number == pb.EVENTS_ENUM_UNSPECIFIED:
            continue
        if number not in KIND_OF:
            raise Refused(INVALID_ARGUMENT, f"returned_events: unknown event kind {number}")
        kinds.add(KIND_OF[number])
    return Subscription(
        request.session_id,
        frozenset(kinds) if request.returned_events else frozenset(KINDS),
        task_filters(request.tasks_filters),
        result_filters(request.results_filters),
    )


def event_message(event: Event) -> pb.EventSubscriptionResponse:
    R = pb.EventSubscriptionResponse
    message = R(session_id=event.session_id)
    row = event.row
    if event.kind == NEW_TASK:
        message.new_task.CopyFrom(
            R.NewTask(
                task_id=row.task_id,
                payload_id=row.payload_id,
                origin_task_id=row.initial_task_id or row.task_id,
                status=row.status,
                expected_output_keys=row.expected_output_ids,
                # ArmoniK lists the data dependencies without the payload (wire/work.task_info).
                data_dependencies=[d for d in row.data_dependencies if d != row.payload_id],
                retry_of_ids=row.retry_of_ids,
                parent_task_ids=row.parent_task_ids,
            )
        )
    elif event.kind == NEW_RESULT:
        message.new_result.CopyFrom(
            R.NewResult(
                result_id=row.result_id, owner_id=row.owner_task_id or "", status=row.status
            )
        )
    elif event.kind == TASK_STATUS_UPDATE:
        message.task_status_update.CopyFrom(R.TaskStatusUpdate(task_id=row.key, status=row.status))
    elif event.kind == RESULT_STATUS_UPDATE:
        message.result_status_update.CopyFrom(
            R.ResultStatusUpdate(result_id=row.key, status=row.status)
        )
    elif event.kind == RESULT_OWNER_UPDATE:
        message.result_owner_update.CopyFrom(
            R.ResultOwnerUpdate(
                result_id=row.key, previous_owner_id=row.previous_owner, current_owner_id=row.owner
            )
        )
    return message
