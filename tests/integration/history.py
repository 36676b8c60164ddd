"""What a workflow's history on the real Temporal server says about the activities it ran."""

import json

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

LOCAL_ACTIVITY_MARKER = "core_local_activity"


def _local_activity(event) -> str | None:
    """The type of the local activity a marker records, if it records one."""
    attributes = event.marker_recorded_event_attributes
    if attributes.marker_name != LOCAL_ACTIVITY_MARKER:
        return None
    return json.loads(attributes.details["data"].payloads[0].data)["activity_type"]


async def scheduled_activities(temporal: Client, workflow_id: str) -> list[str]:
    """The activity types the workflow called, in order (one entry per call, not per retry):
    activities it scheduled, and local activities it recorded."""
    history = await temporal.get_workflow_handle(workflow_id).fetch_history()
    called = []
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            called.append(e.activity_task_scheduled_event_attributes.activity_type.name)
        elif e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED and _local_activity(e):
            called.append(_local_activity(e))
    return called


async def failed_activities(temporal: Client, workflow_id: str) -> list[str]:
    """The types of the activities (local ones included) whose last attempt failed."""
    history = await temporal.get_workflow_handle(workflow_id).fetch_history()
    scheduled = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    failed = []
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            failed.append(scheduled[e.activity_task_failed_event_attributes.scheduled_event_id])
        elif (
            e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
            and _local_activity(e)
            and e.marker_recorded_event_attributes.HasField("failure")
        ):
            failed.append(_local_activity(e))
    return failed


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
