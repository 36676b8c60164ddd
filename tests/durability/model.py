"""A model of one session, to replay the operations a session admitted (in the order its
admissions committed) and compare with what the stores hold."""

from collections import Counter
from dataclasses import dataclass, field

from adapters.connect import Stores
from engine.operations import Engine, OperationHandle
from lifecycle.refusals import Refused
from lifecycle.requests import OperationOutcome
from lifecycle.statuses import Operation, ResultStatus, SessionStatus
from lifecycle.transitions import RESULT_FLIPS, TASK_FLIPS, TRANSITIONS
from tests.support import op_id, result_rows


@dataclass
class SessionModel:
    status: SessionStatus = SessionStatus.RUNNING
    client_submission: bool = True
    worker_submission: bool = True
    tasks: Counter = field(default_factory=Counter)  # status -> count
    # (status, manual_deletion, has an object) -> count
    results: Counter = field(default_factory=Counter)
    deleted: bool = False

    def apply(self, operation: Operation, client: bool = True, worker: bool = True) -> None:
        """An operation admitted and finished with nothing in between."""
        self.admit(operation, client, worker)
        self.finish(operation)

    def admit(self, operation: Operation, client: bool = True, worker: bool = True) -> None:
        assert not self.deleted, f"{operation.value} admitted after delete"
        transition = TRANSITIONS[operation]
        assert self.status in transition.accepts, f"{operation.value} admitted from {self.status}"
        if operation == Operation.DELETE:
            self.__dict__.update(vars(gone()))
            return
        if transition.admits_to is not None:
            self.status = transition.admits_to
        if transition.stops_submission:
            self.client_submission = self.worker_submission = False
        if operation == Operation.STOP_SUBMISSION:
            self.client_submission &= not client
            self.worker_submission &= not worker
        if operation in TASK_FLIPS:
            flip = TASK_FLIPS[operation]
            moving = {s: n for s, n in self.tasks.items() if s in flip.from_statuses}
            self.tasks -= Counter(moving)
            self.tasks[flip.to_status] += sum(moving.values())
        if operation == Operation.CANCEL:
            self._flip_results(RESULT_FLIPS[operation], keep_manual=False)
        self.tasks = +self.tasks
        self.results = +self.results

    def finish(self, operation: Operation) -> None:
        """The last step of an operation whose effect comes with it (Purge): it takes effect
        where that step committed, which may be after other operations' admissions."""
        transition = TRANSITIONS[operation]
        if transition.finishes_to is None or self.deleted:
            return
        assert self.status in transition.sweeps_while, f"{operation.value} ended in {self.status}"
        self.status = transition.finishes_to
        self.client_submission = self.worker_submission = False
        self._flip_results(RESULT_FLIPS[operation], keep_manual=True)
        self.results = +self.results

    def _flip_results(self, flip, keep_manual: bool) -> None:
        after: Counter = Counter()
        for (status, manual, has_object), n in self.results.items():
            if status in flip.from_statuses and not (keep_manual and manual):
                deleted = flip.to_status == ResultStatus.DELETED
                after[(flip.to_status, manual, has_object and not deleted)] += n
            else:
                after[(status, manual, has_object)] += n
        self.results = after


def gone() -> SessionModel:
    """A deleted session: nothing of it is left."""
    return SessionModel(
        status=SessionStatus.DELETED,
        client_submission=False,
        worker_submission=False,
        deleted=True,
    )


async def observe(stores: Stores, session_id: str) -> SessionModel:
    """The session as the stores hold it, in the model's terms."""
    session = await stores.sessions.get(session_id)
    if session is None:
        return gone()
    rows = await result_rows(stores, session_id)
    objects = set(await stores.objects.keys(f"{session_id}/"))
    return SessionModel(
        status=session.status,
        client_submission=session.client_submission,
        worker_submission=session.worker_submission,
        tasks=+Counter(await stores.tasks.count_by_status(session_id)),
        results=+Counter((r.status, r.manual_deletion, r.opaque_id in objects) for r in rows),
    )


@dataclass
class Request:
    """One request of a client, and how it ended."""

    session_id: str
    operation: Operation
    client: bool = True
    worker: bool = True
    delay: float = 0.0
    handle: OperationHandle | None = None
    outcome: OperationOutcome | None = None
    refused: Refused | None = None


async def send(client: Engine, request: Request) -> Request:
    """Start the request's operation (or join the one running) and wait for its end."""
    request.handle = await client.start(
        request.operation, request.session_id, client=request.client, worker=request.worker
    )
    try:
        request.outcome = await request.handle.result()
    except Refused as refused:
        request.refused = refused
    return request


async def assert_replays(
    stores: Stores, session_id: str, initial: SessionModel, requests: list[Request]
) -> SessionModel | None:
    """Once every request on the session has ended: the stores hold what replaying the admitted
    requests on `initial`, in the order the session admitted them, gives; every accepted request
    was admitted (joined requests share one admission) and no refused one was. Answers the
    replayed model, or None once the session is deleted."""
    mine = [r for r in requests if r.session_id == session_id]
    final = await observe(stores, session_id)
    if final.deleted:
        assert any(r.operation == Operation.DELETE and r.outcome for r in mine)
        return None
    log = await stores.operations.of_session(session_id)
    admitted = [a for a in log if a.operation != Operation.CREATE]
    by_op = {op_id(r.handle): r for r in mine}
    # An operation whose effect comes with its last step (Purge) takes effect where that step
    # committed, which may be after other operations' admissions.
    events = [(a.seq, "admit", a) for a in admitted]
    events += [(a.finished_seq, "finish", a) for a in admitted if a.finished_seq]
    model = SessionModel(**{**vars(initial), "tasks": +initial.tasks, "results": +initial.results})
    for _, event, admission in sorted(events, key=lambda e: e[0]):
        request = by_op[admission.op_id]
        assert request.outcome is not None, "an admitted request must not be refused"
        if event == "admit":
            model.admit(admission.operation, request.client, request.worker)
        else:
            model.finish(admission.operation)
    admitted_ids = {a.op_id for a in admitted}
    assert {op_id(r.handle) for r in mine if r.outcome} == admitted_ids
    assert not {op_id(r.handle) for r in mine if r.refused} & admitted_ids
    assert final == model, f"session {session_id}: {final} != {model}"
    return model
