"""CloseSession: one write to the SessionsTable."""

from lifecycle.statuses import Operation, SessionStatus
from tests.workflows.scenario import Scenario
from tests.workflows.support import execute


async def test_close_is_a_single_session_update(env):
    store = Scenario(status=SessionStatus.PAUSED, tasks=4, results=4)

    outcome = await execute(env, store, Operation.CLOSE)

    assert store.trace() == [("admit",)]
    assert store.calls[0].arg.operation == Operation.CLOSE
    assert outcome.session.status == SessionStatus.CLOSED
    assert not outcome.session.client_submission and not outcome.session.worker_submission
