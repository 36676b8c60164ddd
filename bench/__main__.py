"""make bench: each bulk operation through the product (gRPC request to answer) against its raw
floor (bench/floor.py) on the same stores in the same run, then Create/Get/Close latency, the
workers' peak RSS and each operation's workflow history.

    .venv/bin/python -m bench --tasks 1000000 --workers 2 --ranges 4

It runs a throw-away stack of its own, as `make run` runs it (durable PostgreSQL and Redis,
WORKERS worker processes, the API server), prints a table, and merges its runs into
bench/results.json (a run replaces the one of the same operation, size, workers and ranges), from
which it draws docs/bench.svg.
"""

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import grpc
from armonik.protogen.client.sessions_service_pb2_grpc import SessionsStub
from armonik.protogen.common import sessions_common_pb2 as pb
from temporalio.client import Client

from adapters.connect import Stores
from admin.seed import seed
from bench import api_latency
from bench.chart import draw
from bench.floor import DELETES_IN_FLIGHT, FLOORS
from lifecycle.statuses import Operation, TaskStatus
from settings import Settings
from stack import Stack
from stack.ports import free_ports
from stack.stack import DEFAULT_PORTS
from workflows.identity import workflow_id

RESULTS = Path(__file__).parent / "results.json"
CHART = Path(__file__).parent.parent / "docs" / "bench.svg"
OPERATIONS = [
    Operation.PAUSE,
    Operation.RESUME,
    Operation.CANCEL,
    Operation.PURGE,
    Operation.DELETE,
]
# The bench's own connections run statements over a whole session: no store timeout for them.
UNBOUNDED = 3600.0


def history_length(histories: list) -> dict[str, int]:
    """The events of all runs, and of the longest."""
    lengths = [len(h.events) for h in histories]
    return {"runs": len(lengths), "events": sum(lengths), "longest_run": max(lengths)}


def activity_span(histories: list, name: str) -> float:
    """Seconds from the first `name` activity scheduled to the last one completed: how long
    the product spent on that step."""
    scheduled: dict[int, float] = {}
    first, last = float("inf"), 0.0
    for history in histories:
        for event in history.events:
            if event.HasField("activity_task_scheduled_event_attributes"):
                attributes = event.activity_task_scheduled_event_attributes
                if attributes.activity_type.name == name:
                    scheduled[event.event_id] = event.event_time.ToDatetime().timestamp()
                    first = min(first, scheduled[event.event_id])
            elif event.HasField("activity_task_completed_event_attributes"):
                attributes = event.activity_task_completed_event_attributes
                if attributes.scheduled_event_id in scheduled:
                    last = max(last, event.event_time.ToDatetime().timestamp())
        scheduled.clear()
    return last - first


