"""The rules of work in a session: which submissions are admitted, the status a task is born in,
when it becomes ready, and what an agent's report does to it (SPEC §6, after ArmoniK.Core's
TaskLifeCycleHelper, ResultLifeCycleHelper and TaskHandler). Pure functions over plain data: the
engine reads the rows, asks these, and writes what they answer, in one transaction."""

import uuid
from dataclasses import dataclass, field

from lifecycle.domain import TASK_OPTION_NAMES, Session, TaskOptions
from lifecycle.options import check_task_options
from lifecycle.refusals import FAILED_PRECONDITION, INVALID_ARGUMENT, NOT_FOUND, Refused
from lifecycle.statuses import FINAL_TASK_STATUSES, ResultStatus, SessionStatus, TaskStatus

S, T, R = SessionStatus, TaskStatus, ResultStatus

# A session takes new tasks only while it is one of these (and its submission flag is up).
SUBMITTABLE = frozenset({S.RUNNING, S.PAUSED})
# Results take data while their session is one of these: a CLOSED session's running tasks may
# still finish and hand in their outputs, as in ArmoniK.
WRITABLE = frozenset({S.RUNNING, S.PAUSED, S.CLOSED})
# The statuses a task waits in before it is ever queued. TerminateTasksAndResults ends only
# these when a result they wait on is aborted: a task already queued or running is settled by
# its own agent.
WAITING = frozenset({T.CREATING, T.PENDING})
# An agent may take a task only from the queue's status.
ACQUIRABLE = T.SUBMITTED
# ArmoniK's retry ids: the first task's id, then "###" and the retry's number.
RETRY_SEPARATOR = "###"
NAMESPACE = uuid.UUID("5d1a3c1e-6a3e-4f0c-9a47-0f6c2b1d7e18")


def ready_status(session: SessionStatus) -> TaskStatus:
    """The status of a task whose last dependency is resolved. In a PAUSED session it waits
    PAUSED, out of the queue, for the Resume to queue it (as ArmoniK's FinalizeTaskCreation
    does); in a session that can run nothing more it is CANCELLED, so that no late completion
    queues work the Cancel sweep has already passed."""
    if session == S.PAUSED:
        return T.PAUSED
    if session in (S.RUNNING, S.CLOSED):
        return T.SUBMITTED
    return T.CANCELLED


def session_refusal(session: Session | None, session_id: str) -> Refused | None:
    """NOT_FOUND for a session that is missing or deleted: checked before anything else."""
    if session is None or session.status == S.DELETED:
        return Refused(NOT_FOUND, f"session {session_id} not found")
    return None


def submission_refusal(session: Session, by_worker: bool) -> Refused | None:
    """FAILED_PRECONDITION when the session takes no new task: not RUNNING or PAUSED, or the
    submission flag of the caller (a client or a worker's subtasks) is down."""
    if session.status not in SUBMITTABLE:
        return Refused(
            FAILED_PRECONDITION,
            f"session {session.session_id} is {session.status.name}: it takes no new task",
        )
    if not (session.worker_submission if by_worker else session.client_submission):
        who = "worker" if by_worker else "client"
        return Refused(
            FAILED_PRECONDITION, f"{who} submission is stopped for session {session.session_id}"
        )
    return None


def merge_options(defaults: TaskOptions, overrides: dict | None) -> TaskOptions:
    """A task's options: the fields it sets over its session's defaults; the free-form map
    merged key by key (ArmoniK's TaskOptions.Merge)."""
    overrides = overrides or {}
    unknown = set(overrides) - set(TASK_OPTION_NAMES) - {"options"}
    if unknown:
        raise Refused(INVALID_ARGUMENT, f"unknown task options: {sorted(unknown)}")
    merged = {n: overrides.get(n, getattr(defaults, n)) for n in TASK_OPTION_NAMES}
    return TaskOptions(**merged, options={**defaults.options, **overrides.get("options", {})})


