"""Latency of the gRPC API as a client sees it: CreateSession, GetSession and CloseSession, one
call at a time (p50 and p99), and creates per second with concurrent callers.

    .venv/bin/python -m bench.api_latency --calls 1000 --callers 16
    .venv/bin/python -m bench.api_latency --endpoint 127.0.0.1:5001   (against `make run`)

Without --endpoint it runs its own throw-away stack with one worker and the API server, each in
its own process, as `make run` does.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import grpc
from armonik.protogen.client.sessions_service_pb2_grpc import SessionsStub
from armonik.protogen.common import sessions_common_pb2 as pb
from armonik.protogen.common.objects_pb2 import TaskOptions
from google.protobuf.duration_pb2 import Duration

from stack import Stack
from stack.ports import free_ports

OPTIONS = TaskOptions(max_duration=Duration(seconds=60), max_retries=2, priority=1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timed(calls: int, call) -> list[float]:
    """Milliseconds per call, one call at a time."""
    times = []
    for i in range(calls):
        began = time.perf_counter()
        await call(i)
        times.append((time.perf_counter() - began) * 1000)
    return times


def summary(times: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p99_ms": round(percentile(times, 0.99), 1),
        "calls": len(times),
    }


async def measure(
    channel: grpc.aio.Channel, calls: int, callers: int = 16, seconds: float = 10.0
) -> dict[str, dict[str, float]]:
    """Create, Get and Close one call at a time, then creates per second with `callers`."""
    sessions = SessionsStub(channel)
    create = pb.CreateSessionRequest(default_task_option=OPTIONS)
    # Warm up the connections, the worker and the server's caches.
    for _ in range(20):
        await sessions.CreateSession(create)

    ids: list[str] = []

    async def create_one(_: int) -> None:
        ids.append((await sessions.CreateSession(create)).session_id)

    async def get_one(i: int) -> None:
        await sessions.GetSession(pb.GetSessionRequest(session_id=ids[i]))

    async def close_one(i: int) -> None:
        await sessions.CloseSession(pb.CloseSessionRequest(session_id=ids[i]))

    figures = {
        "create": summary(await timed(calls, create_one)),
        "get": summary(await timed(calls, get_one)),
        "close": summary(await timed(calls, close_one)),
    }
    created = 0
    deadline = time.monotonic() + seconds

    async def caller() -> None:
        nonlocal created
        while time.monotonic() < deadline:
            await sessions.CreateSession(create)
            created += 1

    began = time.monotonic()
    await asyncio.gather(*(caller() for _ in range(callers)))
    figures["creates_per_s"] = {
        "rate": round(created / (time.monotonic() - began), 1),
        "callers": callers,
    }
    return figures


async def bench(endpoint: str, calls: int, callers: int, seconds: float) -> None:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        figures = await measure(channel, calls, callers, seconds)
    for name in ("create", "get", "close"):
        f = figures[name]
        print(
            f"{name:<8} p50 {f['p50_ms']:7.1f} ms   p99 {f['p99_ms']:7.1f} ms"
            f"   ({f['calls']} calls)"
        )
    rate = figures["creates_per_s"]
    print(f"creates  {rate['rate']:7.1f} per second with {rate['callers']} concurrent callers")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", help="an API already running (default: a stack of its own)")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if args.endpoint:
        asyncio.run(bench(args.endpoint, args.calls, args.callers, args.seconds))
        return
    with tempfile.TemporaryDirectory() as state, Stack(Path(state), ephemeral=True) as stack:
        stack.worker().start()
        address = f"127.0.0.1:{free_ports(1)[0]}"
        stack.api(address).start()
        asyncio.run(bench(address, args.calls, args.callers, args.seconds))


if __name__ == "__main__":
    main()
