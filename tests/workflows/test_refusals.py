"""A refused operation completes its workflow with the refusal as its outcome, at once (no
retry), and touches nothing: no activity runs after the one that refused. Completing, not
failing, is what lets an operator tell a refused request from a real failure in the UI."""

import copy

import pytest

from lifecycle.domain import TaskOptions
from lifecycle.refusals import FAILED_PRECONDITION, INVALID_ARGUMENT, NOT_FOUND
from lifecycle.requests import CreateRequest, OperationOutcome
from lifecycle.statuses import Operation, SessionStatus
from tests.workflows.scenario import Scenario, options
from tests.workflows.support import execute

S = SessionStatus


def assert_refused(outcome: OperationOutcome, kind: str) -> None:
    assert outcome.refusal is not None, outcome
    assert outcome.refusal.kind == kind
    assert outcome.session is None
    assert outcome.progress.state == "refused"


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
    store = Scenario(status=status, tasks=6, results=6)
    before = copy.deepcopy(store.session)

    outcome = await execute(env, store, operation)

    assert_refused(outcome, kind)
    # One attempt of the admission, and nothing after it.
    assert [(c.activity, c.attempt) for c in store.calls] == [("admit", 1)]
    assert store.session == before


@pytest.mark.parametrize(
    ("partitions", "task_options", "kind"),
    [
        (["default", "nowhere"], options(), NOT_FOUND),
        (["default"], TaskOptions(max_duration=60.0, priority=0), INVALID_ARGUMENT),
        # "gpu" is not among the session's partitions, nor anywhere: existence comes first.
        (["default"], TaskOptions(max_duration=60.0, partition_id="gpu"), NOT_FOUND),
    ],
)
async def test_refused_create_inserts_nothing(env, partitions, task_options, kind):
    store = Scenario(status=None)
    request = CreateRequest(store.session_id, partitions, task_options)

    outcome = await execute(env, store, Operation.CREATE, request)

    assert_refused(outcome, kind)
    assert [(c.activity, c.attempt) for c in store.calls] == [("check_partitions", 1)]
    assert store.session is None


async def test_a_not_found_names_the_session(env):
    store = Scenario(status=None)

    outcome = await execute(env, store, Operation.PAUSE)

    assert store.session_id in outcome.refusal.message
