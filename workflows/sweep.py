"""The sweep engine of the bulk operations: a sweep walks a session's rows in ranges that run side
by side, each in calls of many batches; in each range the first stage (an arrow of the diagram)
opens a span of batches and the others follow it over the same span, in the diagram's order.
The stage catalog says which activity each arrow is, over which rows and flip.

The two arrows of a range overlap: while the first stage opens the next span, the others follow
it over the span before. Each arrow goes to its own store (the tasks' flip to PostgreSQL, their
queue entries to Redis; the objects to S3, then their rows), so a range takes about as long as
its slower arrow, not the sum of both. What the diagram orders stays ordered: within a span, a
stage runs only after the one before it has walked that span (objects are gone before their
rows are, a task is flipped before its queue entry moves), and the spans of one stage follow
each other.
"""

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.object_storage import ObjectStorageActivities
    from activities.queue import QueueActivities
    from activities.ranges import RangesActivities
    from activities.results import ResultsActivities
    from activities.tasks import TasksActivities
    from lifecycle.calls import PlanRequest, StepCall, SweepState
    from lifecycle.progress import StepProgress, range_step
    from lifecycle.transitions import RESULTS, TASKS, Flip

# A batch activity: a method of one of the activity classes, over a StepCall.
BatchActivity = Callable[[Any, StepCall], Awaitable[StepProgress]]

# The patch under which a range's stages overlap (workflow.patched).
OVERLAPPED = "overlapped-sweep"


@dataclass(frozen=True)
class Stage:
    """One arrow of a sweep: an activity called over the range the sweep's first stage opened."""

    activity: BatchActivity
    step: str
    rows: str  # the table whose rows it walks: "tasks" or "results"
    flip: Flip | None = None
    statuses: frozenset[int] = frozenset()
    keep_manual: bool = False


def update_tasks(flip: Flip) -> Stage:
    return Stage(TasksActivities.update_tasks, "tasks", TASKS, flip=flip)


def delete_tasks() -> Stage:
    return Stage(TasksActivities.delete_tasks, "tasks", TASKS)


def enqueue_tasks() -> Stage:
    return Stage(QueueActivities.enqueue_tasks, "queue", TASKS)


def dequeue_tasks(statuses: frozenset[int] = frozenset()) -> Stage:
    """Take the tasks in `statuses` (every task if empty) out of their queue."""
    return Stage(QueueActivities.dequeue_tasks, "queue", TASKS, statuses=statuses)


def update_results(flip: Flip) -> Stage:
    return Stage(ResultsActivities.update_results, "results", RESULTS, flip=flip)


def delete_results() -> Stage:
    return Stage(ResultsActivities.delete_results, "results", RESULTS)


def delete_objects(statuses: frozenset[int] = frozenset(), keep_manual: bool = False) -> Stage:
    """Delete the objects of the results in `statuses` (every result if empty)."""
    delete = ObjectStorageActivities.delete_objects
    return Stage(delete, "objects", RESULTS, statuses=statuses, keep_manual=keep_manual)


