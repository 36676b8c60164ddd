"""Protocol checks: each one raises unless the server answers a real request of its protocol.

An open port proves little (Temporal opens its gRPC port before its namespaces exist, weed's
S3 gateway before its filer does), so readiness always means a real request succeeded.
"""

import asyncio
import threading
import urllib.request
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from stack.ports import is_listening

T = TypeVar("T")

# A probe runs in a polling loop: it must give up long before the start timeout does.
PROBE_TIMEOUT = 2.0


class NotAnswering(Exception):
    """The server did not answer its protocol (yet)."""


def require_listening(host: str | None, port: int | None) -> None:
    # A closed port fails at once here, sparing a client library's own connect retries.
    if host is None or port is None or not is_listening(host, port):
        raise NotAnswering(f"nothing listens on {host}:{port}")


def check_postgres(dsn: str) -> None:
    import asyncpg

    parts = urlsplit(dsn)
    require_listening(parts.hostname, parts.port or 5432)

    async def select_one() -> None:
        connection = await asyncpg.connect(dsn, timeout=PROBE_TIMEOUT)
        try:
            await connection.fetchval("SELECT 1", timeout=PROBE_TIMEOUT)
        finally:
            await connection.close(timeout=PROBE_TIMEOUT)

    _run_in_own_loop(select_one)


def check_redis(url: str) -> None:
    import redis

    parts = urlsplit(url)
    require_listening(parts.hostname, parts.port or 6379)
    client = redis.Redis.from_url(
        url, socket_timeout=PROBE_TIMEOUT, socket_connect_timeout=PROBE_TIMEOUT
    )
    try:
        # A Redis still loading its append-only file answers PING with an error: not ready.
        if not client.ping():
            raise NotAnswering(f"Redis at {url} did not answer PING")
    finally:
        client.close()


class S3Check:
    """A signed ListBuckets call, so the credentials the worker will use are exercised too."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str, region: str) -> None:
        self.endpoint = endpoint
        self._credentials = (access_key, secret_key, region)
        self._client = None

    def __call__(self) -> None:
        parts = urlsplit(self.endpoint)
        require_listening(parts.hostname, parts.port or 80)
        self._s3().list_buckets()

    def _s3(self):
        # Building a botocore client loads its service model (~0.1 s): build it once.
        if self._client is None:
            import botocore.session
            from botocore.config import Config

            access_key, secret_key, region = self._credentials
            self._client = botocore.session.get_session().create_client(
                "s3",
                endpoint_url=self.endpoint,
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
                region_name=region,
                config=Config(
                    connect_timeout=PROBE_TIMEOUT,
                    read_timeout=PROBE_TIMEOUT,
                    retries={"max_attempts": 1},
                ),
            )
        return self._client


def check_temporal(address: str, namespace: str) -> set[str]:
    """Describe the namespace; return the custom search attributes it knows."""
    host, _, port = address.rpartition(":")
    require_listening(host, int(port))
    return _run_in_own_loop(lambda: _temporal_search_attributes(address, namespace))


async def _temporal_search_attributes(address: str, namespace: str) -> set[str]:
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client

    timeout = timedelta(seconds=PROBE_TIMEOUT)
    client = await asyncio.wait_for(
        Client.connect(address, namespace=namespace), timeout=PROBE_TIMEOUT
    )
    await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace), timeout=timeout
    )
    attributes = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace), timeout=timeout
    )
    return set(attributes.custom_attributes)


def add_temporal_search_attributes(address: str, namespace: str, kinds: dict[str, str]) -> None:
    """Register these search attributes (name: "Keyword"...) in the namespace."""
    _run_in_own_loop(lambda: _add_search_attributes(address, namespace, kinds))


async def _add_search_attributes(address: str, namespace: str, kinds: dict[str, str]) -> None:
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
    from temporalio.client import Client
    from temporalio.service import RPCError, RPCStatusCode

    client = await asyncio.wait_for(
        Client.connect(address, namespace=namespace), timeout=PROBE_TIMEOUT
    )
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace,
                search_attributes={
                    name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{kind.upper()}")
                    for name, kind in kinds.items()
                },
            ),
            timeout=timedelta(seconds=PROBE_TIMEOUT),
        )
    except RPCError as error:
        # The server registered them meanwhile (a new database, as it starts).
        if error.status != RPCStatusCode.ALREADY_EXISTS:
            raise


def _run_in_own_loop(make_coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from synchronous code, even code called from a running
    event loop (an async test calling `server.start()`), where asyncio.run would refuse."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = asyncio.run(make_coroutine())
        except BaseException as error:
            outcome["error"] = error

    thread = threading.Thread(target=run, name="stack-probe")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def check_http(url: str) -> None:
    parts = urlsplit(url)
    require_listening(parts.hostname, parts.port or 80)
    # No proxy: a loopback server must not be looked for through an HTTP(S)_PROXY.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=PROBE_TIMEOUT) as response:
        if response.status != 200:
            raise NotAnswering(f"{url} answered HTTP {response.status}")
