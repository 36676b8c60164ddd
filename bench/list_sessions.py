"""Time ListSessions at 100,000 sessions: the sessions are copied straight into the sessions table
(no workflow), then representative ArmoniK ListSessionsRequests run through wire.filters and
Engine.list_sessions, and each prints its median time over a few runs. With --explain,
each query's plan (EXPLAIN ANALYZE) is printed too. It runs on a throw-away stack.

    .venv/bin/python -m bench.list_sessions --sessions 100000 --runs 7
"""

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from google.protobuf.timestamp_pb2 import Timestamp

from adapters.connect import Stores
from adapters.postgres.list_queries import compile_query
from adapters.postgres.sessions_table import COLUMNS
from engine.operations import Engine, connect_temporal
from lifecycle.statuses import SessionStatus
from settings import Settings
from stack import Stack
from stores.queries import ListQuery
from tests.unit.test_api_filters import (
    f_array,
    f_date,
    f_status,
    f_string,
    generic,
    option,
    raw,
    sessions_request,
)
from wire.filters import list_sessions_query

S = SessionStatus
# Mostly finished sessions, as a long-lived cluster holds, a few tombstones among them.
STATUSES = [S.RUNNING] * 10 + [S.PAUSED] * 3 + [S.CLOSED] * 40 + [S.CANCELLED] * 7
STATUSES += [S.PURGED] * 35 + [S.DELETED] * 5
PARTITIONS = [f"part-{n}" for n in range(10)]
APPLICATIONS = [f"app-{n}" for n in range(20)]
TEAMS = [f"team-{n}" for n in range(50)]
START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 90


def session_rows(count: int, seed: int = 8) -> list[tuple]:
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        status = rng.choice(STATUSES)
        created = START + timedelta(seconds=rng.uniform(0, DAYS * 86_400))
        closed = cancelled = purged = deleted = None
        if status in (S.CLOSED, S.PURGED, S.DELETED):
            closed = created + timedelta(seconds=rng.uniform(10, 86_400))
        if status == S.CANCELLED:
            cancelled = created + timedelta(seconds=rng.uniform(10, 86_400))
        if status in (S.PURGED, S.DELETED):
            purged = (closed or created) + timedelta(hours=1)
        if status == S.DELETED:
            deleted = (purged or created) + timedelta(hours=1)
        partitions = rng.sample(PARTITIONS, rng.randint(1, 3))
        options = {
            "max_duration": rng.choice([60.0, 300.0, 3600.0, 0.5]),
            "max_retries": rng.randint(1, 5),
            "priority": rng.randint(1, 99),
            "partition_id": partitions[0],
            "application_name": rng.choice(APPLICATIONS),
            "application_version": f"1.{rng.randint(0, 9)}",
            "application_namespace": "bench",
            "application_service": "svc",
            "engine_type": "",
            "options": {
                "team": rng.choice(TEAMS),
                "rank": str(n),
                **({"gpu": "yes"} if n % 7 == 0 else {}),
            },
        }
        running = status in (S.RUNNING, S.PAUSED)
        rows.append(
            (
                f"bench-{uuid.UUID(int=rng.getrandbits(128))}",
                int(status),
                running,
                running,
                partitions,
                options,
                created,
                cancelled,
                closed,
                purged,
                deleted,
            )
        )
    return rows


COPIED = (
    "session_id, status, client_submission, worker_submission, partition_ids, options,"
    " created_at, cancelled_at, closed_at, purged_at, deleted_at"
)


