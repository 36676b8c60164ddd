"""Refusals cross Temporal as non-retryable ApplicationErrors whose type names the gRPC status
the caller gets."""

from temporalio.exceptions import ApplicationError

NOT_FOUND = "NotFound"
FAILED_PRECONDITION = "FailedPrecondition"
INVALID_ARGUMENT = "InvalidArgument"
ALREADY_EXISTS = "AlreadyExists"

REFUSAL_TYPES = [NOT_FOUND, FAILED_PRECONDITION, INVALID_ARGUMENT, ALREADY_EXISTS]


class Refused(ApplicationError):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message, type=kind, non_retryable=True)


def refusal_of(error: BaseException | None) -> ApplicationError | None:
    """The refusal at the root of a Temporal error chain, if there is one."""
    while error is not None:
        if isinstance(error, ApplicationError) and error.type in REFUSAL_TYPES:
            return error
        error = error.__cause__
    return None
