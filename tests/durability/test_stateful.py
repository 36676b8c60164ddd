"""A stateful property test: random lives of one session. Operations are started without waiting
for the previous ones, so that they overlap; whenever all of them have ended, the stores hold
what replaying the admitted requests in the order the session admitted them gives, and the
invariants of docs/lifecycle.md hold. Requests run one at a time in between are checked against
the model request by request: accepted or refused, with which refusal.

`make test` runs it on small sessions; `make chaos` on sessions large enough that every
operation overlaps others over many batches (CHAOS_STATEFUL_TASKS, CHAOS_STATEFUL_EXAMPLES).
"""

import asyncio
import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from admin.invariants import check
from lifecycle.refusals import FAILED_PRECONDITION, NOT_FOUND
from lifecycle.statuses import Operation, TaskStatus
from lifecycle.transitions import TRANSITIONS
from tests.durability.model import Request, SessionModel, assert_replays, observe, send
from tests.support import new_session

TASKS = int(os.environ.get("CHAOS_STATEFUL_TASKS", "400"))
EXAMPLES = int(os.environ.get("CHAOS_STATEFUL_EXAMPLES", "8"))
STEPS = 12
MAX_IN_FLIGHT = 4
OPERATIONS = [op for op in TRANSITIONS if op != Operation.CREATE]
FLAGS = [(True, False), (False, True), (True, True)]


def mix(tasks: int) -> dict[TaskStatus, int]:
    """Mostly queued tasks, with some of every kind a pause, a resume or a cancel treats apart."""
    return {
        TaskStatus.SUBMITTED: tasks * 6 // 10,
        TaskStatus.DISPATCHED: tasks * 2 // 10,
        TaskStatus.COMPLETED: tasks // 10,
        TaskStatus.PENDING: tasks - tasks * 9 // 10,
    }


def machine(client, loop: asyncio.AbstractEventLoop) -> type[RuleBasedStateMachine]:
    """The state machine runs in a thread; the stores and the worker live in the test's event
    loop, so each step is handed to that loop."""

    def wait(coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=600)

    class SessionLife(RuleBasedStateMachine):
        @initialize()
        def create(self) -> None:
            self.session_id = wait(new_session(client, mix=mix(TASKS), results=TASKS // 10))
            self.initial: SessionModel = wait(observe(client.stores, self.session_id))
            self.model: SessionModel | None = self.initial
            self.requests: list[Request] = []
            self.in_flight: list = []

        @precondition(lambda self: len(self.in_flight) < MAX_IN_FLIGHT)
        @rule(operation=st.sampled_from(OPERATIONS), flags=st.sampled_from(FLAGS))
        def start(self, operation: Operation, flags: tuple[bool, bool]) -> None:
            """Send a request and go on without waiting for its end."""
            request = Request(self.session_id, operation, *flags)
            self.requests.append(request)
            self.in_flight.append(asyncio.run_coroutine_threadsafe(send(client, request), loop))

        @rule()
        def settle(self) -> None:
            """Wait for every request in flight; then the stores match the replayed model."""
            for future in self.in_flight:
                future.result(timeout=600)
            self.in_flight = []
            self.model = wait(
                assert_replays(client.stores, self.session_id, self.initial, self.requests)
            )
            report = wait(check(client.stores, [self.session_id]))
            assert report.ok, report.examples

        @precondition(lambda self: not self.in_flight)
        @rule(operation=st.sampled_from(OPERATIONS), flags=st.sampled_from(FLAGS))
        def run_alone(self, operation: Operation, flags: tuple[bool, bool]) -> None:
            """With nothing else in flight, the model says exactly how a request ends."""
            expected = None
            if self.model is None:
                expected = NOT_FOUND
            elif self.model.status not in TRANSITIONS[operation].accepts:
                expected = FAILED_PRECONDITION
            request = Request(self.session_id, operation, *flags)
            self.requests.append(request)
            wait(send(client, request))
            if request.refused is not None:
                assert request.refused.kind == expected, f"{operation.value}: {request.refused}"
            else:
                assert expected is None, f"{operation.value} accepted in {self.model}"
            self.settle()

        def teardown(self) -> None:
            if hasattr(self, "in_flight"):
                self.settle()

    return SessionLife


async def test_random_overlapping_lives_of_a_session_follow_the_lifecycle(client):
    life = machine(client, asyncio.get_running_loop())
    life.TestCase.settings = settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    await asyncio.to_thread(life.TestCase().runTest)