@dataclass(frozen=True)
class TaskRequest:
    """One task of a submission, as the caller gave it."""

    payload_id: str
    expected_output_ids: tuple[str, ...] = ()
    data_dependencies: tuple[str, ...] = ()
    # The option fields it sets; the rest come from the session.
    options: dict | None = None
    # A caller-chosen id; by default one derived from the request (task_id_for).
    task_id: str | None = None


@dataclass(frozen=True)
class ResultState:
    status: int
    owner_task_id: str | None


@dataclass
class PlannedTask:
    task_id: str
    status: TaskStatus
    options: TaskOptions
    payload_id: str
    expected_output_ids: tuple[str, ...]
    # Every dependency (the payload first), and those not COMPLETED yet.
    data_dependencies: tuple[str, ...]
    unresolved: tuple[str, ...]
    parent_task_ids: tuple[str, ...] = ()
    created_by: str = ""


@dataclass
class SubmissionPlan:
    tasks: list[PlannedTask] = field(default_factory=list)
    # Tasks of the request that exist already: a retried submission, answered as it was.
    existing: list[str] = field(default_factory=list)
    # Every task's id, in the request's order, which the answer keeps.
    order: list[str] = field(default_factory=list)


def task_id_for(session_id: str, index: int, request: TaskRequest, parent: str = "") -> str:
    """A retried submission must find the tasks it made the first time. ArmoniK draws task ids
    at random; here they derive from what makes a task itself: its outputs, which no two tasks
    share, or for a task without outputs its place in the request and its inputs."""
    if request.task_id:
        return request.task_id
    if request.expected_output_ids:
        # A subtask may expect its parent's outputs: the parent is part of what names it.
        key = f"o\x00{parent}\x00" + "\x00".join(sorted(request.expected_output_ids))
    else:
        inputs = "\x00".join((request.payload_id, *request.data_dependencies))
        key = f"i\x00{parent}\x00{index}\x00{inputs}"
    return str(uuid.uuid5(NAMESPACE, f"{session_id}\x00{key}"))


def referenced_results(requests: list[TaskRequest]) -> set[str]:
    return {
        r
        for q in requests
        for r in (q.payload_id, *q.expected_output_ids, *q.data_dependencies)
        if r
    }


def plan_submission(
    session: Session | None,
    session_id: str,
    requests: list[TaskRequest],
    results: dict[str, ResultState],
    *,
    parent: str = "",
    parent_lineage: tuple[str, ...] = (),
    known: dict[str, tuple[str, ...]] | None = None,
) -> SubmissionPlan:
    """The tasks a submission creates, or its refusal, in ArmoniK's order: NOT_FOUND (the
    session, then a result), FAILED_PRECONDITION (the session's state), INVALID_ARGUMENT (what
    does not fit). `results` holds the referenced results the session has; `parent` is the task
    that submits these as subtasks (a worker's), which are CREATING until it completes; `known`
    the data dependencies (payload first) of the tasks that own the outputs: a request whose
    task exists with the same outputs and inputs is a retry, answered with it."""
    known = known or {}
    missing = session_refusal(session, session_id)
    if missing:
        raise missing
    assert session is not None
    if not requests:
        raise Refused(INVALID_ARGUMENT, "a submission holds at least one task")
    unknown = sorted(referenced_results(requests) - set(results))
    if unknown:
        raise Refused(NOT_FOUND, f"results not found in session {session_id}: {unknown[:10]}")
    closed = submission_refusal(session, by_worker=bool(parent))
    if closed:
        raise closed
    plan = SubmissionPlan()
    claimed: set[str] = set()
    named: set[str] = set()
    for index, request in enumerate(requests):
        task_id = task_id_for(session_id, index, request, parent)
        if task_id in named:
            raise Refused(
                INVALID_ARGUMENT, f"task {index} has the outputs or the id of another task"
            )
        named.add(task_id)
        plan.order.append(task_id)
        options = merge_options(session.options, request.options)
        check_task_options(options)
        if options.partition_id not in session.partition_ids:
            raise Refused(
                INVALID_ARGUMENT,
                f"partition_id {options.partition_id!r} is not among the session's partitions",
            )
        if not request.payload_id:
            raise Refused(INVALID_ARGUMENT, "a task needs a payload")
        outputs = tuple(dict.fromkeys(request.expected_output_ids))
        if len(outputs) != len(request.expected_output_ids):
            raise Refused(INVALID_ARGUMENT, f"task {index} names an expected output twice")
        dependencies = tuple(dict.fromkeys((request.payload_id, *request.data_dependencies)))
        owned = [results[o].owner_task_id == task_id for o in outputs]
        if outputs and all(owned) and known.get(task_id) == dependencies:
            plan.existing.append(task_id)
            continue
        for output in outputs:
            state = results[output]
            # A subtask may take over an output of its parent (ArmoniK's delegation).
            free = state.owner_task_id in (None, "") or (parent and state.owner_task_id == parent)
            if state.status != R.CREATED or not free or output in claimed:
                raise Refused(
                    INVALID_ARGUMENT,
                    f"result {output} cannot be an expected output: it is "
                    f"{ResultStatus(state.status).name}"
                    + (f", owned by task {state.owner_task_id}" if state.owner_task_id else ""),
                )
            claimed.add(output)
        if set(dependencies) & set(outputs):
            raise Refused(INVALID_ARGUMENT, f"task {index} depends on its own output")
        lost = [d for d in dependencies if results[d].status not in (R.CREATED, R.COMPLETED)]
        if lost:
            raise Refused(
                INVALID_ARGUMENT,
                f"task {index} depends on results that will never complete: {lost[:10]}",
            )
        unresolved = tuple(d for d in dependencies if results[d].status != R.COMPLETED)
        plan.tasks.append(
            PlannedTask(
                task_id=task_id,
                status=initial_status(session.status, bool(unresolved), bool(parent)),
                options=options,
                payload_id=request.payload_id,
                expected_output_ids=outputs,
                data_dependencies=dependencies,
                unresolved=unresolved,
                parent_task_ids=(*parent_lineage, parent) if parent else (),
                created_by=parent,
            )
        )
    return plan