class Bench:
    def __init__(self, stores: Stores, temporal: Client, sessions: SessionsStub, tasks: int):
        self.stores = stores
        self.temporal = temporal
        self.sessions = sessions
        self.tasks = tasks
        self.results = tasks // 10

    async def session_for(self, operation: Operation) -> str:
        """A fresh session holding what `operation` works on: N tasks (queued unless paused),
        N/10 results, with objects for a purge."""
        created = await self.sessions.CreateSession(
            pb.CreateSessionRequest(default_task_option=api_latency.OPTIONS)
        )
        session_id = created.session_id
        if operation == Operation.RESUME:
            await self.sessions.PauseSession(pb.PauseSessionRequest(session_id=session_id))
            await seed(self.stores, session_id, self.tasks, TaskStatus.PAUSED)
        elif operation == Operation.PURGE:
            await seed(self.stores, session_id, 0, results=self.results, objects=True)
            await self.sessions.CloseSession(pb.CloseSessionRequest(session_id=session_id))
        elif operation == Operation.PAUSE:
            await seed(self.stores, session_id, self.tasks)
        else:
            await seed(self.stores, session_id, self.tasks, results=self.results)
        await self.stores.db.pool.execute("VACUUM ANALYZE tasks")
        await self.stores.db.pool.execute("VACUUM ANALYZE results")
        return session_id

    async def product(self, operation: Operation, session_id: str) -> float:
        rpc, request = {
            Operation.PAUSE: (self.sessions.PauseSession, pb.PauseSessionRequest),
            Operation.RESUME: (self.sessions.ResumeSession, pb.ResumeSessionRequest),
            Operation.CANCEL: (self.sessions.CancelSession, pb.CancelSessionRequest),
            Operation.PURGE: (self.sessions.PurgeSession, pb.PurgeSessionRequest),
            Operation.DELETE: (self.sessions.DeleteSession, pb.DeleteSessionRequest),
        }[operation]
        began = time.perf_counter()
        await rpc(request(session_id=session_id))
        return time.perf_counter() - began

    async def raw(self, operation: Operation, session_id: str) -> tuple[float, float | None]:
        """The whole floor's seconds, and those of its object deletes for a purge."""
        began = time.perf_counter()
        deleting = await FLOORS[operation](self.stores, session_id)
        return time.perf_counter() - began, deleting

    async def histories(self, operation: Operation, session_id: str) -> list:
        """Every run of the operation's workflow (continue-as-new makes more than one)."""
        query = f'WorkflowId = "{workflow_id(operation, session_id)}"'
        return [
            await self.temporal.get_workflow_handle(w.id, run_id=w.run_id).fetch_history()
            async for w in self.temporal.list_workflows(query)
        ]

    async def run(self, operation: Operation) -> dict:
        ours = await self.session_for(operation)
        workflow_s = await self.product(operation, ours)
        theirs = await self.session_for(operation)
        raw_s, raw_deleting = await self.raw(operation, theirs)
        rows = self.results if operation == Operation.PURGE else self.tasks
        histories = await self.histories(operation, ours)
        run = {
            "op": operation.value,
            "tasks": self.tasks,
            "results": self.results,
            "workflow_s": round(workflow_s, 3),
            "raw_s": round(raw_s, 3),
            "ratio": round(workflow_s / raw_s, 2),
            "per_s": round(rows / workflow_s),
            "history": history_length(histories),
        }
        if raw_deleting is not None:
            # The purge's target is about its object deletes alone: objects a second, the
            # product's delete_objects step against the floor's delete calls.
            deleting = activity_span(histories, "delete_objects")
            run["objects"] = {
                "workflow_per_s": round(self.results / deleting),
                "raw_per_s": round(self.results / raw_deleting),
                "ratio": round(raw_deleting / deleting, 2),
            }
        return run


def peak_rss_mb(pid: int | None) -> float:
    if pid is None:
        return 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def machine() -> str:
    cpus = os.cpu_count()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.machine()}, {cpus} cores, {memory:.0f} GiB, Python {platform.python_version()}"
    )


async def bench(args, stack: Stack, address: str, workers) -> dict:
    settings = stack.client_settings(
        heartbeat_timeout=UNBOUNDED, s3_deletes_in_flight=DELETES_IN_FLIGHT
    )
    stores = await Stores.connect(settings)
    temporal = await Client.connect(settings.temporal_address)
    config = {"workers": args.workers, "ranges": args.ranges}
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            sessions = SessionsStub(channel)
            runner = Bench(stores, temporal, sessions, args.tasks)
            runs = []
            for operation in args.operations:
                run = {**await runner.run(operation), **config}
                runs.append(run)
                print(
                    f"{run['op']:<8} {run['workflow_s']:8.2f} s  raw {run['raw_s']:7.2f} s"
                    f"  x{run['ratio']:<5}  {run['per_s']:>9,}/s  history {run['history']}"
                    + (f"  objects {run['objects']}" if "objects" in run else ""),
                    flush=True,
                )
            latency = {} if args.calls == 0 else await api_latency.measure(channel, args.calls)
    finally:
        await stores.close()
    return {
        "runs": runs,
        "latency": latency,
        "rss_mb": round(max(peak_rss_mb(w.pid) for w in workers), 1),
    }


