"""The worker process an agent launches and talks to, as ArmoniK's compute pods do: it is told
where to serve and where its agent serves by the ComputePlane__* environment variables, over
unix domain sockets."""

import asyncio
import ctypes
import os
import shlex
import signal
import sys
import time
from pathlib import Path

import grpc
from armonik.protogen.common.objects_pb2 import Empty
from armonik.protogen.common.worker_common_pb2 import HealthCheckReply
from armonik.protogen.worker.worker_service_pb2_grpc import WorkerStub

# The sample worker of the project: the default workload.
SAMPLE_WORKER = f"{shlex.quote(sys.executable)} -m samples.worker"


def worker_env(worker_socket: Path, agent_socket: Path) -> dict[str, str]:
    return {
        "ComputePlane__WorkerChannel__SocketType": "unixdomainsocket",
        "ComputePlane__WorkerChannel__Address": str(worker_socket),
        "ComputePlane__AgentChannel__SocketType": "unixdomainsocket",
        "ComputePlane__AgentChannel__Address": str(agent_socket),
    }


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before it runs the worker: a SIGKILLed agent takes its worker with it (as a
    compute pod's containers go together), so no orphan serves a stale socket."""
    if sys.platform == "linux":
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class WorkerProcess:
    """One launch of the worker command; `start` again after it died launches a new one."""

    def __init__(self, command: str, folder: Path, agent_socket: Path, log_path: Path) -> None:
        self.command = shlex.split(command or SAMPLE_WORKER)
        self.socket = folder / "worker.sock"
        self.agent_socket = agent_socket
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None
        self.channel: grpc.aio.Channel | None = None
        self.stub: WorkerStub | None = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self, start_seconds: float) -> None:
        """Launch it, and return once its HealthCheck answers SERVING."""
        await self.stop()
        self.socket.unlink(missing_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = os.environ | worker_env(self.socket, self.agent_socket) | {"PYTHONUNBUFFERED": "1"}
        log = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.command,
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            os.close(log)
        self.channel = grpc.aio.insecure_channel(f"unix://{self.socket}")
        self.stub = WorkerStub(self.channel)
        deadline = time.monotonic() + start_seconds
        while True:
            if not self.alive:
                raise RuntimeError(f"the worker exited at start; see {self.log_path}")
            try:
                reply = await self.stub.HealthCheck(Empty(), timeout=1.0)
                if reply.status == HealthCheckReply.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"no answer in {start_seconds} s; see {self.log_path}")
            # The worker creates its socket when it starts serving: nothing to wait on but time.
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """Kill it (a worker holds no state of its own: the task it ran is failed or retried
        by the agent) and wait for it to be gone."""
        if self.channel is not None:
            await self.channel.close()
            self.channel = self.stub = None
        if self.process is not None:
            if self.process.returncode is None:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            await self.process.wait()
            self.process = None