class Sweeping:
    """The sweeps of an operation's workflow (SessionOperation is one): its progress board,
    continue-as-new and calls are the operation's."""

    async def sweep(self, *stages: Stage) -> None:
        """Walk the session's rows: cut them into ranges (one, or `sweep_ranges`) that run side by
        side, each in calls of many batches. In each range the first stage opens a span of
        batches and the others follow it over the same span, in the diagram's order."""
        name = stages[0].step
        if name in self.steps_done or self.superseded:
            return
        self.final = None
        carried = self.request.carried
        state = carried.sweep if carried is not None else None
        if state is None or state.step != name:
            self.board.at(name)
            request = PlanRequest(
                self.op_id, self.request.session_id, name, stages[0].rows, self.request.sweep_ranges
            )
            plan = await self._call(RangesActivities.plan_sweep, request, batch=True)
            state = SweepState(
                name, plan, [r.after for r in plan.ranges], [False] * len(plan.ranges)
            )
            self.board.planned([s.step for s in stages], plan.total, len(plan.ranges))
        # A sweep begun before the arrows overlapped replays as it ran: one stage after another.
        walk = self._walk_range if workflow.patched(OVERLAPPED) else self._walk_range_in_turn
        if state.opened is None or state.opened_done is None:
            state.opened, state.opened_done = list(state.cursors), list(state.done)
        while not all(state.done):
            walking = [i for i, done in enumerate(state.done) if not done]
            await asyncio.gather(*(walk(stages, state, i) for i in walking))
            if self.superseded:
                return
            self._continue_as_new_if_long(state)
        self.steps_done.append(name)

    async def _walk_range(self, stages: tuple[Stage, ...], state: SweepState, i: int) -> None:
        """One call of the range's first stage, beside the others over the span its call before
        opened."""
        assert state.opened is not None and state.opened_done is not None
        ranges = len(state.cursors)
        cursor, opened, ended = state.cursors[i], state.opened[i], state.opened_done[i]
        followers = stages[1:]

        async def lead() -> StepProgress | None:
            if ended:
                return None
            until = state.plan.ranges[i].until
            return await self._stage(stages[0], i, ranges, after=opened, until=until)

        async def follow() -> None:
            for stage in followers:
                if self.superseded or opened == cursor:
                    return
                await self._stage(
                    stage, i, ranges, after=cursor, until=opened, follows=True, ends=ended
                )

        led, _ = await asyncio.gather(lead(), follow())
        if self.superseded:
            return
        state.cursors[i] = opened
        if led is not None:
            state.opened[i], state.opened_done[i] = led.cursor, led.done
        if not followers:
            state.cursors[i] = state.opened[i]
        if state.opened_done[i] and state.cursors[i] == state.opened[i]:
            # Followers are done with the range once it ended, even when its last call walked
            # nothing for them to follow.
            for stage in followers:
                self.board.range_done(range_step(stage.step, i, ranges))
            state.done[i] = True

    async def _walk_range_in_turn(
        self, stages: tuple[Stage, ...], state: SweepState, i: int
    ) -> None:
        """One call of the range's first stage, then the others over what it walked."""
        cursor, until = state.cursors[i], state.plan.ranges[i].until
        ranges = len(state.cursors)
        opened = await self._stage(stages[0], i, ranges, after=cursor, until=until)
        for stage in stages[1:]:
            if self.superseded or opened.cursor == cursor:
                break
            await self._stage(
                stage, i, ranges, after=cursor, until=opened.cursor, follows=True, ends=opened.done
            )
        if opened.done and not self.superseded:
            # Followers are done with the range once it ended, even when its last call walked
            # nothing for them to follow.
            for stage in stages[1:]:
                self.board.range_done(range_step(stage.step, i, ranges))
        state.cursors[i], state.done[i] = opened.cursor, opened.done
        assert state.opened is not None and state.opened_done is not None
        state.opened[i], state.opened_done[i] = opened.cursor, opened.done

    async def _stage(
        self,
        stage: Stage,
        index: int,
        ranges: int,
        after: str,
        until: str | None,
        follows: bool = False,
        ends: bool = True,
    ) -> StepProgress:
        """One call of `stage`. A stage that follows another is done with its range only when
        the call it follows reached the range's end (`ends`), not when it caught up with it."""
        sweep = StepCall(
            op_id=self.op_id,
            session_id=self.request.session_id,
            step=range_step(stage.step, index, ranges),
            guard=self.guard(),
            after=after,
            until=until,
            follows=follows,
            from_statuses=sorted(stage.flip.from_statuses if stage.flip else stage.statuses),
            to_status=stage.flip.to_status if stage.flip else None,
            keep_manual=stage.keep_manual,
        )
        if not follows or ends:
            # The step shown is the sweep's front: the first stage while it opens spans, the
            # others once it ended, not whichever call began last beside it.
            self.board.at(stage.step)
        result = await self._call(stage.activity, sweep, batch=True, step=sweep.step)
        if follows and not ends:
            result = dataclasses.replace(result, done=False)
        self.board.record(result)
        if result.superseded:
            self.superseded = True
        return result
