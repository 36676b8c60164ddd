"""Why a store call failed, as an operator reads it: the store is down (refused, reset, not
resolving), it did not answer in time (settings.store_timeout), or something else (a bug, a
constraint). The metrics of retried activity attempts go by it (telemetry/metrics.py)."""

import asyncpg
import botocore.exceptions
import redis.exceptions

# The causes, as the metric of retried attempts labels them.
STORE_DOWN = "store_down"
TIMEOUT = "timeout"
OTHER = "other"

TIMEOUTS = (
    TimeoutError,
    # PostgreSQL's statement_timeout and lock_timeout cancel the statement.
    asyncpg.QueryCanceledError,
    asyncpg.LockNotAvailableError,
    redis.exceptions.TimeoutError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectTimeoutError,
)
# PostgreSQL out of reach, as asyncpg says it (the API answers these UNAVAILABLE too).
POSTGRES_DOWN = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
)
DOWN = (
    OSError,
    *POSTGRES_DOWN,
    redis.exceptions.ConnectionError,
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
)


def failure_cause(error: BaseException) -> str:
    """TIMEOUT, STORE_DOWN or OTHER, by the first error of the chain that tells."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # Timeouts first: a timeout is an OSError too (TimeoutError), and so is botocore's.
        if isinstance(current, TIMEOUTS):
            return TIMEOUT
        if isinstance(current, DOWN):
            return STORE_DOWN
        current = current.__cause__ or current.__context__
    return OTHER
