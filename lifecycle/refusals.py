"""Refusals: requests the lifecycle does not allow. A refusal changes nothing, and its kind names
the gRPC status the caller gets.

They are plain exceptions here, so that the lifecycle, the stores and the admin tools need no
Temporal: an activity hands one on as a non-retryable ApplicationError whose type is the kind
(activities/failure_interceptor.py), and a workflow answers it as a refused outcome.
"""

NOT_FOUND = "NotFound"
FAILED_PRECONDITION = "FailedPrecondition"
INVALID_ARGUMENT = "InvalidArgument"
ALREADY_EXISTS = "AlreadyExists"

REFUSAL_KINDS = [NOT_FOUND, FAILED_PRECONDITION, INVALID_ARGUMENT, ALREADY_EXISTS]


class Refused(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __reduce__(self):
        return type(self), (self.kind, self.message)
