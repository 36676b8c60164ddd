"""An operation's RPC, which answers once the operation is done, raced against the live watch of
its progress (WatchOperation) drawn beside it as one bar per step on stderr; then whether a later
operation superseded it, which ArmoniK's answer does not say."""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from client.cli.output import err
from client.remote import ApiClient, Watched
from lifecycle import progress as models
from lifecycle.domain import Session
from lifecycle.eta import format_eta
from lifecycle.statuses import Operation, SessionStatus
from lifecycle.transitions import TRANSITIONS
from lifecycle.transitions import superseded as lifecycle_superseded

# How long the live progress waits before it looks again at an operation whose watch ended while
# the RPC has not answered yet (it saw an earlier execution end, or its own just before the
# answer). The RPC's answer ends the wait at once.
RELOOK = 0.25
# How long, at most, the live watch of an operation whose end cannot be read after its answer
# (a Delete) may take to deliver that end: the watch polls the operation four times a second.
LINGER = 2.0


def speed(step: models.StepProgress) -> str:
    """ "98,000/s, about 7 s left", as the workflow measured it."""
    if not step.rate:
        return ""
    if step.eta_seconds is None or step.done:
        return f"{step.rate:,.0f}/s"
    return f"{step.rate:,.0f}/s, {format_eta(step.eta_seconds)} left"


class Bars:
    """One progress bar per step of an operation, on stderr, drawn from its progress messages."""

    def __init__(self, operation: Operation) -> None:
        self.operation = operation
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[speed]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}"),
            console=err,
            transient=False,
        )
        self.bars: dict[str, Any] = {}

    def draw(self, state: models.Progress) -> None:
        note = ""
        if state.failing:
            f = next((f for f in state.failing if f.stalled), state.failing[0])
            label = "STALLED" if f.stalled else "retrying"
            note = f"{label} {f.step}, {f.calls} failed call(s): {f.last_failure[:60]}"
        elif state.retrying:
            r = state.retrying[0]
            note = f"retrying {r.activity} (attempt {r.attempt}): {r.last_failure[:60]}"
        for step in state.steps:
            if step.step not in self.bars:
                if not self.bars:
                    self.progress.start()
                self.bars[step.step] = self.progress.add_task(
                    f"{self.operation.value} {step.step}", total=step.total, note="", speed=""
                )
            self.progress.update(
                self.bars[step.step],
                completed=step.scanned,
                total=step.total if step.total is not None else step.scanned or None,
                note=note if step.step == state.step else "",
                speed=speed(step),
            )

    def stop(self) -> None:
        if self.bars:  # stopping a progress that never started would print an empty line
            self.progress.stop()


async def run_with_progress(
    api: ApiClient,
    operation: Operation,
    session_id: str,
    rpc: Callable[[], Awaitable[Session]],
    draw: bool,
) -> tuple[Session, bool | None]:
    """Run the operation's RPC, with its progress drawn beside it from the API if `draw`: the
    session it answers, and whether a later operation overtook the operation (None: the CLI
    cannot tell)."""
    bars = Bars(operation) if TRANSITIONS[operation].sweeps and draw else None
    readable_end = can_be_superseded(operation)
    answer = asyncio.ensure_future(rpc())
    try:
        if bars is not None:
            # A Delete's end cannot be read once it answered (the session is gone): its live
            # watch is left a moment to deliver it.
            linger = 0.0 if readable_end else LINGER
            await _draw_until_answered(api, operation, session_id, answer, bars, linger)
        session = await answer
        superseded = await _superseded(api, operation, session, bars) if readable_end else False
    finally:
        answer.cancel()
        if bars is not None:
            bars.stop()
    return session, superseded


def can_be_superseded(operation: Operation) -> bool:
    """Only a sweep can be overtaken, and nothing overtakes a Delete: the lifecycle's rule,
    asked about a session that is gone, answers True for exactly the operations that can be."""
    return lifecycle_superseded(operation, 0, finished=False, current=None)


async def _superseded(
    api: ApiClient, operation: Operation, session: Session, bars: Bars | None
) -> bool | None:
    """Whether a later operation overtook this one, which ArmoniK's answer does not say.

    The operation's last progress says: once the RPC answered, the session's latest
    execution of the operation is the one that answered, and a watch of it answers its last
    progress at once (the bars show it too). If it cannot be read, a session answered DELETED
    was overtaken (only a Delete takes it there, and it stops every sweep); otherwise the CLI
    cannot tell (None)."""
    last = await _last_progress(api, operation, session.session_id)
    if last is None:
        return True if session.status == SessionStatus.DELETED else None
    if bars is not None:
        bars.draw(last.progress)
    return last.progress.state == "superseded"


async def _draw_until_answered(
    api: ApiClient,
    operation: Operation,
    session_id: str,
    answer: asyncio.Future,
    bars: Bars,
    linger: float,
) -> None:
    """Draw the operation's progress from WatchOperation until the RPC answers (and then for at
    most `linger` seconds more, until the watch ends). A watch that fails stops the drawing,
    never the command: the RPC's answer decides."""
    while not answer.done():
        drawing = asyncio.ensure_future(_draw_one_watch(api, operation, session_id, bars))
        await asyncio.wait([drawing, answer], return_when=asyncio.FIRST_COMPLETED)
        if not drawing.done() and linger and not answer.cancelled() and not answer.exception():
            await asyncio.wait([drawing], timeout=linger)
        if not drawing.done():
            drawing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drawing
            return
        if drawing.exception() is not None:
            return
        await asyncio.wait([answer], timeout=RELOOK)


async def _draw_one_watch(
    api: ApiClient, operation: Operation, session_id: str, bars: Bars
) -> None:
    async with contextlib.aclosing(api.watch(operation, session_id)) as stream:
        first = True
        async for watched in stream:
            # A watch that starts with an end found an execution over before this one began
            # (an earlier pause of the session), or this one just done: the RPC's answer and
            # the last progress read after it tell which. Its figures are not drawn.
            if first and watched.ended:
                return
            first = False
            bars.draw(watched.progress)


async def _last_progress(api: ApiClient, operation: Operation, session_id: str) -> Watched | None:
    """The operation's last progress once it has ended; None if it cannot be read (the API
    lost, a server without the Operations service) or a newer execution already runs."""
    try:
        last = await api.last_progress(operation, session_id)
    except Exception:
        return None
    return last if last.ended else None