def merge(report: dict, measured: dict) -> dict:
    """The runs of this bench replace those of the same operation, size, workers and ranges."""

    def key(run):
        return (run["op"], run["tasks"], run.get("workers", 1), run.get("ranges", 1))

    fresh = {key(r) for r in measured["runs"]}
    runs = [r for r in report.get("runs", []) if key(r) not in fresh] + measured["runs"]
    runs.sort(key=key)
    report = {**report, "machine": machine(), "runs": runs}
    if measured["latency"]:
        report["latency"] = measured["latency"]
    largest = max(x["tasks"] for x in runs)
    if all(r["tasks"] == largest for r in measured["runs"]):
        # The peak RSS and the histories of the largest sessions are the ones to report.
        report["rss_mb"] = measured["rss_mb"]
    report["history_events"] = {r["op"]: r["history"] for r in runs if r["tasks"] == largest}
    report["scaling"] = scaling(runs)
    return report


def scaling(runs: list[dict]) -> dict[str, float]:
    """time(1M) / time(100k), by operation, for the configurations run at both sizes."""
    times = {
        (r["op"], r["tasks"], r.get("workers", 1), r.get("ranges", 1)): r["workflow_s"]
        for r in runs
    }
    ratios = {}
    for (op, tasks, workers, ranges), seconds in times.items():
        small = times.get((op, tasks // 10, workers, ranges))
        if tasks == 1_000_000 and small:
            ratios[f"{op} (workers {workers}, ranges {ranges})"] = round(seconds / small, 2)
    return ratios


def print_table(report: dict) -> None:
    print(f"\nmachine: {report['machine']}")
    print(
        f"{'op':<8} {'tasks':>9} {'W':>2} {'K':>2} {'product s':>10} {'raw s':>8}"
        f" {'ratio':>6} {'per s':>9} {'history':>8}"
    )
    for r in report["runs"]:
        print(
            f"{r['op']:<8} {r['tasks']:>9,} {r.get('workers', 1):>2} {r.get('ranges', 1):>2}"
            f" {r['workflow_s']:>10.2f} {r['raw_s']:>8.2f} {r['ratio']:>6.2f} {r['per_s']:>9,}"
            f" {r['history']['events']:>8}"
        )
        if "objects" in r:
            o = r["objects"]
            print(
                f"{'':<8} object deletes: {o['workflow_per_s']:,}/s against raw"
                f" {o['raw_per_s']:,}/s ({o['ratio']:.2f} of raw)"
            )
    for name, figures in report.get("latency", {}).items():
        print(f"{name:<8} {figures}")
    print(f"worker peak RSS: {report['rss_mb']} MB")
    for name, ratio in report.get("scaling", {}).items():
        print(f"time(1M)/time(100k) {name}: {ratio}")


def _free(names) -> dict[str, int]:
    """Ports of its own: the bench runs beside `make run` as well as alone."""
    return dict(zip(names, free_ports(len(names)), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--ranges",
        type=int,
        default=Settings.model_fields["sweep_ranges"].default,
        help="SWEEP_RANGES: ranges per sweep (default: the setting's)",
    )
    parser.add_argument(
        "--calls", type=int, default=300, help="latency calls of each kind (0: none)"
    )
    parser.add_argument(
        "--operations",
        type=lambda text: [Operation(o) for o in text.split(",")],
        default=OPERATIONS,
        help="a comma-separated subset of pause,resume,cancel,purge,delete",
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as state,
        Stack(Path(state), ui=False, ports=_free(DEFAULT_PORTS)) as stack,
    ):
        workers = stack.start_workers(args.workers)
        address = f"127.0.0.1:{free_ports(1)[0]}"
        # The ranges are the starter's setting: each operation's request carries them.
        stack.api(address, SWEEP_RANGES=args.ranges).start()
        measured = asyncio.run(bench(args, stack, address, workers))
    report = merge(json.loads(RESULTS.read_text()) if RESULTS.exists() else {}, measured)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    CHART.write_text(draw(report))
    print_table(report)


if __name__ == "__main__":
    main()
