"""How an operation's workflow is known from outside: its id (one per session and operation, so
that a repeated request joins the one running), the id its admission and checkpoints are
recorded under, and its search attributes. The starter (engine/) and the workflows share it."""

from temporalio import workflow
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from lifecycle import registry
    from lifecycle.statuses import Operation

# Search attributes the starter sets (SessionId, Operation) and the workflow's own (Outcome), so
# that the Temporal UI can list a session's operations and tell refusals from failures.
# Named in lifecycle/registry.py, which the dev server and the compose file register.
SESSION_ID = SearchAttributeKey.for_keyword(registry.SESSION_ID)
OPERATION = SearchAttributeKey.for_keyword(registry.OPERATION)
OUTCOME = SearchAttributeKey.for_keyword(registry.OUTCOME)
REQUESTED_BY = SearchAttributeKey.for_keyword(registry.REQUESTED_BY)
STALLED = SearchAttributeKey.for_keyword(registry.STALLED)


def workflow_id(operation: Operation, session_id: str, variant: str = "") -> str:
    """One id per (session, operation), so that a repeated request joins the one running. A
    request that asks for something else (StopSubmission of other flags) has its own `variant`,
    so it is not folded into a request it does not repeat."""
    return f"session-{session_id}-{operation.value}" + (f"-{variant}" if variant else "")


def op_id(workflow_id: str, first_run_id: str) -> str:
    """The id an operation's admission and checkpoints are recorded under: its execution's,
    kept by every run that continues it as new."""
    return f"{workflow_id}/{first_run_id}"
