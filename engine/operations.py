"""The engine the API serves from: operations start (or join) workflows on Temporal, and reads go
to the stores through their interfaces. It is handed its connections (a Temporal client and the
stores, which adapters/connect.py opens) and opens none itself."""

import uuid

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from engine.reads import Reads
from lifecycle.domain import Partition, Session, TaskOptions
from lifecycle.options import (
    check_create,
    check_fit,
    check_partition_id,
    check_session_id,
    named_partitions,
    unknown_partitions,
)
from lifecycle.progress import Progress, Retrying
from lifecycle.refusals import NOT_FOUND, Refused
from lifecycle.requests import CreateRequest, OperationOutcome, OperationRequest
from lifecycle.statuses import Operation
from lifecycle.transitions import TRANSITIONS, superseded
from security.tls import temporal_tls
from settings import Settings
from stores.audit import AuditEntry
from stores.queries import ListQuery, PartitionsQuery
from stores.store_set import StoreSet
from telemetry.tracing import temporal_interceptors
from workflows.identity import OPERATION, REQUESTED_BY, SESSION_ID, op_id, workflow_id
from workflows.registry import WORKFLOWS

# A request never joins an execution that a later operation already overtook; it waits for that
# one to end and starts its own. Each round is one supersession, so more than a few in a row
# means operations are racing on the session without pause: join what is there then.
MAX_FRESH_STARTS = 5


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

    async def look(self) -> tuple[Progress, bool]:
        """The progress, and whether the workflow still runs, from one description of it (read
        before the progress: an operation seen ended has its last progress here)."""
        description = await self.handle.describe()
        try:
            progress = await self.handle.query("progress", result_type=Progress)
        except Exception:
            progress = Progress(self.operation, self.session_id, state="unknown")
        progress.retrying = [
            Retrying(a.activity_type.name, a.attempt, a.last_failure.message)
            for a in description.raw_description.pending_activities
            if a.attempt > 1
        ]
        return progress, description.status == WorkflowExecutionStatus.RUNNING


