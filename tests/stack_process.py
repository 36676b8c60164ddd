"""`python -m stack`, the entry point of `make run`, as a test runs it: a process whose output
is read line by line as it comes (tests/stack, tests/browser)."""

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from stack import free_ports

REPO_ROOT = Path(__file__).resolve().parents[1]
# Generous: two cores may be shared with other test runs.
PROCESS_TIMEOUT = 60.0
SERVERS = ("temporal", "ui", "postgres", "redis", "s3", "api", "grpc_web")


def own_servers_env(state_dir: str) -> tuple[dict[str, str], dict[str, int]]:
    """The environment of a `python -m stack` that starts every server of its own, on free
    ports, with its state in `state_dir`; and the ports, by server."""
    ports = dict(zip(SERVERS, free_ports(len(SERVERS)), strict=True))
    temporal, ui, postgres, redis, s3, api, grpc_web = ports.values()
    return os.environ | {
        "ARMONIK_STATE_DIR": state_dir,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal}",
        "TEMPORAL_UI_PORT": str(ui),
        "POSTGRES_DSN": f"postgresql://postgres@127.0.0.1:{postgres}/postgres",
        "REDIS_URL": f"redis://127.0.0.1:{redis}/0",
        "S3_ENDPOINT": f"http://127.0.0.1:{s3}",
        "API_ADDRESS": f"127.0.0.1:{api}",
        "GRPC_WEB_ADDRESS": f"127.0.0.1:{grpc_web}",
    }, ports


class StackProcess:
    """`python -m stack` (by default with --no-worker) with its output read line by line as it
    comes."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stack", *(args or ["--no-worker"])],
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def wait_for(self, text: str) -> str:
        """The first line with `text`, once it came."""
        for line in self.output:
            if text in line:
                return line
        deadline = time.monotonic() + PROCESS_TIMEOUT
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                break
            self.output.append(line)
            if text in line:
                return line
        pytest.fail(f"no line with {text!r} in the output:\n{''.join(self.output)}")

    def interrupt(self, signum: signal.Signals) -> int:
        self.process.send_signal(signum)
        return self.process.wait(PROCESS_TIMEOUT)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(PROCESS_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
