"""How an operation's workflow calls its activities: retries, timeouts, and what reaches the
workflow of a failing batch call."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from lifecycle.refusals import REFUSAL_KINDS

# Stores come back after an outage: retry for as long as it takes, with backoff. Refusals are the
# only errors not worth a second try.
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=REFUSAL_KINDS,
)
# A call that is not a batch (an admission, a finish, a read) makes a few statements, each
# bounded by the store timeout (half a heartbeat timeout): twice the heartbeat timeout is ample.
# Such a call runs as a local activity, inside the workflow task of the worker that runs the
# workflow: no trip through Temporal's task queue (a Close completes in one workflow task), and
# it is recorded in the history all the same, so a replay does not run it again. A worker that
# dies mid-call loses its workflow task, which Temporal gives to another worker, where the call
# runs again: every one of them is idempotent.
SHORT_CALL_HEARTBEATS = 2
# A batch call heartbeats in the background; this only bounds a call that is alive but stuck.
BATCH_CALL_TIMEOUT = timedelta(minutes=10)
# A batch call's attempts before its failure reaches the workflow, which then records it (the
# range retrying, stalled once nothing commits for the request's stall_seconds) and calls again,
# RECALL_INTERVAL later: the workflow itself must see a step that does not move, and Temporal's
# retries are invisible to it.
CALL_ATTEMPTS = 3
BATCH_RETRY = RetryPolicy(
    initial_interval=RETRY.initial_interval,
    backoff_coefficient=RETRY.backoff_coefficient,
    maximum_interval=RETRY.maximum_interval,
    maximum_attempts=CALL_ATTEMPTS,
    non_retryable_error_types=REFUSAL_KINDS,
)
RECALL_INTERVAL = timedelta(seconds=10)