def initial_status(session: SessionStatus, waits: bool, subtask: bool) -> TaskStatus:
    """A subtask stays CREATING until the task that submitted it completes (ArmoniK submits
    children only then); a task with a dependency not COMPLETED is PENDING; else it is ready."""
    if subtask:
        return T.CREATING
    if waits:
        return T.PENDING
    return ready_status(session)


def finalized_status(session: SessionStatus, waits: bool) -> TaskStatus:
    """A CREATING subtask once its parent completed."""
    return T.PENDING if waits else ready_status(session)


# What an agent finds when it acquires a queued task.
RUN, SETTLED = "run", "settled"


def on_acquire(session: SessionStatus, task: TaskStatus) -> tuple[str, TaskStatus | None]:
    """(what the agent does, the task's new status or None to leave it). Only a SUBMITTED task is
    taken (DISPATCHED). The session is checked first (ArmoniK #940): in a PAUSED session the task
    goes PAUSED and leaves the queue; in one that runs nothing more, it is CANCELLED."""
    if task != ACQUIRABLE:
        return SETTLED, None
    if session == S.RUNNING:
        return RUN, T.DISPATCHED
    if session == S.PAUSED:
        return SETTLED, T.PAUSED
    return SETTLED, T.CANCELLED


def may_start(session: SessionStatus, task: TaskStatus, owned: bool) -> bool:
    """A task starts PROCESSING only DISPATCHED to this agent, in a RUNNING session: a Pause
    admitted since its acquisition has made it PAUSED, so it never starts."""
    return owned and task == T.DISPATCHED and session == S.RUNNING


def after_failure(retries_done: int, max_retries: int, retriable: bool) -> TaskStatus:
    """A worker call that failed (a crash, a broken call) is retried while fewer than
    max_retries retries were made (ArmoniK counts RetryOfIds); an error the worker returned is
    never retried."""
    if retriable and retries_done < max_retries:
        return T.RETRIED
    return T.ERROR


def retry_id(initial_task_id: str, retries_done: int) -> str:
    return f"{initial_task_id}{RETRY_SEPARATOR}{retries_done + 1}"


def is_final(status: int) -> bool:
    return status in FINAL_TASK_STATUSES
