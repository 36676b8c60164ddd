"""StopSubmission: one write to the SessionsTable, clearing the flags the request names."""

from lifecycle.statuses import Operation, SessionStatus
from tests.workflows.scenario import Scenario
from tests.workflows.support import execute, one_range


async def test_stop_submission_passes_the_requested_flags_in_one_update(env):
    store = Scenario(status=SessionStatus.RUNNING, tasks=4)
    request = one_range(store.session_id, client=True, worker=False)

    outcome = await execute(env, store, Operation.STOP_SUBMISSION, request)

    assert store.trace() == [("admit",)]
    update = store.calls[0].arg
    assert (update.operation, update.client, update.worker) == (
        Operation.STOP_SUBMISSION,
        True,
        False,
    )
    assert outcome.session.status == SessionStatus.RUNNING
    assert (outcome.session.client_submission, outcome.session.worker_submission) == (False, True)
