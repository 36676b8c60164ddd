"""PostgreSQL 16 from the pgserver package, on TCP loopback with trust authentication."""

import os
import signal
import stat
import subprocess
from pathlib import Path

import psutil

from stack.binaries import postgres_binary, quiet_pgserver_import
from stack.probes import check_postgres
from stack.server import Server, ServerError

# PostgreSQL refuses to run as root. pgserver then runs it as this system user, creating it if
# needed; the stack does the same, so both share one user.
SYSTEM_USER = "pgserver"


class Postgres(Server):
    name = "postgres"
    # SIGTERM is PostgreSQL's "smart" shutdown, which waits for every client to disconnect;
    # SIGINT is the "fast" one: clients are disconnected, data is checkpointed.
    stop_signal = signal.SIGINT
    stop_grace = 15.0

    def __init__(self, state_dir: Path, *, port: int, durable: bool = True) -> None:
        super().__init__(state_dir)
        self.port = port
        self.durable = durable
        self.data_dir = self.state_dir / "postgres"
        self.dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def command(self) -> list[str]:
        settings = {
            # Unix sockets off: TCP only, and no socket path length limit to worry about.
            "unix_socket_directories": "",
            "max_connections": "200",
        }
        if not self.durable:
            # fsync only protects against a machine crash; a killed server loses nothing
            # without it, since its writes already reached the kernel.
            settings |= {"fsync": "off", "full_page_writes": "off"}
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        return [
            str(postgres_binary("postgres")),
            *("-D", str(self.data_dir), "-h", "127.0.0.1", "-p", str(self.port)),
            *options,
        ]

    def check(self) -> None:
        check_postgres(self.dsn)

    def spawn_options(self) -> dict:
        return _as_system_user()

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            _hand_over_to_system_user(self.data_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        _remove_stale_lock_file(self.data_dir)

    def _initdb(self) -> None:
        command = [
            str(postgres_binary("initdb")),
            *("-D", str(self.data_dir), "-U", "postgres"),
            *("--auth=trust", "--encoding=UTF8", "--locale=C"),
        ]
        if not self.durable:
            command.append("--no-sync")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            done = subprocess.run(
                command, stdout=log, stderr=subprocess.STDOUT, check=False, **_as_system_user()
            )
        if done.returncode != 0:
            raise ServerError(f"initdb failed with code {done.returncode}; see {self.log_path}")


def _as_system_user() -> dict:
    if os.geteuid() != 0:
        return {}
    return {"user": SYSTEM_USER, "group": SYSTEM_USER, "extra_groups": []}


def _hand_over_to_system_user(data_dir: Path) -> None:
    """Let the system user own its data folder and reach it, as pgserver does."""
    with quiet_pgserver_import():
        from pgserver.utils import ensure_user_exists

    user = ensure_user_exists(SYSTEM_USER)
    # The binaries too: a venv inside a private folder (mktemp -d makes them 0700) is out of
    # the system user's reach otherwise.
    for path in (data_dir, postgres_binary("postgres")):
        _let_others_traverse(path.parents)
    for path in [data_dir, *data_dir.rglob("*")]:
        if path.lstat().st_uid != user.pw_uid:
            os.lchown(path, user.pw_uid, user.pw_gid)
    # PostgreSQL refuses a data folder others can read.
    data_dir.chmod(0o700)


def _let_others_traverse(folders) -> None:
    for folder in folders:
        # Search permission only, and only where it is missing (pgserver adds read as well).
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)


def _remove_stale_lock_file(data_dir: Path) -> None:
    """After a SIGKILL, postmaster.pid stays; PostgreSQL refuses to start if its pid now
    belongs to some unrelated live process."""
    lock_file = data_dir / "postmaster.pid"
    try:
        pid = int(lock_file.read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return
    try:
        if psutil.Process(pid).name() == "postgres":
            return  # a live server on this folder: let PostgreSQL report it
    except psutil.Error:
        pass
    lock_file.unlink(missing_ok=True)
