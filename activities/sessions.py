"""Arrows to the PartitionsTable and the SessionsTable.

Every write here may run twice at once: Temporal retries an attempt that outlived its timeout
while the first may still be running on a worker presumed dead. So each one takes the session's
row lock first and only then looks for its own record in the operations log: the second attempt
waits for the first, then finds what it committed and answers the same.
"""

import dataclasses

from temporalio import activity

from lifecycle.calls import SessionUpdate, SessionWrite
from lifecycle.domain import Session
from lifecycle.options import check_create, check_fit, named_partitions, unknown_partitions
from lifecycle.refusals import ALREADY_EXISTS, NOT_FOUND, Refused
from lifecycle.requests import CreateRequest, SessionInsert
from lifecycle.statuses import Operation
from lifecycle.transitions import TRANSITIONS, refusal
from stores.database import Database
from stores.operations import OperationsLog
from stores.partitions import PartitionsTable
from stores.sessions import SessionsTable


class SessionsActivities:
    def __init__(
        self,
        db: Database,
        partitions: PartitionsTable,
        sessions: SessionsTable,
        operations: OperationsLog,
        default_partition: str,
    ) -> None:
        self.db = db
        self.partitions = partitions
        self.sessions = sessions
        self.operations = operations
        self.default_partition = default_partition

    @activity.defn
    async def check_partitions(self, request: CreateRequest) -> CreateRequest:
        """The request with its partitions and options resolved, once every partition exists."""
        partition_ids, options = check_create(
            request.partition_ids, request.options, self.default_partition
        )
        # Existence before fit: a partition that is not there is NOT_FOUND, even where the
        # options would not fit the session's partitions either.
        missing = await self.partitions.missing(named_partitions(partition_ids, options))
        if missing:
            raise unknown_partitions(missing)
        check_fit(partition_ids, options)
        return dataclasses.replace(request, partition_ids=partition_ids, options=options)

    @activity.defn
    async def insert_session(self, insert: SessionInsert) -> SessionWrite:
        request = insert.request
        async with self.db.transaction() as tx:
            # The insert is the lock: a second attempt waits here on the new row's key until
            # the first commits, then finds the row taken and, in the log, by whom.
            session = await self.sessions.insert(
                tx, request.session_id, request.partition_ids, request.options
            )
            if session is None:
                if await self.operations.find(tx, insert.op_id):
                    existing = await self.sessions.get(request.session_id, tx)
                    return _as_left(request.session_id, existing, epoch=0)
                raise Refused(ALREADY_EXISTS, f"session {request.session_id} already exists")
            await self.operations.record(
                tx,
                insert.op_id,
                session.session_id,
                Operation.CREATE,
                None,
                session.status,
                0,
                request.requested_by,
            )
        return SessionWrite(session, epoch=0)

    @activity.defn
    async def admit(self, update: SessionUpdate) -> SessionWrite:
        """Check the transition table and write the operation's effect, in one transaction: the
        first request admitted orders every later one."""
        async with self.db.transaction() as tx:
            current = await self.sessions.lock(tx, update.session_id)
            seen = await self.operations.find(tx, update.op_id)
            if seen is not None:
                return _as_left(update.session_id, current, seen.epoch)
            refused = refusal(
                update.operation, update.session_id, current.status if current else None
            )
            if refused:
                raise Refused(*refused)
            stop = update.operation == Operation.STOP_SUBMISSION
            session = await self.sessions.admit(
                tx,
                update.session_id,
                TRANSITIONS[update.operation],
                stop_client=stop and update.client,
                stop_worker=stop and update.worker,
            )
            await self.operations.record(
                tx,
                update.op_id,
                update.session_id,
                update.operation,
                current.status if current else None,
                session.status,
                session.epoch,
                update.requested_by,
            )
        return SessionWrite(session, session.epoch)

    @activity.defn
    async def finish(self, update: SessionUpdate) -> SessionWrite:
        """Write the operation's last step (Purge: PURGED), unless a later operation has taken
        the session elsewhere meanwhile: then answer superseded, with the session as it is."""
        async with self.db.transaction() as tx:
            current = await self.sessions.lock(tx, update.session_id)
            seen = await self.operations.find(tx, update.op_id)
            epoch = seen.epoch if seen else 0
            if seen is not None and seen.finished:
                return _as_left(update.session_id, current, epoch)
            transition = TRANSITIONS[update.operation]
            session = await self.sessions.finish(tx, update.session_id, transition)
            if session is None:
                return SessionWrite(current, epoch, superseded=True)
            await self.operations.finish(tx, update.op_id)
        return SessionWrite(session, epoch)

    @activity.defn
    async def get_session(self, session_id: str) -> Session | None:
        """The session as it is now (a tombstone included); None once its row is gone."""
        return await self.sessions.get(session_id)

    @activity.defn
    async def delete_session(self, update: SessionUpdate) -> None:
        """Remove the session's row and the record of its operations."""
        async with self.db.transaction() as tx:
            await self.sessions.delete(tx, update.session_id)
            await self.operations.forget_session(tx, update.session_id)


def _as_left(session_id: str, session: Session | None, epoch: int) -> SessionWrite:
    """A retry of a write that already committed: answer the session as it is now."""
    if session is None:
        # Deleted, row and all, between the write and its retry.
        raise Refused(NOT_FOUND, f"session {session_id} was deleted meanwhile")
    return SessionWrite(session, epoch)
