"""The restart delays of a supervised worker, on a fake clock, and how a death is described.
The supervisor against real processes is in test_stack.py."""

import signal

import pytest

from stack.supervisor import Backoff, exit_cause


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_on_quick_deaths_up_to_its_longest() -> None:
    clock = FakeClock()
    backoff = Backoff(first=1, factor=2, longest=30, stable_after=60, clock=clock)
    delays = []
    for _ in range(7):
        backoff.up()
        clock.now += 5
        delays.append(backoff.down())
    assert delays == [1, 2, 4, 8, 16, 30, 30]


def test_a_failed_start_counts_as_a_quick_death() -> None:
    clock = FakeClock()
    backoff = Backoff(first=1, factor=2, longest=30, stable_after=60, clock=clock)
    backoff.up()
    clock.now += 3600
    assert backoff.down() == 1
    # Never came up again: however long the failed start took, the delay grows.
    clock.now += 120
    assert backoff.down() == 2
    clock.now += 120
    assert backoff.down() == 4


def test_backoff_resets_once_the_worker_stayed_up_long_enough() -> None:
    clock = FakeClock()
    backoff = Backoff(first=1, factor=2, longest=30, stable_after=60, clock=clock)
    for _ in range(4):
        backoff.up()
        clock.now += 1
        backoff.down()
    backoff.up()
    clock.now += 59.9
    assert backoff.down() == 16  # just short of stable: still growing
    backoff.up()
    clock.now += 60
    assert backoff.down() == 1
    backoff.up()
    clock.now += 1
    assert backoff.down() == 2


@pytest.mark.parametrize(
    ("code", "cause"),
    [
        (-signal.SIGKILL, "killed by SIGKILL"),
        (-signal.SIGTERM, "killed by SIGTERM"),
        (3, "exited with code 3"),
        (0, "exited with code 0"),
    ],
)
def test_exit_cause_names_the_signal_or_the_code(code: int, cause: str) -> None:
    assert exit_cause(code) == cause
