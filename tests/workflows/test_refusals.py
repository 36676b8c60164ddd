"""A refused operation fails its workflow with the refusal, at once (no retry), and touches
nothing: no activity runs after the one that refused."""

import copy

import pytest
from temporalio.client import WorkflowFailureError

from lifecycle.models import CreateRequest, TaskOptions
from lifecycle.refusals import FAILED_PRECONDITION, INVALID_ARGUMENT, NOT_FOUND, refusal_of
from lifecycle.statuses import Operation, SessionStatus
from tests.workflows.fakes import FakeStore, options
from tests.workflows.support import execute

S = SessionStatus


def assert_refused(failure: pytest.ExceptionInfo[WorkflowFailureError], kind: str) -> None:
    refusal = refusal_of(failure.value)
    assert refusal is not None, failure.value
    assert refusal.type == kind
    assert refusal.non_retryable


@pytest.mark.parametrize(
    ("operation", "status", "kind"),
    [
        (Operation.PAUSE, S.CLOSED, FAILED_PRECONDITION),
        (Operation.RESUME, S.CANCELLED, FAILED_PRECONDITION),
        (Operation.CANCEL, S.PURGED, FAILED_PRECONDITION),
        (Operation.CLOSE, S.CANCELLED, FAILED_PRECONDITION),
        # Purge is checked before any object or result is touched.
        (Operation.PURGE, S.RUNNING, FAILED_PRECONDITION),
        (Operation.PAUSE, None, NOT_FOUND),
        (Operation.PURGE, None, NOT_FOUND),
        (Operation.DELETE, None, NOT_FOUND),
        (Operation.STOP_SUBMISSION, None, NOT_FOUND),
        # A tombstone is as good as missing.
        (Operation.CANCEL, S.DELETED, NOT_FOUND),
    ],
)
async def test_refused_admission_fails_once_and_touches_nothing(env, operation, status, kind):
    store = FakeStore(status=status, tasks=6, results=6)
    before = copy.deepcopy(store.session)

    with pytest.raises(WorkflowFailureError) as failure:
        await execute(env, store, operation)

    assert_refused(failure, kind)
    # One attempt of the admission, and nothing after it.
    assert [(c.activity, c.attempt) for c in store.calls] == [("update_session", 1)]
    assert store.session == before


@pytest.mark.parametrize(
    ("partitions", "task_options", "kind"),
    [
        (["default", "nowhere"], options(), NOT_FOUND),
        (["default"], TaskOptions(max_duration=60.0, priority=0), INVALID_ARGUMENT),
        (["default"], TaskOptions(max_duration=60.0, partition_id="gpu"), INVALID_ARGUMENT),
    ],
)
async def test_refused_create_inserts_nothing(env, partitions, task_options, kind):
    store = FakeStore(status=None)
    request = CreateRequest(store.session_id, partitions, task_options)

    with pytest.raises(WorkflowFailureError) as failure:
        await execute(env, store, Operation.CREATE, request)

    assert_refused(failure, kind)
    assert [(c.activity, c.attempt) for c in store.calls] == [("check_partitions", 1)]
    assert store.session is None
