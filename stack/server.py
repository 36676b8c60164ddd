"""Server: one managed child process, started until it answers its protocol, stopped for sure."""

import signal
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

from stack import pid_files

POLL_INTERVAL = 0.05
LOG_TAIL_LINES = 40


class ServerError(RuntimeError):
    """A server failed to start; the message ends with the tail of its log."""


class StartAborted(ServerError):
    """The start was called off from another thread (Ctrl-C during a parallel start)."""


class Server:
    name: str
    # The signal that asks for a clean shutdown, and how long the process gets to obey it.
    stop_signal: signal.Signals = signal.SIGTERM
    stop_grace: float = 10.0
    start_timeout: float = 60.0

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.log_path = self.state_dir / "logs" / f"{self.name}.log"
        self._pid_path = pid_files.pid_file(self.state_dir, self.name)
        self._process: subprocess.Popen | None = None
        self._log_offset = 0
        self._lock = threading.RLock()
        self._abort = threading.Event()
        self.last_start_seconds: float | None = None

    # What a subclass provides.

    def command(self) -> list[str]:
        raise NotImplementedError

    def check(self) -> None:
        """Raise unless the server answers a real request of its protocol."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Create what the first start needs (folders, a database cluster); keep what exists."""

    def spawn_options(self) -> dict:
        """Extra keyword arguments for subprocess.Popen (env, cwd, user)."""
        return {}

    def leftovers(self) -> list[str]:
        """Glob patterns of files the process leaves behind when killed, removed once it is
        gone (recorded in its pid file, so that a later run can remove them too)."""
        return []

    # The life cycle.

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def exit_code(self) -> int | None:
        """The code it exited with, once it exited by itself (None while running or stopped)."""
        return self._process.poll() if self._process is not None else None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        began = time.monotonic()
        with self._lock:
            if self.running:
                return
            # A previous run killed by SIGKILL may have left this server running, on its ports.
            pid_files.stop_recorded(self._pid_path)
            self.prepare()
            if self._abort.is_set():
                raise StartAborted(f"{self.name}: start aborted")
            self._spawn()
        try:
            self._wait_until_answering()
        except BaseException:
            # A half-started server would hold its ports and data: never leave one behind.
            self.kill()
            raise
        self.last_start_seconds = time.monotonic() - began

    def stop(self) -> None:
        with self._lock:
            # Stopped is the state a start can begin from again, even after an abort.
            self._abort.clear()
            process = self._process
            if process is None:
                return
            if process.poll() is None:
                # The polite signal goes to the main process only: it shuts its children down.
                pid_files.send(process.pid, self.stop_signal)
                try:
                    process.wait(self.stop_grace)
                except subprocess.TimeoutExpired:
                    pass
            self._finish(process)

    def kill(self) -> None:
        with self._lock:
            if self._process is not None:
                self._finish(self._process)

    def restart(self) -> None:
        self.stop()
        self.start()

    def abort(self) -> None:
        """Make a start running in another thread give up at its next poll."""
        self._abort.set()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The end of what the process wrote since its last start."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                text = log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_since_start(self) -> str:
        return self.log_tail(lines=1_000_000)

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"<{type(self).__name__} {self.name} {state}>"

    # The mechanics.

    def _spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            banner = f"===== {self.name} starting at {datetime.now().isoformat()} =====\n"
            log.write(banner.encode())
            log.flush()
            self._process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group: a terminal's Ctrl-C reaches the stack only, which then
                # stops the servers in order, and one killpg reaches every child of a server.
                start_new_session=True,
                **self.spawn_options(),
            )
        pid_files.record(
            self._pid_path,
            self._process.pid,
            stop_signal=self.stop_signal,
            stop_grace=self.stop_grace,
            leftovers=self.leftovers(),
        )

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        last_error: Exception | None = None
        while True:
            if self._abort.is_set():
                raise StartAborted(f"{self.name}: start aborted")
            process = self._process
            if process is None or process.poll() is not None:
                code = None if process is None else process.returncode
                raise ServerError(self._failure(f"exited with code {code} while starting"))
            try:
                self.check()
                return
            except Exception as error:
                last_error = error
            if time.monotonic() > deadline:
                raise ServerError(
                    self._failure(
                        f"did not answer within {self.start_timeout:.0f} s "
                        f"(last check: {type(last_error).__name__}: {last_error})"
                    )
                )
            self._abort.wait(POLL_INTERVAL)

    def _failure(self, what: str) -> str:
        return f"{self.name} {what}; last lines of {self.log_path}:\n{self.log_tail()}"

    def _finish(self, process: subprocess.Popen) -> None:
        # SIGKILL the whole group: the main process if it ignored the polite signal (weed does),
        # and any child it left behind (a PostgreSQL backend, a worker's subprocess).
        pid_files.send_group(process.pid, signal.SIGKILL)
        process.wait()
        self._process = None
        self._pid_path.unlink(missing_ok=True)
        pid_files.remove_leftovers(self.leftovers())
