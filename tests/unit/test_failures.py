"""Why a store call failed, as the retries metric counts it: down, timed out, or other."""

import asyncpg
import botocore.exceptions
import pytest
import redis.exceptions

# The adapters register which of their drivers' errors mean what.
import adapters.connect  # noqa: F401
from stores.failures import OTHER, STORE_DOWN, TIMEOUT, failure_cause


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "refused"),
        asyncpg.CannotConnectNowError("starting up"),
        redis.exceptions.ConnectionError("Connection reset by peer"),
        botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
    ],
)
def test_an_unreachable_store_is_down(error):
    assert failure_cause(error) == STORE_DOWN


@pytest.mark.parametrize(
    "error",
    [
        TimeoutError(),
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
        redis.exceptions.TimeoutError("Timeout reading from socket"),
        botocore.exceptions.ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
        botocore.exceptions.ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"),
    ],
)
def test_a_store_that_did_not_answer_in_time_timed_out(error):
    assert failure_cause(error) == TIMEOUT


def test_the_cause_is_found_down_the_chain_and_anything_else_is_other():
    try:
        try:
            raise TimeoutError
        except TimeoutError as inner:
            raise RuntimeError("batch failed") from inner
    except RuntimeError as outer:
        assert failure_cause(outer) == TIMEOUT
    assert failure_cause(ValueError("a bug")) == OTHER