def at(day: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(START + timedelta(days=day))
    return stamp


# name -> a ListSessionsRequest, as ArmoniK's clients send them.
QUERIES: dict[str, Callable[[], object]] = {
    "no filter, page 0 (by id)": lambda: sessions_request(sort=raw("session_id")),
    "no filter, by status, 1000 (Python client)": lambda: sessions_request(
        sort=raw("status"), page_size=1000
    ),
    "status = RUNNING, by created_at desc": lambda: sessions_request(
        [f_status(raw("status"), "EQUAL", S.RUNNING)], sort=raw("created_at"), desc=True
    ),
    "option team = team-7": lambda: sessions_request(
        [f_string(generic("team"), "EQUAL", "team-7")], sort=raw("created_at")
    ),
    "option gpu contains 'y'": lambda: sessions_request(
        [f_string(generic("gpu"), "CONTAINS", "y")], sort=raw("created_at")
    ),
    "created_at in a week": lambda: sessions_request(
        [
            f_date(raw("created_at"), "AFTER_OR_EQUAL", at(30)),
            f_date(raw("created_at"), "BEFORE", at(37)),
        ],
        sort=raw("created_at"),
    ),
    "partition_ids contains part-3": lambda: sessions_request(
        [f_array(raw("partition_ids"), "CONTAINS", "part-3")], sort=raw("created_at")
    ),
    "sort by created_at desc": lambda: sessions_request(sort=raw("created_at"), desc=True),
    "sort by priority desc": lambda: sessions_request(sort=option("priority"), desc=True),
    "sort by option rank": lambda: sessions_request(sort=generic("rank")),
    "deep page 900 (by created_at)": lambda: sessions_request(sort=raw("created_at"), page=900),
    "deep page 900 (by priority)": lambda: sessions_request(
        sort=option("priority"), desc=True, page=900
    ),
    "page_size 0 (count)": lambda: sessions_request(sort=raw("created_at"), page_size=0),
    "page_size 0, app = app-3": lambda: sessions_request(
        [f_string(option("application_name"), "EQUAL", "app-3")],
        sort=raw("created_at"),
        page_size=0,
    ),
}


async def explain(stores: Stores, query: ListQuery) -> None:
    compiled = compile_query(query)
    statements = [compiled.count()]
    if compiled.limit:
        sql, args = statements[0]
        total = await stores.db.fetchval(sql, *args)
        statements.append(compiled.page(COLUMNS, total))
    for sql, args in statements:
        plan = await stores.db.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
        print("\n".join("    " + r[0] for r in plan))


async def bench(settings: Settings, sessions: int, runs: int, show_plans: bool) -> None:
    stores = await Stores.connect(settings)
    client = Engine(settings, await connect_temporal(settings, lazy=True), stores)
    try:
        await stores.db.migrate()
        began = time.perf_counter()
        rows = session_rows(sessions)
        # A connection of its own: COPY needs jsonb in binary (a version byte, then the text).
        conn = await asyncpg.connect(settings.postgres_dsn)
        try:
            await conn.set_type_codec(
                "jsonb",
                encoder=lambda value: b"\x01" + json.dumps(value).encode(),
                decoder=lambda data: json.loads(data[1:]),
                schema="pg_catalog",
                format="binary",
            )
            await conn.copy_records_to_table(
                "sessions", records=rows, columns=[c.strip() for c in COPIED.split(",")]
            )
            await conn.execute("VACUUM ANALYZE sessions")
        finally:
            await conn.close()
        print(f"copied {sessions:,} sessions in {time.perf_counter() - began:.1f} s\n")
        print(f"{'query':<45} {'p50 ms':>8} {'max ms':>8} {'rows':>6} {'total':>8}")
        for name, make in QUERIES.items():
            query = list_sessions_query(make())
            times = []
            for _ in range(runs + 1):  # the first run warms the cache and is not counted
                began = time.perf_counter()
                found, total = await client.list_sessions(query)
                times.append((time.perf_counter() - began) * 1000)
            times = times[1:]
            print(
                f"{name:<45} {statistics.median(times):8.1f} {max(times):8.1f}"
                f" {len(found):6} {total:8,}"
            )
            if show_plans:
                await explain(stores, query)
    finally:
        await stores.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--explain", action="store_true", help="print each query's plan")
    args = parser.parse_args()
    # Always a throw-away stack: the bench copies 100,000 rows into the sessions table.
    with tempfile.TemporaryDirectory() as state, Stack(Path(state), ephemeral=True) as stack:
        settings = stack.client_settings()
        asyncio.run(bench(settings, args.sessions, args.runs, args.explain))


if __name__ == "__main__":
    main()
