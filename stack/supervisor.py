"""Workers kept running: one that dies is restarted after a backoff, while the rest of the
stack keeps serving.

Killing a worker is how one watches an operation survive a crash and move on to another
worker; it must not take the servers, or the user's running CLI command, down with it.
"""

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from stack.server import StartAborted
from stack.worker_process import ControlPlaneProcess

# How often each worker is checked for an exit.
POLL_INTERVAL = 0.5


class Backoff:
    """The restart delays of one worker.

    The first restart is quick: a kill is usually deliberate, and the user wants the worker
    back. A worker that keeps dying right after it starts (a bug, a store it cannot reach)
    waits longer and longer, so that it neither spins the CPU nor floods its log; once it has
    stayed up for `stable_after` seconds, its next death counts as a first one again.
    """

    def __init__(
        self,
        *,
        first: float = 1.0,
        factor: float = 2.0,
        longest: float = 30.0,
        stable_after: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.first = first
        self.factor = factor
        self.longest = longest
        self.stable_after = stable_after
        self._clock = clock
        self._up_since: float | None = None
        self._last_delay: float | None = None

    def up(self) -> None:
        """The worker answers (it was started, or restarted)."""
        self._up_since = self._clock()

    def down(self) -> float:
        """The worker died, or failed to start: how long to wait before starting it again."""
        # A failed start never came up: it counts as the quickest of deaths.
        stable = self._up_since is not None and self._clock() - self._up_since >= self.stable_after
        self._up_since = None
        if self._last_delay is None or stable:
            self._last_delay = self.first
        else:
            self._last_delay = min(self._last_delay * self.factor, self.longest)
        return self._last_delay


class Supervisor:
    """Restarts the given (started) workers when they die, each from its own thread, and
    reports every death and every return through `say`, one line each."""

    def __init__(
        self,
        workers: list[ControlPlaneProcess],
        *,
        say: Callable[[str], None],
        new_backoff: Callable[[], Backoff] = Backoff,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self.workers = list(workers)
        self._say = say
        self._new_backoff = new_backoff
        self._poll_interval = poll_interval
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for worker in self.workers:
            thread = threading.Thread(
                target=self._keep_up,
                args=(worker, self._new_backoff()),
                name=f"supervise-{worker.name}",
                # A caller that never reaches stop() must not hang the interpreter at exit.
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        """Return once no restart is waiting or under way, and none can begin.

        The workers that run keep running (Stack.stop() stops them, gracefully); one caught
        restarting is killed, since it has taken no work yet.
        """
        self._stopping.set()
        for worker in self.workers:
            # A restart that passed its last check of _stopping gives up at its next poll,
            # and kills what it spawned, before the join below returns.
            worker.abort()
        for thread in self._threads:
            # One not alive yet (a Ctrl-C cut start() short) will find _stopping set first.
            if thread.is_alive():
                thread.join()

    def _keep_up(self, worker: ControlPlaneProcess, backoff: Backoff) -> None:
        backoff.up()
        while True:
            while worker.running:
                if self._stopping.wait(self._poll_interval):
                    return
            died_at = time.monotonic()
            cause = exit_cause(worker.exit_code)
            # Reaps it, and kills whatever it left running in its process group.
            worker.kill()
            delay = backoff.down()
            self._say(f"{worker.name} died ({cause}); {self._restarting(worker, delay)}")
            while True:
                if self._stopping.wait(delay):
                    return
                try:
                    worker.start()
                except StartAborted:
                    return
                except Exception as error:
                    delay = backoff.down()
                    reason = str(error).partition("; last lines of ")[0]
                    reason = reason.removeprefix(f"{worker.name} ")
                    self._say(
                        f"{worker.name} failed to start ({reason}); "
                        f"{self._restarting(worker, delay)}"
                    )
                    continue
                break
            backoff.up()
            self._say(
                f"{worker.name} back up in {time.monotonic() - died_at:.1f} s (pid {worker.pid})"
            )

    @staticmethod
    def _restarting(worker: ControlPlaneProcess, delay: float) -> str:
        return f"restarting in {delay:g} s (log: {display_path(worker.log_path)})"


def exit_cause(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def display_path(path: Path) -> str:
    """Relative to the current folder when inside it: .state/logs/worker-1.log for `make run`."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)
