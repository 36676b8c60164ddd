"""Limits that follow the store: how many calls a process keeps in flight to one store, and how
large a batch it sends, both found from what the store answers rather than fixed in advance.

A bound tuned on one day's store speed is a guess: under a slower store, 32 S3 delete calls in
flight made every call outlast its timeout, each retry added the same load again, and a purge
never ended. So both limits here are AIMD (additive increase, multiplicative decrease), as TCP's
congestion window is: a sign of congestion (a timeout, a throttling answer, a call much slower
than usual) halves the limit at once, and each success earns a little of it back, between a
floor and a ceiling from the settings. A window of calls also starts small and grows by one
call per success until its first congestion (TCP's slow start), so that the first wave sent to
a slow store is a few calls, not the ceiling's worth.

One sign of congestion is usually many: a wave of calls started together times out together.
Only the first failure of a wave counts, so that a wave of 32 timeouts halves the window once,
not 32 times: a call that began before the last decrease does not decrease it again.

No maintained package on PyPI does this for asyncio (adaptive-concurrency had one release, in
2020), hence this small module, tested in tests/unit/test_adaptive.py.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

# Told each new value of a limit: a metrics gauge, for one (telemetry/metrics.py).
OnChange = Callable[[int], None]


def _nothing(value: int) -> None:
    pass


class _Aimd:
    """The value both limits share: halved on congestion, grown by `step` after `grow_after`
    successes in a row (given the value: a window grows by one per window's worth of calls, as
    TCP's does per round trip), kept within [floor, ceiling]."""

    def __init__(
        self,
        floor: int,
        ceiling: int,
        initial: int | None,
        step: int,
        grow_after: Callable[[int], int],
        on_change: OnChange,
    ) -> None:
        if not 1 <= floor <= ceiling:
            raise ValueError(
                f"an adaptive limit needs 1 <= floor <= ceiling, not {floor}, {ceiling}"
            )
        self.floor = floor
        self.ceiling = ceiling
        self.value = ceiling if initial is None else max(floor, min(ceiling, initial))
        self.step = max(1, step)
        self.grow_after = grow_after
        # Below this, every success grows the value by one (slow start); the first congestion
        # ends it.
        self.threshold = self.value if initial is None else ceiling
        # Bumped by each decrease: a congestion sign from before it is not counted twice.
        self.generation = 0
        self._successes = 0
        self._on_change = on_change
        on_change(self.value)

    def congested(self, generation: int) -> bool:
        """One sign of congestion from work begun in `generation`; whether it lowered the
        value."""
        if generation != self.generation:
            return False
        self.generation += 1
        self._successes = 0
        self.threshold = max(self.floor, self.value // 2)
        self._set(self.threshold)
        return True

    def succeeded(self) -> None:
        if self.value < self.threshold:
            self._set(self.value + 1)
            return
        self._successes += 1
        if self._successes >= self.grow_after(self.value) and self.value < self.ceiling:
            self._successes = 0
            self._set(min(self.ceiling, self.value + self.step))

    def _set(self, value: int) -> None:
        if value != self.value:
            self.value = value
            self._on_change(value)


class AdaptiveWindow:
    """How many calls to a store may be in flight at once in this process.

    A call takes a slot (`async with window.slot() as call`), and tells how it went: by
    returning (a success, unless it took longer than `slow_after`), by `call.congested()` (a
    throttling answer it got, such as S3's SlowDown), or by raising (an error that
    `is_congestion` names, a timeout say, is a sign of congestion; any other is not). A call
    cancelled before its answer tells nothing.
    """

    def __init__(
        self,
        floor: int,
        ceiling: int,
        *,
        slow_after: float,
        is_congestion: Callable[[BaseException], bool],
        on_change: OnChange = _nothing,
        initial: int | None = None,
    ) -> None:
        self._limit = _Aimd(floor, ceiling, initial, 1, lambda window: window, on_change)
        self.slow_after = slow_after
        self.is_congestion = is_congestion
        self.in_flight = 0
        self._turn = asyncio.Condition()

    @property
    def limit(self) -> int:
        return self._limit.value

    @asynccontextmanager
    async def slot(self) -> AsyncIterator["_Call"]:
        async with self._turn:
            await self._turn.wait_for(lambda: self.in_flight < self._limit.value)
            self.in_flight += 1
        call = _Call(self._limit.generation)
        began = time.monotonic()
        try:
            yield call
            call.completed = not call.abandoned
        except Exception as error:
            if self.is_congestion(error):
                call.congested()
            raise
        finally:
            # Shielded: a cancelled caller (its batch failed elsewhere) still gives its turn
            # back, and tells what it learned.
            await asyncio.shield(self._release(call, time.monotonic() - began))

    async def _release(self, call: "_Call", seconds: float) -> None:
        async with self._turn:
            self.in_flight -= 1
            if call.congestion or seconds > self.slow_after:
                self._limit.congested(call.generation)
            elif call.completed:
                self._limit.succeeded()
            self._turn.notify_all()


class _Call:
    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.congestion = False
        self.completed = False
        self.abandoned = False

    def congested(self) -> None:
        """The store answered, but asked to slow down."""
        self.congestion = True

    def abandon(self) -> None:
        """The turn was not used: it tells nothing of the store."""
        self.abandoned = True


# Batches in a row that succeed before a batch size grows by an eighth of its ceiling.
GROW_AFTER_BATCHES = 4


class AdaptiveSize:
    """How many rows (or members) one batch of a store carries in this process: halved after a
    batch that timed out or ran slow, and grown back by an eighth of the ceiling after each few
    successes in a row."""

    def __init__(self, floor: int, ceiling: int, on_change: OnChange = _nothing) -> None:
        step = max(1, ceiling // 8)
        self._size = _Aimd(floor, ceiling, None, step, lambda _: GROW_AFTER_BATCHES, on_change)

    @property
    def value(self) -> int:
        return self._size.value

    @property
    def generation(self) -> int:
        return self._size.generation

    def succeeded(self) -> None:
        self._size.succeeded()

    def congested(self, generation: int) -> bool:
        """A batch begun at `generation` timed out or ran slow; whether the size went down."""
        return self._size.congested(generation)

    def at_most(self, size: int) -> None:
        """A size that an earlier attempt found too large, on this or another worker: keep
        below it from now on (until successes grow it back)."""
        while self._size.value > max(size, self._size.floor):
            self._size.congested(self._size.generation)


# A batch size never goes below this share of its configured size.
SMALLEST_SHARE = 64


def batch_size(configured: int, on_change: OnChange = _nothing) -> AdaptiveSize:
    """The adaptive size of batches configured at `configured` rows."""
    return AdaptiveSize(max(1, configured // SMALLEST_SHARE), configured, on_change)
