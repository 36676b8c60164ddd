"""The interceptor through which every activity's failure reaches Temporal.

A refusal becomes a non-retryable ApplicationError whose type names its kind, so that the
workflow answers it without a second attempt.

Any other failure is recorded as a short, retryable ApplicationError that names the error. A
store outage makes every attempt fail until the store is back, and the raw error (an asyncpg or
botocore exception with its chain of causes) can exceed Temporal's failure size limit: the UI
and the progress display would then only read "Failure exceeds size limit". The worker's log
keeps the full traceback, and the metric of retried attempts counts it by its cause.

A batch step's failure (StepFailed) names its cause the same way, and carries as its details
the figures the step had committed when it failed, for the workflow to tell a step that moves
while it retries from one that is stalled.
"""

import dataclasses
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from activities.batches import StepFailed
from lifecycle.refusals import Refused
from stores.failures import failure_cause
from telemetry.metrics import count_retry

MESSAGE_LIMIT = 300


class FailureInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityFailures(next)


class _ActivityFailures(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except Refused as refused:
            raise ApplicationError(refused.message, type=refused.kind, non_retryable=True) from None
        except ApplicationError:
            raise  # errors already in shape
        except StepFailed as failed:
            error = failed.__cause__ or failed
            progress = dataclasses.asdict(failed.progress)
            raise _retryable(error, progress) from None
        except Exception as error:
            raise _retryable(error) from None


def _retryable(error: BaseException, *details: Any) -> ApplicationError:
    activity.logger.warning("attempt failed, to be retried", exc_info=error)
    count_retry(failure_cause(error))
    message = f"{type(error).__name__}: {error}"[:MESSAGE_LIMIT]
    return ApplicationError(message, *details, type=type(error).__name__)
