"""Why a store call failed, as an operator reads it: the store is down (refused, reset, not
resolving), it did not answer in time (settings.store_timeout), or something else (a bug, a
constraint). The metrics of retried activity attempts go by it (telemetry/metrics.py), and the
batch runner and the adaptive limits tell a timeout from the rest by it.

Which of a driver's errors mean what is the adapter's to say: each registers its own
(adapters/postgres, adapters/redis, adapters/s3), so that nothing here imports a driver.
"""

# The causes, as the metric of retried attempts labels them.
STORE_DOWN = "store_down"
TIMEOUT = "timeout"
OTHER = "other"

# The errors of each cause: Python's own, and those the adapters register.
TIMEOUTS: tuple[type[BaseException], ...] = (TimeoutError,)
DOWN: tuple[type[BaseException], ...] = (OSError,)


def register(
    *,
    timeouts: tuple[type[BaseException], ...] = (),
    down: tuple[type[BaseException], ...] = (),
) -> None:
    """A driver's errors that mean the store timed out, or is down."""
    global TIMEOUTS, DOWN
    TIMEOUTS = (*TIMEOUTS, *(t for t in timeouts if t not in TIMEOUTS))
    DOWN = (*DOWN, *(d for d in down if d not in DOWN))


def is_timeout(error: BaseException) -> bool:
    return isinstance(error, TIMEOUTS)


def is_down(error: BaseException) -> bool:
    return isinstance(error, DOWN)


def failure_cause(error: BaseException) -> str:
    """TIMEOUT, STORE_DOWN or OTHER, by the first error of the chain that tells."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # Timeouts first: a timeout is an OSError too (TimeoutError), and so is botocore's.
        if is_timeout(current):
            return TIMEOUT
        if is_down(current):
            return STORE_DOWN
        current = current.__cause__ or current.__context__
    return OTHER
