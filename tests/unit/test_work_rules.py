"""The rules of work in a session (lifecycle/work.py), over plain data: the refusal order of a
submission, the status a task is born in, retries, and what an agent finds at acquisition."""

from datetime import UTC, datetime

import pytest

from lifecycle.domain import Session, TaskOptions
from lifecycle.refusals import FAILED_PRECONDITION, INVALID_ARGUMENT, NOT_FOUND, Refused
from lifecycle.statuses import ResultStatus, SessionStatus, TaskStatus
from lifecycle.work import (
    RUN,
    SETTLED,
    ResultState,
    TaskRequest,
    after_failure,
    finalized_status,
    may_start,
    merge_options,
    on_acquire,
    plan_submission,
    ready_status,
    retry_id,
    task_id_for,
)

S, T, R = SessionStatus, TaskStatus, ResultStatus
DEFAULTS = TaskOptions(
    max_duration=60, max_retries=2, priority=3, partition_id="p", options={"a": "1"}
)


def session(status=S.RUNNING, client=True, worker=True) -> Session:
    return Session(
        "s", status, client, worker, ["p", "q"], DEFAULTS, datetime(2024, 1, 1, tzinfo=UTC)
    )


RESULTS = {
    "payload": ResultState(R.COMPLETED, None),
    "done": ResultState(R.COMPLETED, None),
    "waiting": ResultState(R.CREATED, None),
    "out": ResultState(R.CREATED, None),
    "out2": ResultState(R.CREATED, None),
    "owned": ResultState(R.CREATED, "someone"),
    "aborted": ResultState(R.ABORTED, None),
}


def plan(requests, status=S.RUNNING, **kwargs):
    flags = {k: kwargs.pop(k) for k in ("client", "worker") if k in kwargs}
    return plan_submission(session(status, **flags), "s", requests, RESULTS, **kwargs)


def refusal(*args, **kwargs) -> str:
    with pytest.raises(Refused) as refused:
        plan(*args, **kwargs)
    return refused.value.kind


def test_a_task_is_born_submitted_pending_paused_or_creating():
    ready, waits = (
        TaskRequest("payload", ("out",), ("done",)),
        TaskRequest("payload", ("out2",), ("waiting",)),
    )
    assert [t.status for t in plan([ready, waits]).tasks] == [T.SUBMITTED, T.PENDING]
    assert [t.unresolved for t in plan([ready, waits]).tasks] == [(), ("waiting",)]
    assert [t.status for t in plan([ready, waits], S.PAUSED).tasks] == [T.PAUSED, T.PENDING]
    subtasks = plan([ready, waits], parent="parent", parent_lineage=("root",)).tasks
    assert [t.status for t in subtasks] == [T.CREATING, T.CREATING]
    assert subtasks[0].parent_task_ids == ("root", "parent")
    # The payload is a dependency like the others, as in ArmoniK.
    assert plan([TaskRequest("waiting")]).tasks[0].status == T.PENDING


def test_refusals_come_in_armoniks_order():
    missing_and_bad = [TaskRequest("payload", ("ghost",), (), {"priority": 0})]
    assert refusal(missing_and_bad, S.CLOSED) == NOT_FOUND
    with pytest.raises(Refused) as refused:
        plan_submission(None, "s", missing_and_bad, RESULTS)
    assert refused.value.kind == NOT_FOUND
    bad = [TaskRequest("payload", ("out",), (), {"priority": 0})]
    for status in (S.CANCELLED, S.CLOSED, S.PURGED):
        assert refusal(bad, status) == FAILED_PRECONDITION
    assert refusal(bad, client=False) == FAILED_PRECONDITION
    assert refusal(bad, S.DELETED) == NOT_FOUND
    assert refusal(bad) == INVALID_ARGUMENT
    # A worker's subtasks follow the worker flag, a client's tasks the client flag.
    assert plan([TaskRequest("payload")], worker=False).tasks
    assert refusal([TaskRequest("payload")], parent="t", worker=False) == FAILED_PRECONDITION


