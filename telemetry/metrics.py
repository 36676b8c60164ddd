"""Prometheus metrics of the worker and the API server (docs/operability.md).

Each process serves one `/metrics` endpoint, at METRICS_ADDRESS: the Temporal SDK's own metrics
(`temporal_*`) and the control plane's (`armonik_sessions_*`), all recorded through the Temporal
runtime's meter, so that there is one registry and one server per process. Workflow code records
through `workflow.metric_meter()`, which records nothing while a workflow replays: an operation
counted once stays counted once, whichever worker replays it later.

Every name and label set lives here, so that the dashboard (deploy/grafana), `armonik-sessions
top` and the tests read the same list.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

from temporalio import activity, workflow
from temporalio.common import MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from telemetry.logs import WORKFLOW_ID

PREFIX = "armonik_sessions_"
# The file, in the stack's state directory (settings.state_dir), in which `make run` lists where
# each of its processes serves its metrics, for `armonik-sessions top`: {name: URL}.
METRICS_FILE = "metrics.json"

# Operations, from the workflows (labels: operation; refused also code).
OPERATIONS_STARTED = PREFIX + "operations_started"
OPERATIONS_ADMITTED = PREFIX + "operations_admitted"
OPERATIONS_REFUSED = PREFIX + "operations_refused"
OPERATIONS_SUPERSEDED = PREFIX + "operations_superseded"
OPERATIONS_COMPLETED = PREFIX + "operations_completed"
# Sampled from Temporal's visibility store (label: operation).
OPERATIONS_RUNNING = PREFIX + "operations_running"
# Batches, from the batch runner (labels: operation, step). Step "objects" counts objects
# deleted from the object storage; the others count rows (or queue entries) changed.
ROWS_CHANGED = PREFIX + "rows_changed"
BATCH_SECONDS = PREFIX + "batch_seconds"
# Failed activity attempts that Temporal retries (labels: activity, cause).
ACTIVITY_RETRIES = PREFIX + "activity_retries"
# The gRPC API (labels: service, rpc, code).
API_REQUEST_SECONDS = PREFIX + "api_request_seconds"
# Sampled from the queue (label: partition).
QUEUE_DEPTH = PREFIX + "queue_depth"
# Operations whose bulk steps retry without committing for longer than STALL_SECONDS, sampled
# from Temporal's visibility store (label: operation).
OPERATIONS_STALLED = PREFIX + "operations_stalled"
# The limits that follow each store (stores/adaptive.py), as each process has them now (labels:
# store, limit): S3 delete calls in flight, rows per PostgreSQL batch, members per Redis
# pipeline.
STORE_LIMIT = PREFIX + "store_limit"


# The names as the endpoint shows them: counters end in _total, histograms are three series.
COUNTERS = [
    OPERATIONS_STARTED,
    OPERATIONS_ADMITTED,
    OPERATIONS_REFUSED,
    OPERATIONS_SUPERSEDED,
    OPERATIONS_COMPLETED,
    ROWS_CHANGED,
    ACTIVITY_RETRIES,
]
GAUGES = [OPERATIONS_RUNNING, QUEUE_DEPTH, OPERATIONS_STALLED, STORE_LIMIT]
HISTOGRAMS = [BATCH_SECONDS, API_REQUEST_SECONDS]
EXPOSED = sorted(
    [f"{name}_total" for name in COUNTERS]
    + GAUGES
    + [f"{name}_{series}" for name in HISTOGRAMS for series in ("bucket", "sum", "count")]
)

# A batch takes from milliseconds (a few rows) to seconds (16,000 object deletes); an API call
# from a millisecond (a Get) to the length of a whole operation (a Purge that is waited for).
BUCKETS: Mapping[str, list[float]] = {
    BATCH_SECONDS: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    API_REQUEST_SECONDS: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120],
}


def install_runtime(address: str, role: str) -> Runtime | None:
    """Make the process's default Temporal runtime one that serves Prometheus metrics on
    `address` ("host:port"); nothing when `address` is empty. Call before any Temporal client
    connects: clients and workers take the default runtime when they are made."""
    if not address:
        return None
    runtime = Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=address,
                counters_total_suffix=True,
                durations_as_seconds=True,
                histogram_bucket_overrides=BUCKETS,
            ),
            global_tags={"role": role},
        )
    )
    Runtime.set_default(runtime, error_if_already_set=False)
    return runtime


def process_meter() -> MetricMeter:
    """The meter of the process's default runtime (a no-op one when it serves no metrics)."""
    return Runtime.default().metric_meter


def store_limit_gauge(store: str, limit: str):
    """What a limit of stores/adaptive.py calls with each new value: this process's gauge."""
    gauge = process_meter().create_gauge(STORE_LIMIT, "adaptive limits of the stores")
    labels = {"store": store, "limit": limit}
    return lambda value: gauge.set(value, labels)


def status_code_name(kind: str) -> str:
    """A refusal's kind as the status name it answers: FailedPrecondition, FAILED_PRECONDITION."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", kind).upper()


def operation_of(op_id: str) -> str:
    """The operation an id of the operations log names (workflows.operation.op_id)."""
    found = WORKFLOW_ID.match(op_id.split("/", 1)[0])
    return found["operation"] if found else "unknown"


# --- workflows ---------------------------------------------------------------------------------


def count_operation(name: str, operation: str, **labels: str) -> None:
    """One event of an operation's life, from its workflow (not while it replays)."""
    meter = workflow.metric_meter()
    meter.create_counter(name, "session operations, by operation").add(
        1, {"operation": operation, **labels}
    )


# --- activities --------------------------------------------------------------------------------


def activity_meter() -> MetricMeter:
    """The running activity's meter; a no-op one outside an activity (a unit test)."""
    return activity.metric_meter() if activity.in_activity() else MetricMeter.noop


@dataclass
class BatchMetrics:
    """What the batch runner records of each batch it commits."""

    rows_changed: object
    batch_seconds: object
    labels: dict[str, str]

    @classmethod
    def of(cls, operation: str, step: str) -> "BatchMetrics":
        meter = activity_meter()
        return cls(
            meter.create_counter(ROWS_CHANGED, "rows (step objects: objects) changed", "rows"),
            meter.create_histogram_float(BATCH_SECONDS, "time of one committed batch", "s"),
            {"operation": operation, "step": step},
        )

    def record(self, changed: int, seconds: float) -> None:
        if changed:
            self.rows_changed.add(changed, self.labels)
        self.batch_seconds.record(seconds, self.labels)


def count_retry(cause: str) -> None:
    """One failed attempt of the running activity, which Temporal retries."""
    if not activity.in_activity():
        return
    activity_meter().create_counter(
        ACTIVITY_RETRIES, "failed activity attempts, retried, by cause"
    ).add(1, {"activity": activity.info().activity_type, "cause": cause})
