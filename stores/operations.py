"""OperationsLog: the operations admitted on each session, and the checkpoints of their batch
steps. Not a participant of the seed diagrams: it is what makes each arrow safe to retry."""

from dataclasses import dataclass
from typing import Protocol

from lifecycle.progress import StepProgress
from lifecycle.statuses import Operation
from stores.database import Tx
from stores.keyset import Acked


@dataclass
class AdmittedOperation:
    op_id: str
    seq: int
    session_id: str
    operation: Operation
    from_status: int | None
    to_status: int | None
    epoch: int
    finished: bool
    # Where the operation's last step committed, in the same sequence as `seq`.
    finished_seq: int | None
    # The user whose request started it (api/auth.py); "anonymous" without TLS.
    requested_by: str = ""


class OperationsLog(Protocol):
    async def find(self, tx: Tx, op_id: str) -> AdmittedOperation | None: ...

    async def record(
        self,
        tx: Tx,
        op_id: str,
        session_id: str,
        operation: Operation,
        from_status: int | None,
        to_status: int | None,
        epoch: int,
        requested_by: str = "",
    ) -> None: ...

    async def finish(self, tx: Tx, op_id: str) -> None: ...

    async def of_session(self, session_id: str) -> list[AdmittedOperation]:
        """The session's admitted operations, in the order it accepted them."""
        ...

    async def forget_session(self, tx: Tx, session_id: str) -> None: ...

    async def count_batch_start(
        self, op_id: str, step: str, session_id: str, batches: int = 1, conn: Tx | None = None
    ) -> None:
        """Count batches (or calls) before they begin, outside their transaction."""
        ...

    async def record_total(self, op_id: str, step: str, session_id: str, total: int) -> None: ...

    async def checkpoint(self, tx: Tx, op_id: str, step: str) -> StepProgress:
        """The step's checkpoint, locked until `tx` ends."""
        ...

    async def advance(
        self,
        tx: Tx,
        op_id: str,
        step: str,
        cursor: str,
        scanned: int,
        changed: int,
        done: bool,
    ) -> None: ...

    async def lock_step(self, conn: Tx, op_id: str, step: str) -> None:
        """Hold the step for this connection until unlock_step or the connection's end: the
        attempts of a step that commits per call take turns this way."""
        ...

    async def unlock_step(self, conn: Tx, op_id: str, step: str) -> None: ...

    async def acknowledged(self, tx: Tx, op_id: str, step: str) -> Acked:
        """The spans beyond the step's cursor that its calls acknowledged."""
        ...

    async def acknowledge(
        self,
        tx: Tx,
        op_id: str,
        step: str,
        cursor: str,
        acked: Acked,
        scanned: int,
        changed: int,
        done: bool,
        calls: int = 1,
    ) -> None: ...

    async def steps(self, op_id: str) -> list[StepProgress]:
        """Every step's checkpoint of the operation."""
        ...