@pytest.mark.parametrize(
    "request_",
    [
        TaskRequest("payload", ("owned",)),
        TaskRequest("payload", ("done",)),
        TaskRequest("payload", ("out", "out")),
        TaskRequest("payload", ("out",), ("out",)),
        TaskRequest("payload", (), ("aborted",)),
        TaskRequest("payload", (), (), {"partition_id": "elsewhere"}),
        TaskRequest("payload", (), (), {"max_retries": 0}),
        TaskRequest("payload", (), (), {"no_such_option": 1}),
        TaskRequest(""),
    ],
    ids=[
        "owned",
        "completed",
        "twice",
        "own-output",
        "aborted-dep",
        "partition",
        "retries",
        "unknown",
        "no-payload",
    ],
)
def test_what_does_not_fit_is_invalid(request_):
    assert refusal([request_]) == INVALID_ARGUMENT


def test_two_tasks_of_one_submission_cannot_share_an_output():
    assert (
        refusal([TaskRequest("payload", ("out",)), TaskRequest("done", ("out",))])
        == INVALID_ARGUMENT
    )


def test_a_retried_submission_finds_its_task():
    request = TaskRequest("payload", ("out",), ("done",))
    task_id = task_id_for("s", 0, request)
    results = {**RESULTS, "out": ResultState(R.CREATED, task_id)}
    known = {task_id: ("payload", "done")}
    again = plan_submission(session(), "s", [request], results, known=known)
    assert (again.tasks, again.existing) == ([], [task_id])
    # Another task naming the same output is not a retry.
    other = TaskRequest("payload", ("out",), ("waiting",))
    with pytest.raises(Refused):
        plan_submission(session(), "s", [other], results, known=known)


def test_task_ids_derive_from_what_makes_the_task():
    a = TaskRequest("payload", ("o1", "o2"))
    assert task_id_for("s", 0, a) == task_id_for("s", 5, TaskRequest("x", ("o2", "o1")))
    assert task_id_for("s", 0, a) != task_id_for("s", 0, a, parent="t")
    assert task_id_for("s", 0, TaskRequest("p")) != task_id_for("s", 1, TaskRequest("p"))
    assert task_id_for("s", 0, TaskRequest("p", task_id="mine")) == "mine"


def test_options_merge_over_the_sessions():
    merged = merge_options(DEFAULTS, {"priority": 9, "options": {"b": "2"}})
    assert (merged.priority, merged.max_retries, merged.partition_id) == (9, 2, "p")
    assert merged.options == {"a": "1", "b": "2"}


def test_ready_tasks_follow_the_session():
    assert ready_status(S.RUNNING) == T.SUBMITTED
    assert ready_status(S.CLOSED) == T.SUBMITTED
    assert ready_status(S.PAUSED) == T.PAUSED
    for status in (S.CANCELLED, S.PURGED, S.DELETED):
        assert ready_status(status) == T.CANCELLED
    assert finalized_status(S.RUNNING, waits=True) == T.PENDING
    assert finalized_status(S.PAUSED, waits=False) == T.PAUSED


def test_an_agent_checks_the_session_before_running():
    assert on_acquire(S.RUNNING, T.SUBMITTED) == (RUN, T.DISPATCHED)
    assert on_acquire(S.PAUSED, T.SUBMITTED) == (SETTLED, T.PAUSED)
    for status in (S.CANCELLED, S.CLOSED, S.PURGED, S.DELETED):
        assert on_acquire(status, T.SUBMITTED) == (SETTLED, T.CANCELLED)
    for status in (T.DISPATCHED, T.CANCELLED, T.COMPLETED, T.PAUSED):
        assert on_acquire(S.RUNNING, status) == (SETTLED, None)
    assert may_start(S.RUNNING, T.DISPATCHED, owned=True)
    assert not may_start(S.PAUSED, T.DISPATCHED, owned=True)
    assert not may_start(S.RUNNING, T.PAUSED, owned=True)
    assert not may_start(S.RUNNING, T.DISPATCHED, owned=False)


def test_retries_as_armonik_counts_them():
    assert after_failure(0, 2, retriable=True) == T.RETRIED
    assert after_failure(1, 2, retriable=True) == T.RETRIED
    assert after_failure(2, 2, retriable=True) == T.ERROR
    assert after_failure(0, 2, retriable=False) == T.ERROR
    assert retry_id("t", 0) == "t###1"
    assert retry_id("t", 1) == "t###2"
