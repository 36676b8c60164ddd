"""The Python client: operations go through Temporal; Get and List read PostgreSQL directly."""

import uuid
from dataclasses import dataclass

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from lifecycle.models import (
    CreateRequest,
    OperationOutcome,
    OperationRequest,
    Partition,
    Progress,
    Session,
    TaskOptions,
)
from lifecycle.options import check_session_id, resolve_create
from lifecycle.refusals import NOT_FOUND, Refused
from lifecycle.statuses import Operation
from lifecycle.transitions import superseded
from settings import Settings
from stores.connect import Stores
from stores.sessions_table import ListQuery
from workflows.operation import OPERATION, SESSION_ID, workflow_id
from workflows.registry import WORKFLOWS

# A request never joins an execution that a later operation already overtook; it waits for that
# one to end and starts its own. Each round is one supersession, so more than a few in a row
# means operations are racing on the session without pause: join what is there then.
MAX_FRESH_STARTS = 5

# Refusals are the lifecycle's own exception; the old name stays for callers.
Refused = Refused


@dataclass
class Retrying:
    """An activity of the operation that failed and waits for its next attempt."""

    activity: str
    attempt: int
    last_failure: str


@dataclass
class OperationProgress:
    progress: Progress
    retrying: list[Retrying]
    finished: bool


class OperationHandle:
    def __init__(self, handle: WorkflowHandle, operation: Operation, session_id: str) -> None:
        self.handle = handle
        self.operation = operation
        self.session_id = session_id

    @property
    def workflow_id(self) -> str:
        return self.handle.id

    async def result(self) -> OperationOutcome:
        """The operation's outcome; raises Refused if it was refused (and changed nothing)."""
        outcome: OperationOutcome = await self.handle.result()
        if outcome.refusal is not None:
            raise Refused(outcome.refusal.kind, outcome.refusal.message)
        return outcome

    async def progress(self) -> OperationProgress:
        """The workflow's own account of its progress, and the activities that are retrying
        (a store outage shows here, as attempts and their last error, not as a failure)."""
        description = await self.handle.describe()
        raw = description.raw_description
        retrying = [
            Retrying(
                activity=a.activity_type.name,
                attempt=a.attempt,
                last_failure=a.last_failure.message,
            )
            for a in raw.pending_activities
            if a.attempt > 1
        ]
        finished = description.status is not None and description.status.name != "RUNNING"
        try:
            progress = await self.handle.query("progress", result_type=Progress)
        except Exception:
            progress = Progress(self.operation, self.session_id, state="unknown")
        return OperationProgress(progress, retrying, finished)


class SessionsClient:
    def __init__(self, stores: Stores, settings: Settings, temporal: Client | None = None) -> None:
        self.stores = stores
        self.settings = settings
        self._temporal = temporal

    @classmethod
    async def connect(cls, settings: Settings, temporal: Client | None = None) -> "SessionsClient":
        stores = await Stores.connect(settings)
        # Idempotent and quick once applied; a client that runs before any worker still finds
        # its tables.
        await stores.db.migrate()
        return cls(stores, settings, temporal)

    async def temporal(self) -> Client:
        """Connected on first use: reads need PostgreSQL only."""
        if self._temporal is None:
            self._temporal = await Client.connect(
                self.settings.temporal_address, namespace=self.settings.temporal_namespace
            )
        return self._temporal

    async def close(self) -> None:
        await self.stores.close()

    # --- operations ----------------------------------------------------------------------------

    async def start(
        self, operation: Operation, session_id: str, *, client: bool = True, worker: bool = True
    ) -> OperationHandle:
        """Start the operation, or join the one already running on this session."""
        if operation == Operation.CREATE:
            raise ValueError("use start_create()")
        check_session_id(session_id)
        variant = ""
        if operation == Operation.STOP_SUBMISSION:
            variant = "-".join(name for name, on in (("client", client), ("worker", worker)) if on)
        request = OperationRequest(
            session_id,
            client=client,
            worker=worker,
            heartbeat_timeout=self.settings.heartbeat_timeout,
        )
        for _ in range(MAX_FRESH_STARTS):
            handle = await self._start(operation, session_id, request, variant)
            if not await self._overtaken(handle):
                return handle
            # Overtaken at its next batch: it ends in moments, and frees its id for this request.
            try:
                await handle.handle.result()
            except WorkflowFailureError:
                pass
        return handle

    async def _overtaken(self, handle: "OperationHandle") -> bool:
        """Whether the execution behind `handle` (which this request may have joined) was
        already overtaken by a later operation: then this request is not a repeat of it."""
        op_id = f"{handle.workflow_id}/{handle.handle.first_execution_run_id}"
        async with self.stores.db.connection() as conn:
            admitted = await self.stores.operations.find(conn, op_id)
        if admitted is None:
            # Not admitted yet: it will be, after whatever the session holds now.
            return False
        session = await self.stores.sessions.get(handle.session_id)
        current = (session.status, session.epoch) if session is not None else None
        return superseded(handle.operation, admitted.epoch, admitted.finished, current)

    async def start_create(
        self, partition_ids: list[str], options: TaskOptions, session_id: str | None = None
    ) -> OperationHandle:
        # Refuse bad options here, before anything starts; the workflow checks them again.
        resolve_create(partition_ids, options, self.settings.default_partition)
        session_id = session_id or str(uuid.uuid4())
        check_session_id(session_id)
        request = CreateRequest(
            session_id, partition_ids, options, heartbeat_timeout=self.settings.heartbeat_timeout
        )
        return await self._start(Operation.CREATE, session_id, request)

    async def _start(
        self, operation: Operation, session_id: str, request, variant: str = ""
    ) -> OperationHandle:
        search = None
        if self.settings.temporal_search_attributes:
            search = TypedSearchAttributes(
                [
                    SearchAttributePair(SESSION_ID, session_id),
                    SearchAttributePair(OPERATION, operation.value),
                ]
            )
        temporal = await self.temporal()
        handle = await temporal.start_workflow(
            WORKFLOWS[operation].run,
            request,
            id=workflow_id(operation, session_id, variant),
            task_queue=self.settings.temporal_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=search,
        )
        return OperationHandle(handle, operation, session_id)

    async def run(self, operation: Operation, session_id: str, **flags: bool) -> OperationOutcome:
        handle = await self.start(operation, session_id, **flags)
        return await handle.result()

    async def create(
        self, partition_ids: list[str], options: TaskOptions, session_id: str | None = None
    ) -> Session:
        handle = await self.start_create(partition_ids, options, session_id)
        return (await handle.result()).session

    # --- reads ---------------------------------------------------------------------------------

    async def get(self, session_id: str) -> Session:
        check_session_id(session_id)
        session = await self.stores.sessions.get_live(session_id)
        if session is None:
            raise Refused(NOT_FOUND, f"session {session_id} not found")
        return session

    async def list_sessions(self, query: ListQuery) -> tuple[list[Session], int]:
        return await self.stores.sessions.query(query)

    async def create_partition(self, partition: Partition) -> Partition:
        return await self.stores.partitions.upsert(partition)

    async def list_partitions(self) -> list[Partition]:
        return await self.stores.partitions.all()

    async def partition(self, partition_id: str) -> Partition:
        partition = await self.stores.partitions.get(partition_id)
        if partition is None:
            raise Refused(NOT_FOUND, f"partition {partition_id} not found")
        return partition

    async def queue_depths(self) -> dict[str, int]:
        return await self.stores.queue.depths()
