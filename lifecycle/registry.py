"""The operation registry: for each operation, the names that every layer above derives from.
The workflow's type (its seed diagram's name), the RPC that starts it and the service it is on,
the CLI command, the permission and the summary all come from here; tests/unit/test_registry.py
enumerates them against the workflows, the servicers, the permissions, the CLI and the compose
file, so that an operation or an RPC that misses one of them fails it.

Plain data: no layer above is imported here.
"""

from dataclasses import dataclass

from lifecycle.statuses import Operation

# The services an operation's RPC can be on: ArmoniK's Sessions service, whose RPCs each have
# their own `<Rpc>Request` and `<Rpc>Response`; or the project's own Operations service
# (wire/protos/operations.proto), for an operation ArmoniK lacks, whose RPCs all take the
# generic SessionOperationRequest and answer SessionOperationResponse.
SESSIONS_SERVICE = "Sessions"
OPERATIONS_SERVICE = "Operations"


@dataclass(frozen=True)
class OperationSpec:
    operation: Operation
    # The seed diagram's name, which is also the workflow's type and its RPC's.
    name: str
    # `armonik-sessions session <command>`.
    command: str
    summary: str
    # WatchOperation follows it (an operation with progress to show).
    watchable: bool = True
    # The service its RPC is on (see SESSIONS_SERVICE).
    service: str = SESSIONS_SERVICE

    @property
    def rpc(self) -> str:
        return self.name

    @property
    def permission(self) -> str:
        return permission(self.service, self.rpc)


def permission(service: str, rpc: str) -> str:
    """ArmoniK's name of the permission to call an RPC: `Service:Rpc`."""
    return f"{service}:{rpc}"


OPERATIONS: dict[Operation, OperationSpec] = {
    spec.operation: spec
    for spec in (
        OperationSpec(
            Operation.CREATE, "CreateSession", "create", "Create a session.", watchable=False
        ),
        OperationSpec(
            Operation.CANCEL,
            "CancelSession",
            "cancel",
            "Cancel a session: its unfinished tasks are cancelled, results aborted.",
        ),
        OperationSpec(
            Operation.PAUSE,
            "PauseSession",
            "pause",
            "Pause a session: its queued and dispatched tasks are paused.",
        ),
        OperationSpec(
            Operation.RESUME,
            "ResumeSession",
            "resume",
            "Resume a paused session: its paused tasks are queued again.",
        ),
        OperationSpec(Operation.CLOSE, "CloseSession", "close", "Close a session to submission."),
        OperationSpec(
            Operation.PURGE,
            "PurgeSession",
            "purge",
            "Purge a closed or cancelled session: delete its results' data.",
        ),
        OperationSpec(
            Operation.DELETE,
            "DeleteSession",
            "delete",
            "Delete a session with all its tasks, results and data.",
        ),
        OperationSpec(
            Operation.STOP_SUBMISSION,
            "StopSubmission",
            "stop-submission",
            "Stop new submissions to a session, by its clients, its workers or both.",
            watchable=False,
        ),
    )
}
# The operations that take a session id and nothing else, as their RPC and command do.
ON_ONE_SESSION = [
    op for op in OPERATIONS if op not in (Operation.CREATE, Operation.STOP_SUBMISSION)
]
WATCHABLE = [op for op, spec in OPERATIONS.items() if spec.watchable]


def served_by(service: str) -> list[Operation]:
    """The operations on one session whose RPC is on `service`."""
    return [op for op in ON_ONE_SESSION if OPERATIONS[op].service == service]


# The search attributes of an operation's workflow, and their Temporal types: the starter sets
# SessionId, Operation and RequestedBy, the workflow Outcome and Stalled. The dev server and the
# compose file register these.
SESSION_ID, OPERATION, OUTCOME, REQUESTED_BY, STALLED = (
    "SessionId",
    "Operation",
    "Outcome",
    "RequestedBy",
    "Stalled",
)
SEARCH_ATTRIBUTES = dict.fromkeys(
    [SESSION_ID, OPERATION, OUTCOME, REQUESTED_BY, STALLED], "Keyword"
)
