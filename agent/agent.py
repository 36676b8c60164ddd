"""A polling agent (issue 19): one compute slot bound to one partition, running one task at a time
on the worker it launched, as ArmoniK's polling agent and its TaskHandler do.

A task's life here: taken from the partition's queue and acquired (engine/work.py checks the
session first, ArmoniK #940); its payload and data dependencies fetched into the data folder;
started (PROCESSING, only in a RUNNING session); `Process` called with the task's max_duration as
its deadline, while the task's row is polled for a cancellation; then the worker's answer
settles it: outputs uploaded and the task completed, an error output failed for good, a broken
call or a dead worker failed as retriable (and the worker relaunched), the deadline passed
TIMEOUT, a cancellation ends the call and relaunches the worker. Every settling call is
conditional on this agent still owning the task, so a task is never run by two agents at once,
and a COMPLETED one never again."""

import asyncio
import logging
import shutil
from pathlib import Path

import grpc
from armonik.protogen.common.objects_pb2 import Configuration
from armonik.protogen.common.worker_common_pb2 import ProcessRequest
from armonik.protogen.worker.agent_service_pb2_grpc import add_AgentServicer_to_server

from agent.service import AgentService, Running, fetch_into
from agent.worker_process import WorkerProcess
from engine.work import Work, new_object_key
from lifecycle.statuses import TaskStatus
from stores import failures
from stores.tasks import TaskRecord
from wire.messages import task_options_message

log = logging.getLogger("armonik_sessions.agent")

# Restarts of a worker that keeps dying wait longer each time, up to this.
LONGEST_BACKOFF = 30.0


