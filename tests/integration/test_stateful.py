"""A stateful property test: random sequences of operations on one session, each checked against
a model of SPEC §2 (accepted or refused, and the resulting state) and against SPEC §3's
invariants after every step."""

import asyncio

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from client.invariants import check
from client.sessions import OperationRefused
from lifecycle.refusals import FAILED_PRECONDITION, NOT_FOUND
from lifecycle.statuses import Operation, TaskStatus
from lifecycle.transitions import TRANSITIONS
from tests.durability.model import SessionModel, observe
from tests.support import new_session

MIX = {TaskStatus.SUBMITTED: 120, TaskStatus.DISPATCHED: 30, TaskStatus.COMPLETED: 20}
OPERATIONS = [op for op in TRANSITIONS if op != Operation.CREATE]


def machine(client, loop: asyncio.AbstractEventLoop) -> type[RuleBasedStateMachine]:
    """The state machine runs in a thread; the stores and the worker live in the test's event
    loop, so each step is handed to that loop."""

    def wait(coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=120)

    class SessionLife(RuleBasedStateMachine):
        @initialize()
        def create(self) -> None:
            self.session_id = wait(new_session(client, mix=MIX, results=30))
            self.model: SessionModel = wait(observe(client.stores, self.session_id))

        @rule(
            operation=st.sampled_from(OPERATIONS),
            flags=st.sampled_from([(True, False), (False, True), (True, True)]),
        )
        def operate(self, operation: Operation, flags: tuple[bool, bool]) -> None:
            expected = None
            if self.model.deleted:
                expected = NOT_FOUND
            elif self.model.status not in TRANSITIONS[operation].accepts:
                expected = FAILED_PRECONDITION
            try:
                wait(client.run(operation, self.session_id, client=flags[0], worker=flags[1]))
            except OperationRefused as refused:
                assert refused.kind == expected, f"{operation.value}: {refused.message}"
                return
            assert expected is None, f"{operation.value} accepted from {self.model.status.name}"
            self.model.apply(operation, *flags)

        @precondition(lambda self: hasattr(self, "session_id"))
        @invariant()
        def stores_match_the_model(self) -> None:
            assert wait(observe(client.stores, self.session_id)) == self.model
            report = wait(check(client.stores, [self.session_id]))
            assert report.ok, report.examples

    return SessionLife


async def test_random_lives_of_a_session_follow_the_spec(client):
    life = machine(client, asyncio.get_running_loop())
    life.TestCase.settings = settings(
        max_examples=10,
        stateful_step_count=10,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    await asyncio.to_thread(life.TestCase().runTest)
