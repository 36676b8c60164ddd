"""The limits that follow a store (stores/adaptive.py): a window of calls in flight and a batch
size, each halved by one sign of congestion and grown back by successes."""

import asyncio

import pytest

from stores.adaptive import AdaptiveSize, AdaptiveWindow, batch_size


def window(floor=1, ceiling=8, slow_after=10.0, seen=None) -> AdaptiveWindow:
    return AdaptiveWindow(
        floor,
        ceiling,
        slow_after=slow_after,
        is_congestion=lambda error: isinstance(error, TimeoutError),
        on_change=(seen.append if seen is not None else lambda _: None),
    )


async def test_no_more_calls_run_at_once_than_the_window():
    calls = window(ceiling=3)
    running = peak = 0
    release, full = asyncio.Event(), asyncio.Event()

    async def call():
        nonlocal running, peak
        async with calls.slot():
            running += 1
            peak = max(peak, running)
            if running == 3:
                full.set()
            await release.wait()
            running -= 1

    tasks = [asyncio.create_task(call()) for _ in range(10)]
    await full.wait()
    assert calls.in_flight == 3
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 3
    assert calls.in_flight == 0


async def test_a_wave_of_timeouts_halves_the_window_once():
    seen: list[int] = []
    calls = window(ceiling=32, seen=seen)
    go, all_in = asyncio.Event(), asyncio.Event()

    async def times_out():
        async with calls.slot():
            if calls.in_flight == 32:
                all_in.set()
            await go.wait()
            raise TimeoutError

    tasks = [asyncio.create_task(times_out()) for _ in range(32)]
    await all_in.wait()
    go.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)

    assert all(isinstance(r, TimeoutError) for r in results)
    assert calls.limit == 16
    assert seen == [32, 16]


async def test_the_window_never_goes_below_its_floor_nor_above_its_ceiling():
    calls = window(floor=2, ceiling=4)
    for _ in range(5):
        with pytest.raises(TimeoutError):
            async with calls.slot():
                raise TimeoutError
    assert calls.limit == 2

    for _ in range(100):
        async with calls.slot():
            pass
    assert calls.limit == 4


async def test_a_slow_answer_is_a_sign_of_congestion():
    calls = window(ceiling=8, slow_after=0.0)
    async with calls.slot():
        await asyncio.sleep(0.001)
    assert calls.limit == 4


async def test_an_error_that_is_no_congestion_leaves_the_window_as_it_is():
    calls = window(ceiling=8)
    with pytest.raises(ValueError):
        async with calls.slot():
            raise ValueError("a bug, not a slow store")
    assert calls.limit == 8


async def test_a_cancelled_call_gives_its_turn_back_and_tells_nothing():
    calls = window(ceiling=1)
    entered = asyncio.Event()

    async def hangs():
        async with calls.slot():
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(hangs())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls.in_flight == 0
    assert calls.limit == 1


def test_a_batch_size_halves_once_per_generation_and_grows_back_by_eighths():
    size = AdaptiveSize(50, 800)
    generation = size.generation
    assert size.congested(generation)
    assert not size.congested(generation), "a second failure of the same batches"
    assert size.value == 400

    for _ in range(4):
        size.succeeded()
    assert size.value == 500


def test_a_size_found_too_large_elsewhere_is_kept_below():
    size = batch_size(5000)
    size.at_most(1200)
    assert size.value == 625  # 5000 halved until at most 1200
    size.at_most(10)
    assert size.value == size._size.floor == 5000 // 64


def test_bad_bounds_are_refused():
    with pytest.raises(ValueError):
        AdaptiveSize(10, 5)
