"""Log lines of the worker and the API server: text by default, or one JSON object a line
(`LOG_FORMAT=json`) that carries the session, the operation and the workflow of the activity or
workflow that logged it, so that a log store can follow one operation across processes."""

import json
import logging
import re
from datetime import UTC, datetime

from opentelemetry import trace
from temporalio import activity, workflow

from lifecycle.statuses import Operation

TEXT_FORMAT = "%(asctime)s %(name)s %(message)s"
# session-<session id>-<operation>[-<variant>] (workflows.operation.workflow_id).
WORKFLOW_ID = re.compile(
    r"^session-(?P<session_id>.+)-(?P<operation>"
    + "|".join(sorted((op.value for op in Operation), key=len, reverse=True))
    + r")(?:-(?:client|worker|client-worker))?$"
)
# What a line says of its operation, when it has one.
CONTEXT_FIELDS = (
    "session_id",
    "operation",
    "workflow_id",
    "run_id",
    "activity",
    "attempt",
    "trace_id",
    "span_id",
)


class OperationContext(logging.Filter):
    """Adds to each record the operation it was logged for: from the activity or the workflow
    running, unless the record says it itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


def _context() -> dict:
    return _operation() | _trace()


def _trace() -> dict:
    """The trace being recorded (telemetry/tracing.py), so that a log store links each line to
    its trace; nothing when this process does not trace."""
    span = trace.get_current_span().get_span_context()
    if not span.is_valid:
        return {}
    return {"trace_id": f"{span.trace_id:032x}", "span_id": f"{span.span_id:016x}"}


def _operation() -> dict:
    if activity.in_activity():
        info = activity.info()
        context = {
            "workflow_id": info.workflow_id,
            "run_id": info.workflow_run_id,
            "activity": info.activity_type,
            "attempt": info.attempt,
        }
    elif workflow.in_workflow():
        winfo = workflow.info()
        context = {"workflow_id": winfo.workflow_id, "run_id": winfo.run_id}
    else:
        return {}
    found = WORKFLOW_ID.match(context["workflow_id"] or "")
    if found:
        context |= found.groupdict()
    return context


class JsonLines(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the operation's context, and the
    fields an `audit` record carries."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        line |= getattr(record, "audit", None) or {}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(log_format: str) -> None:
    """The root logger's one handler, on stderr, in `log_format` ("text" or "json")."""
    handler = logging.StreamHandler()
    handler.addFilter(OperationContext())
    handler.setFormatter(JsonLines() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
