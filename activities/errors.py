"""Failures of activities, as Temporal records them.

A store outage makes every attempt of an activity fail until the store is back. The raw error
(an asyncpg or botocore exception with its chain of causes) can exceed Temporal's failure size
limit, and then the UI and the progress display only read "Failure exceeds size limit". Each
failure is recorded instead as a short, retryable ApplicationError that names the error; the
worker's log keeps the full traceback.
"""

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

MESSAGE_LIMIT = 300


class CompactFailures(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CompactFailures(next)


class _CompactFailures(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except ApplicationError:
            raise  # refusals, and errors already in shape
        except Exception as error:
            activity.logger.warning("attempt failed, to be retried", exc_info=True)
            message = f"{type(error).__name__}: {error}"[:MESSAGE_LIMIT]
            raise ApplicationError(message, type=type(error).__name__) from None
