"""Fault injection for the workflow tests: an interceptor in front of the real activities that
records every attempt, and plays what a test scripted for a given call: fail it a few times,
hold it on a gate, or change the stores just before it (another operation got in first)."""

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from lifecycle.calls import Guard, StepCall

RESULT_TIMEOUT = 20  # seconds


@dataclass
class Call:
    """One attempt of one activity, as the workflow made it."""

    activity: str
    attempt: int
    arg: Any  # the activity's input
    result: Any = None  # what it answered; None if it raised (or returns nothing)
    # When it began and ended, on one clock of every attempt's beginnings and ends.
    began: int = 0
    ended: int | None = None

    # The fields of a sweep, for short assertions.
    @property
    def step(self) -> str:
        return self.arg.step

    @property
    def after(self) -> str:
        return self.arg.after

    @property
    def until(self) -> str | None:
        return self.arg.until

    @property
    def from_statuses(self) -> list[int]:
        return self.arg.from_statuses

    @property
    def to_status(self) -> int | None:
        return self.arg.to_status

    @property
    def guard(self) -> Guard:
        return self.arg.guard

    @property
    def cursor(self) -> str:
        return self.result.cursor


@dataclass
class Gate:
    """Holds a call until the test releases it."""

    entered: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    async def reached(self, within: float = RESULT_TIMEOUT) -> None:
        """Wait until a call reached the gate (bounded: a broken test fails, not hangs)."""
        await asyncio.wait_for(self.entered.wait(), within)

    def release(self) -> None:
        self.released.set()


class Script(Interceptor):
    """`call` numbers the logical calls of one activity from 1; retries of a call share its
    number."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._numbers: Counter[str] = Counter()
        self._failures: dict[tuple[str, int], int] = {}
        self._gates: dict[tuple[str, int], Gate] = {}
        self._hooks: dict[tuple[str, int], Callable[[], None]] = {}
        self._clock = itertools.count()

    def fail(self, activity_name: str, *, call: int = 1, times: int) -> None:
        """The first `times` attempts of that call raise a plain (retriable) error."""
        self._failures[(activity_name, call)] = times

    def gate(self, activity_name: str, *, call: int = 1) -> Gate:
        gate = self._gates[(activity_name, call)] = Gate()
        return gate

    def before(self, activity_name: str, call: int, change: Callable[[], None]) -> None:
        """Run `change` just before that call does its work."""
        self._hooks[(activity_name, call)] = change

    def _tick(self) -> int:
        return next(self._clock)

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Scripted(next, self)

    async def _play(self, input: ExecuteActivityInput, next: ActivityInboundInterceptor) -> Any:
        info = activity.info()
        name = info.activity_type
        if info.attempt == 1:
            self._numbers[name] += 1
        number = self._numbers[name]
        call = Call(name, info.attempt, input.args[0] if input.args else None)
        call.began = self._tick()
        self.calls.append(call)
        try:
            if info.attempt <= self._failures.get((name, number), 0):
                raise RuntimeError(f"{name}: store outage (attempt {info.attempt})")
            hook = self._hooks.pop((name, number), None)
            if hook is not None:
                hook()
            gate = self._gates.get((name, number))
            if gate is not None:
                gate.entered.set()
                await gate.released.wait()
            call.result = await next.execute_activity(input)
            return call.result
        finally:
            call.ended = self._tick()


class _Scripted(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, script: Script) -> None:
        super().__init__(next)
        self.script = script

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        return await self.script._play(input, self.next)


def is_sweep(call: Call) -> bool:
    return isinstance(call.arg, StepCall)