class Agent:
    def __init__(
        self,
        work: Work,
        *,
        pod_id: str,
        partition_id: str,
        folder: Path,
        worker_command: str,
        log_dir: Path,
        poll_seconds: float = 0.2,
        cancel_poll_seconds: float = 0.5,
        worker_start_seconds: float = 30.0,
        lease_seconds: float = 6.0,
    ) -> None:
        self.work = work
        self.pod_id = pod_id
        self.partition_id = partition_id
        self.folder = folder
        self.data_folder = folder / "data"
        self.agent_socket = folder / "agent.sock"
        self.poll_seconds = poll_seconds
        self.cancel_poll_seconds = cancel_poll_seconds
        self.worker_start_seconds = worker_start_seconds
        self.lease_seconds = lease_seconds
        self.service = AgentService(work)
        self.worker = WorkerProcess(
            worker_command, folder, self.agent_socket, log_dir / f"{pod_id}-worker.log"
        )
        self._backoff = 0.0
        self._server: grpc.aio.Server | None = None

    async def serve(self) -> None:
        """The Agent service on its socket, then the worker launched against it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.agent_socket.unlink(missing_ok=True)
        self._server = grpc.aio.server()
        add_AgentServicer_to_server(self.service, self._server)
        self._server.add_insecure_port(f"unix://{self.agent_socket}")
        await self._server.start()
        await self._relaunch(first=True)

    async def close(self) -> None:
        await self.worker.stop()
        if self._server is not None:
            await self._server.stop(None)

    async def run(self, stop: asyncio.Event) -> None:
        """Take and run tasks until `stop` is set; the task running then is finished first.
        The lease is renewed (and the partition's dead agents reaped) meanwhile."""
        leases = self.work.stores.leases
        if leases is not None:
            await leases.renew(self.pod_id, self.partition_id, self.lease_seconds)
        keeping = asyncio.create_task(self._keep_lease())
        try:
            await self._poll(stop)
        finally:
            keeping.cancel()
        # Stopped cleanly, holding nothing: no one need wait for the lease to lapse.
        await self.work.give_back(self.pod_id, self.partition_id)
        if leases is not None:
            await leases.forget(self.pod_id, self.partition_id)

    async def _keep_lease(self) -> None:
        """Renew the lease every third of its length, and reap the agents of the partition
        whose lease lapsed: a dead agent's tasks go back or are retried within
        lease_seconds * 4/3 (plus the reap's own time) of its last renewal, while one agent of
        its partition lives."""
        leases = self.work.stores.leases
        if leases is None:
            return
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await leases.renew(self.pod_id, self.partition_id, self.lease_seconds)
                for dead in await leases.lapsed(self.partition_id):
                    if dead != self.pod_id:
                        reaped = await self.work.reap(dead, self.partition_id)
                        await leases.forget(dead, self.partition_id)
                        log.info("reaped agent %s: %d tasks", dead, reaped)
            except Exception as error:
                # A store out of reach: the next round tries again.
                log.warning("lease: %s: %s", type(error).__name__, error)

    async def _poll(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                tasks = await self.work.take(self.partition_id, 1, self.pod_id)
            except Exception as error:
                # A store out of reach: poll again later. An entry taken but not acquired stays
                # in the in-flight set, for give_back.
                if not (failures.is_down(error) or failures.is_timeout(error)):
                    raise
                log.warning("take: %s: %s", type(error).__name__, error)
                tasks = []
            if not tasks:
                try:
                    await asyncio.wait_for(stop.wait(), self.poll_seconds)
                except TimeoutError:
                    pass
                continue
            for task in tasks:
                await self.run_task(task)

    async def run_task(self, task: TaskRecord) -> None:
        session_id, task_id = task.session_id, task.task_id
        if not self.worker.alive:
            await self._relaunch()
        shutil.rmtree(self.data_folder, ignore_errors=True)
        self.data_folder.mkdir(parents=True)
        try:
            for result_id in {task.payload_id, *task.data_dependencies}:
                await fetch_into(self.work, session_id, result_id, str(self.data_folder))
        except Exception as error:
            # Its inputs are gone (purged, deleted): the task cannot run; give it back.
            log.warning("task %s: inputs unavailable: %s", task_id, error)
            await self.work.fail(session_id, task_id, self.pod_id, str(error), retriable=True)
            return
        if not await self.work.start(session_id, task_id, self.pod_id):
            return
        running = Running(session_id, task_id, str(self.data_folder))
        self.service.running = running
        try:
            await self._process(task, running)
        finally:
            self.service.running = None

    async def _process(self, task: TaskRecord, running: Running) -> None:
        session_id, task_id = task.session_id, task.task_id
        request = ProcessRequest(
            communication_token=running.token,
            session_id=session_id,
            task_id=task_id,
            task_options=task_options_message(task.options),
            expected_output_keys=list(task.expected_output_ids),
            payload_id=task.payload_id,
            data_dependencies=[d for d in task.data_dependencies if d != task.payload_id],
            data_folder=running.data_folder,
            configuration=Configuration(data_chunk_max_size=self.work.download_chunk),
        )
        deadline = task.options.max_duration or None
        call = asyncio.ensure_future(self.worker.stub.Process(request, timeout=deadline))
        watch = asyncio.ensure_future(self._watch_cancel(session_id, task_id))
        done, _ = await asyncio.wait({call, watch}, return_when=asyncio.FIRST_COMPLETED)
        if call not in done:
            # Cancelled: the call is abandoned and the worker, still busy with it, relaunched.
            call.cancel()
            log.info("task %s left PROCESSING: its call is cancelled", task_id)
            await self._relaunch()
            return
        watch.cancel()
        try:
            reply = call.result()
        except grpc.aio.AioRpcError as error:
            timed_out = error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            why = f"worker call failed: {error.code().name}: {error.details()}"
            await self.work.fail(
                session_id, task_id, self.pod_id, why, retriable=not timed_out, timed_out=timed_out
            )
            await self._relaunch()
            return
        if reply.output.WhichOneof("type") == "error":
            await self.work.fail(
                session_id, task_id, self.pod_id, reply.output.error.details, retriable=False
            )
            self._backoff = 0.0
            return
        await self._complete(task, running)
        self._backoff = 0.0

    async def _complete(self, task: TaskRecord, running: Running) -> None:
        """Upload each notified output to a fresh object (the key function of every write), then
        complete the task; if the agent lost it meanwhile, its objects are deleted again."""
        outputs: dict[str, tuple[int, str]] = {}
        for result_id in running.notified:
            path = Path(running.data_folder) / result_id
            data = await asyncio.to_thread(path.read_bytes)
            key = new_object_key(task.session_id)
            await self.work.stores.objects.put(key, data)
            outputs[result_id] = (len(data), key)
        done = await self.work.complete(task.session_id, task.task_id, self.pod_id, outputs)
        if not done:
            await self.work.stores.objects.delete([k for _, k in outputs.values()])

    async def _watch_cancel(self, session_id: str, task_id: str) -> None:
        """Return once the task is no longer PROCESSING (a Cancel reached it)."""
        while True:
            await asyncio.sleep(self.cancel_poll_seconds)
            try:
                status = await self.work.status_of(session_id, task_id)
            except Exception as error:
                # The database out of reach says nothing of the task: it runs on.
                if not (failures.is_down(error) or failures.is_timeout(error)):
                    raise
                continue
            if status != TaskStatus.PROCESSING:
                return

    async def _relaunch(self, first: bool = False) -> None:
        """Launch the worker again, after a delay that grows while it keeps failing."""
        while True:
            if not first:
                await asyncio.sleep(self._backoff)
                self._backoff = min(max(self._backoff * 2, 0.5), LONGEST_BACKOFF)
            first = False
            try:
                await self.worker.start(self.worker_start_seconds)
                return
            except RuntimeError as error:
                log.warning("%s", error)
