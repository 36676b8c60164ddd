"""Log lines as JSON (LOG_FORMAT=json): each carries the session, the operation and the
workflow of the activity that logged it, and an audit line its fields."""

import dataclasses
import io
import json
import logging

from opentelemetry.sdk.trace import TracerProvider
from temporalio.testing import ActivityEnvironment

from lifecycle.statuses import Operation
from telemetry.logs import JsonLines, OperationContext
from workflows.identity import workflow_id


def _logger(stream: io.StringIO) -> logging.Logger:
    handler = logging.StreamHandler(stream)
    handler.addFilter(OperationContext())
    handler.setFormatter(JsonLines())
    logger = logging.getLogger(f"test-logs-{id(stream)}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def test_a_line_logged_in_an_activity_names_its_session_operation_and_workflow():
    stream = io.StringIO()
    logger = _logger(stream)
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(
        environment.info,
        workflow_id=workflow_id(Operation.STOP_SUBMISSION, "0b7c-4e2f", "client-worker"),
        workflow_run_id="run-1",
        activity_type="update_tasks",
        attempt=3,
    )
    environment.run(lambda: logger.warning("a batch of %d", 5000))

    line = json.loads(stream.getvalue())
    assert line["message"] == "a batch of 5000"
    assert line["level"] == "WARNING"
    assert (line["session_id"], line["operation"]) == ("0b7c-4e2f", "stop-submission")
    assert line["workflow_id"] == "session-0b7c-4e2f-stop-submission-client-worker"
    assert (line["run_id"], line["activity"], line["attempt"]) == ("run-1", "update_tasks", 3)


def test_a_line_outside_any_operation_has_no_context_and_an_audit_line_its_fields():
    stream = io.StringIO()
    logger = _logger(stream)
    logger.info("worker ready")
    audit = {"user": "admin", "rpc": "Sessions:PurgeSession", "session_id": "s1", "code": "OK"}
    logger.info("audit %s", json.dumps(audit), extra={"audit": audit})

    ready, audited = (json.loads(line) for line in stream.getvalue().splitlines())
    assert set(ready) == {"time", "level", "logger", "message"}
    assert {k: audited[k] for k in audit} == audit


def test_a_line_logged_within_a_traced_span_carries_its_trace_and_span_ids():
    stream = io.StringIO()
    logger = _logger(stream)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("PauseSession") as span:
        logger.info("admitted")
    logger.info("after")

    inside, after = (json.loads(line) for line in stream.getvalue().splitlines())
    context = span.get_span_context()
    assert inside["trace_id"] == f"{context.trace_id:032x}"
    assert inside["span_id"] == f"{context.span_id:016x}"
    assert "trace_id" not in after
