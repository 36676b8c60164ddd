"""TLS from the control plane to its stores and to Temporal, each configured as docs/security.md
says. The embedded SeaweedFS serves https itself. The embedded Redis and Temporal are built
without TLS, so a TLS front relays to them (tests/integration/tls_relay.py): the client side,
which is the project's, is then exactly as against a server that speaks TLS. The embedded
PostgreSQL is built without SSL too: the test shows that the DSN's sslmode is honoured, by a
DSN that demands TLS being refused by it.
"""

import asyncio
import ssl
from urllib.parse import urlsplit

import asyncpg
import pytest
from botocore.exceptions import SSLError as BotocoreSSLError

from adapters.postgres.database import PostgresDatabase
from adapters.redis.queue import RedisQueue
from adapters.s3.object_storage import S3ObjectStorage
from engine.operations import connect_temporal
from security.certs import Authority
from stack.ports import free_ports
from stack.s3_server import INTERNAL_PORTS, S3
from stores.queue import QueuedTask
from tests.integration.tls_relay import TlsRelay

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict:
    authority = Authority("stores' CA")
    directory = tmp_path_factory.mktemp("store-certs")
    server = authority.server("127.0.0.1", "localhost")
    files = {
        "ca": directory / "ca.crt",
        "cert": directory / "server.crt",
        "key": directory / "server.key",
    }
    files["ca"].write_bytes(authority.cert_pem)
    files["cert"].write_bytes(server.cert_pem)
    files["key"].write_bytes(server.key_pem)
    return {"server": server, **files}


@pytest.fixture(scope="module")
def https_s3(tmp_path_factory, pki):
    """SeaweedFS serving S3 over https itself."""
    port, https_port, *internal = free_ports(2 + len(INTERNAL_PORTS))
    server = S3(
        tmp_path_factory.mktemp("s3-https"),
        port=port,
        internal_ports=dict(zip(INTERNAL_PORTS, internal, strict=True)),
        https=(https_port, pki["cert"], pki["key"]),
    )
    server.start()
    try:
        yield f"https://127.0.0.1:{https_port}"
    finally:
        server.stop()


async def _s3(endpoint: str, ca_bundle: str) -> S3ObjectStorage:
    return await S3ObjectStorage.connect(
        endpoint, "tls-test", "armonik", "armonik", "us-east-1", 10.0, 4, ca_bundle
    )


async def test_s3_over_https_with_the_configured_ca_bundle(https_s3, pki):
    objects = await _s3(https_s3, str(pki["ca"]))
    try:
        await objects.ensure_bucket()
        await objects.put("s/a", b"data")
        assert await objects.get("s/a") == b"data"
        await objects.delete(["s/a"])
        assert await objects.keys("s/") == []
    finally:
        await objects.close()

    # Without the bundle, the server's certificate is not trusted.
    untrusting = await _s3(https_s3, "")
    try:
        with pytest.raises(BotocoreSSLError):
            await untrusting.get("s/a")
    finally:
        await untrusting.close()


async def test_redis_over_tls_with_rediss_and_its_ca(stack, pki):
    async with TlsRelay(urlsplit(stack.env()["REDIS_URL"]).netloc, pki["server"]) as relay:
        queue = RedisQueue.connect(f"rediss://{relay.address}/0?ssl_ca_certs={pki['ca']}", 10.0)
        try:
            task = QueuedTask("tls-session", "tls-task", "tls-partition", 1)
            assert await queue.push([task]) == 1
            assert await queue.remove([task]) == 1
        finally:
            await queue.close()

        untrusting = RedisQueue.connect(f"rediss://{relay.address}/0", 10.0)
        try:
            with pytest.raises(Exception) as raised:
                await untrusting.push([task])
            assert "certificate verify failed" in str(raised.value).lower() or isinstance(
                raised.value.__cause__ or raised.value.__context__, ssl.SSLError
            ), raised.value
        finally:
            await untrusting.close()


async def test_temporal_over_tls_with_its_ca(stack, settings, pki):
    async with TlsRelay(stack.temporal.address, pki["server"], alpn=["h2"]) as relay:
        secure = settings.model_copy(
            update={"temporal_address": relay.address, "temporal_tls_ca": str(pki["ca"])}
        )
        temporal = await connect_temporal(secure)
        counted = await temporal.count_workflows()
        assert counted.count >= 0

        plain = settings.model_copy(update={"temporal_address": relay.address})
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(connect_temporal(plain), 20)


async def test_a_postgres_dsn_that_demands_tls_is_honoured(stack, settings):
    """The embedded PostgreSQL has no SSL: a DSN with sslmode=require is refused by it, which
    shows the DSN's TLS settings reach the connection."""
    dsn = f"{settings.postgres_dsn}?sslmode=require"
    # The pool connects on first use.
    db = await PostgresDatabase.connect(dsn, 1, 5.0)
    try:
        with pytest.raises((ConnectionError, asyncpg.exceptions.PostgresError, OSError)) as raised:
            await db.fetchval("SELECT 1")
    finally:
        await db.close()
    assert "ssl" in str(raised.value).lower(), raised.value
