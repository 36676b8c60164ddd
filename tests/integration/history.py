"""What a workflow's history on the real Temporal server says about the activities it ran."""

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client


async def scheduled_activities(temporal: Client, workflow_id: str) -> list[str]:
    """The activity types the workflow scheduled, in order (one entry per call, not per retry)."""
    history = await temporal.get_workflow_handle(workflow_id).fetch_history()
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


async def failed_activities(temporal: Client, workflow_id: str) -> list[str]:
    """The types of the activities whose (last) attempt failed."""
    history = await temporal.get_workflow_handle(workflow_id).fetch_history()
    scheduled = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    return [
        scheduled[e.activity_task_failed_event_attributes.scheduled_event_id]
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
    ]


async def run_lengths(temporal: Client, workflow_id: str, first_run_id: str) -> list[int]:
    """The history length of each run of an execution, following continue-as-new."""
    lengths: list[int] = []
    run_id: str | None = first_run_id
    while run_id:
        history = await temporal.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        lengths.append(len(history.events))
        last = history.events[-1]
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last.HasField("workflow_execution_continued_as_new_event_attributes")
            else None
        )
    return lengths
