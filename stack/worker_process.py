"""The control plane's worker (`python -m worker`) as a managed process."""

import os
import sys
from pathlib import Path

from stack.probes import NotAnswering
from stack.server import Server
from stack.state import REPO_ROOT

# The worker prints this line on stdout once it polls its task queue.
READY_LINE = "worker ready"
# The API server prints this one once it accepts calls (api/server.py).
API_READY_LINE = "api ready"
# And a polling agent this one, once it serves its worker and polls its queue (agent/).
AGENT_READY_LINE = "agent ready"


class ControlPlaneProcess(Server):
    """A process of the control plane's own (a worker, or the API server), bound to the stack's
    servers by its environment, and ready once it prints its ready line."""

    # Time for in-flight activities to finish (or heartbeat) before the worker is killed.
    stop_grace = 10.0

    def __init__(
        self,
        state_dir: Path,
        *,
        env: dict[str, str],
        name: str = "worker",
        command: list[str] | None = None,
        ready_line: str = READY_LINE,
    ) -> None:
        self.name = name
        super().__init__(state_dir)
        self.env = dict(env)
        self._command = command or [sys.executable, "-m", "worker"]
        self.ready_line = ready_line

    def command(self) -> list[str]:
        return list(self._command)

    def check(self) -> None:
        if not any(self.ready_line in line for line in self.log_since_start().splitlines()):
            raise NotAnswering(f"{self.name} has not printed {self.ready_line!r} yet")

    def spawn_options(self) -> dict:
        # Unbuffered, or "worker ready" would wait in a pipe buffer since stdout is a file.
        env = os.environ | self.env | {"PYTHONUNBUFFERED": "1"}
        return {"env": env, "cwd": REPO_ROOT}
