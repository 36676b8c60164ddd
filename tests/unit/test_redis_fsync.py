"""Redis acknowledges a queue write only once it is on disk (docs/design.md, "The queue survives
a Redis crash"): the embedded server, for `make run` and for tests, and docker-compose's."""

from pathlib import Path

import pytest
import redis
import yaml

from stack import Redis, free_port

COMPOSE = Path(__file__).parents[2] / "docker-compose.yml"


def _option(command: list[str], name: str) -> str:
    """The value following `--name` in a redis-server command line (the last one wins)."""
    values = [command[i + 1] for i, arg in enumerate(command[:-1]) if arg == f"--{name}"]
    assert values, f"--{name} missing from {command}"
    return values[-1]


@pytest.mark.parametrize("durable", [True, False], ids=["make-run", "tests"])
def test_the_embedded_redis_fsyncs_every_write(tmp_path: Path, durable: bool) -> None:
    command = Redis(tmp_path, port=6399, durable=durable).command()
    assert _option(command, "appendonly") == "yes"
    assert _option(command, "appendfsync") == "always"


def test_docker_compose_redis_fsyncs_every_write() -> None:
    command = yaml.safe_load(COMPOSE.read_text())["services"]["redis"]["command"]
    assert _option(command, "appendonly") == "yes"
    assert _option(command, "appendfsync") == "always"


def test_a_running_durable_redis_reports_the_policy(tmp_path: Path) -> None:
    server = Redis(tmp_path, port=free_port(), durable=True)
    server.start()
    try:
        client = redis.Redis.from_url(server.url, decode_responses=True, socket_timeout=5)
        try:
            assert client.config_get("appendonly") == {"appendonly": "yes"}
            assert client.config_get("appendfsync") == {"appendfsync": "always"}
        finally:
            client.close()
    finally:
        server.stop()
