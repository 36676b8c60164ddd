"""AuditLog: who asked for each change to a session, when, and what they were answered."""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    requested_by: str
    # The RPC, as its permission names it (Sessions:PurgeSession).
    permission: str
    session_id: str
    # The gRPC status name of the answer: OK, FAILED_PRECONDITION, PERMISSION_DENIED...
    code: str
    detail: str = ""


class AuditLog(Protocol):
    async def record(self, entry: AuditEntry) -> None: ...

    async def of_session(self, session_id: str) -> list[AuditEntry]:
        """Oldest first; kept after the session is deleted."""
        ...