class Engine(Reads):
    def __init__(self, settings: Settings, temporal: Client, stores: StoreSet) -> None:
        self.settings = settings
        self.temporal = temporal
        self.stores = stores

    # --- operations ----------------------------------------------------------------------------

    async def start(
        self,
        operation: Operation,
        session_id: str,
        *,
        client: bool = True,
        worker: bool = True,
        requested_by: str = "",
    ) -> OperationHandle:
        """Start the operation, or join the one already running on this session.
        `requested_by`: the user asking, for the operations log and the RequestedBy search
        attribute (a request that joins a running operation is in the API's audit log only)."""
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
            history_limit=self.settings.history_limit,
            heartbeat_timeout=self.settings.heartbeat_timeout,
            sweep_ranges=self.settings.sweep_ranges,
            requested_by=requested_by,
            stall_seconds=self.settings.stall_seconds,
        )
        for _ in range(MAX_FRESH_STARTS):
            handle, joined = await self._start(
                operation, session_id, request, variant, requested_by=requested_by
            )
            # An execution this request started is its own, even if another operation overtook
            # it at once: starting again would admit the one request twice.
            if not joined or not await self._overtaken(handle):
                return handle
            # Overtaken at its next batch: it ends in moments, and frees its id for this request.
            try:
                await handle.handle.result()
            except WorkflowFailureError:
                pass
        return handle

    async def start_create(
        self,
        partition_ids: list[str],
        options: TaskOptions,
        session_id: str | None = None,
        *,
        requested_by: str = "",
    ) -> OperationHandle:
        # Refuse bad options here, before anything starts; the workflow checks them again.
        partitions, resolved = check_create(partition_ids, options, self.settings.default_partition)
        try:
            check_fit(partitions, resolved)
        except Refused:
            # Existence first, as the workflow asks it: a misfit naming a partition that is not
            # there is NOT_FOUND.
            missing = await self.stores.partitions.missing(named_partitions(partitions, resolved))
            if missing:
                raise unknown_partitions(missing) from None
            raise
        session_id = session_id or str(uuid.uuid4())
        check_session_id(session_id)
        request = CreateRequest(
            session_id,
            partition_ids,
            options,
            heartbeat_timeout=self.settings.heartbeat_timeout,
            requested_by=requested_by,
        )
        handle, _ = await self._start(
            Operation.CREATE, session_id, request, requested_by=requested_by
        )
        return handle

    async def run(
        self, operation: Operation, session_id: str, *, requested_by: str = "", **flags: bool
    ) -> OperationOutcome:
        handle = await self.start(operation, session_id, requested_by=requested_by, **flags)
        return await handle.result()

    async def create(
        self,
        partition_ids: list[str],
        options: TaskOptions,
        session_id: str | None = None,
        *,
        requested_by: str = "",
    ) -> Session:
        handle = await self.start_create(
            partition_ids, options, session_id, requested_by=requested_by
        )
        session = (await handle.result()).session
        assert session is not None
        return session

    async def _start(
        self,
        operation: Operation,
        session_id: str,
        request,
        variant: str = "",
        *,
        requested_by: str = "",
    ) -> tuple[OperationHandle, bool]:
        """The execution's handle, and whether this request joined it (rather than started
        it)."""
        search = None
        if self.settings.temporal_search_attributes:
            pairs = [
                SearchAttributePair(SESSION_ID, session_id),
                SearchAttributePair(OPERATION, operation.value),
            ]
            if requested_by:
                pairs.append(SearchAttributePair(REQUESTED_BY, requested_by))
            search = TypedSearchAttributes(pairs)
        run = WORKFLOWS[operation].run
        execution_id = workflow_id(operation, session_id, variant)
        try:
            handle = await self.temporal.start_workflow(
                run,
                request,
                id=execution_id,
                task_queue=self.settings.temporal_task_queue,
                # Not USE_EXISTING: a request must know whether it started the execution or
                # joined one that another request started.
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                search_attributes=search,
                # Where a worker of this process polls the task queue with the same Temporal
                # client (the API server runs one), the server hands the first workflow task
                # straight back with the start: a Create or a Close then completes in one round
                # trip. Elsewhere the SDK does not ask.
                request_eager_start=True,
            )
        except WorkflowAlreadyStartedError as running:
            joined = self.temporal.get_workflow_handle_for(
                run,
                execution_id,
                run_id=running.run_id,
                first_execution_run_id=running.first_run_id or running.run_id,
            )
            return OperationHandle(joined, operation, session_id), True
        return OperationHandle(handle, operation, session_id), False

    async def _overtaken(self, handle: OperationHandle) -> bool:
        """Whether the execution behind `handle` (which this request may have joined) was
        already overtaken by a later operation: then this request is not a repeat of it. Only
        an operation with a sweep can be overtaken."""
        if not TRANSITIONS[handle.operation].sweeps:
            return False
        stores = self.stores
        execution = op_id(handle.workflow_id, handle.handle.first_execution_run_id or "")
        async with stores.db.connection() as conn:
            admitted = await stores.operations.find(conn, execution)
            if admitted is None:
                # Not admitted yet: it will be, after whatever the session holds now.
                return False
            session = await stores.sessions.get(handle.session_id, conn)
        current = (session.status, session.epoch) if session is not None else None
        return superseded(handle.operation, admitted.epoch, admitted.finished, current)

    # --- reads ---------------------------------------------------------------------------------

    async def get(self, session_id: str) -> Session:
        check_session_id(session_id)
        session = await self.stores.sessions.get_live(session_id)
        if session is None:
            raise Refused(NOT_FOUND, f"session {session_id} not found")
        return session

    async def find(self, session_id: str) -> Session | None:
        """The stored row, a tombstone (DELETED) included; None if there is none."""
        check_session_id(session_id)
        return await self.stores.sessions.get(session_id)

    async def handle(self, operation: Operation, session_id: str) -> OperationHandle:
        """The session's latest execution of the operation, running or not (it may not have
        started yet)."""
        handle = self.temporal.get_workflow_handle(workflow_id(operation, session_id))
        return OperationHandle(handle, operation, session_id)

    async def audit(self, session_id: str) -> list[AuditEntry]:
        """Who asked for each change to the session, oldest first; kept after a Delete."""
        check_session_id(session_id)
        return await self.stores.audit.of_session(session_id)

    async def list_sessions(self, query: ListQuery) -> tuple[list[Session], int]:
        return await self.stores.sessions.query(query)

    async def query_partitions(self, query: PartitionsQuery) -> tuple[list[Partition], int]:
        return await self.stores.partitions.query(query)

    async def get_partition(self, partition_id: str) -> Partition:
        check_partition_id(partition_id)
        partition = await self.stores.partitions.get(partition_id)
        if partition is None:
            raise Refused(NOT_FOUND, f"partition {partition_id} not found")
        return partition


async def connect_temporal(settings: Settings, *, lazy: bool = False) -> Client:
    """The Temporal client of the settings, traced when tracing is on. `lazy`: it connects at
    its first call (a worker needs one connected already)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        tls=temporal_tls(settings),
        interceptors=temporal_interceptors(),
        lazy=lazy,
    )
