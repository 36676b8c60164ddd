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
