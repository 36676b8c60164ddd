"""What reaches Temporal when an activity fails: a refusal as a non-retryable error named by its
kind, anything else as a short retryable error that names its cause."""

import pytest
from temporalio.exceptions import ApplicationError

from activities.failure_interceptor import MESSAGE_LIMIT, FailureInterceptor
from lifecycle.refusals import FAILED_PRECONDITION, Refused


class Raising:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    async def execute_activity(self, input):
        raise self.error


async def run_through(error: BaseException) -> ApplicationError:
    intercepted = FailureInterceptor().intercept_activity(Raising(error))
    with pytest.raises(ApplicationError) as raised:
        await intercepted.execute_activity(None)
    return raised.value


async def test_a_refusal_is_not_retried_and_keeps_its_kind_and_message():
    error = await run_through(Refused(FAILED_PRECONDITION, "cannot pause session s: it is CLOSED"))
    assert error.non_retryable
    assert error.type == FAILED_PRECONDITION
    assert error.message == "cannot pause session s: it is CLOSED"


async def test_a_store_error_is_retried_and_recorded_short(caplog):
    error = await run_through(ConnectionRefusedError("x" * 10_000))
    assert not error.non_retryable
    assert error.type == "ConnectionRefusedError"
    assert len(error.message) == MESSAGE_LIMIT
    assert error.message.startswith("ConnectionRefusedError: xxx")
