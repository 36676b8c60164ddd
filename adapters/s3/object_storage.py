"""ObjectStorage: result bytes in an S3 bucket, keyed by the result's opaque id."""

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import AsyncExitStack

import aioboto3
import botocore.exceptions
from botocore.config import Config
from botocore.exceptions import ClientError

from stores import failures
from stores.adaptive import AdaptiveWindow, OnChange
from stores.objects import MAX_KEYS_PER_DELETE

failures.register(
    timeouts=(botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError),
    down=(botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError),
)

# The window's first size: it grows by one call per answer in good time from there.
SLOW_START = 2
# S3's error codes for "slow down", which AWS and S3-compatible servers answer when overloaded.
THROTTLING_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "Throttling", "RequestTimeout", "503"}
)
# Outside every session's prefix (session ids hold no dot-prefixed name).
WARM_UP_KEY = ".armonik-sessions/warm-up"
# Uploads (the seed tool's) wait this long for an answer: an upload is never tried twice, since
# a first attempt still in flight at the server could land after a purge deleted the object,
# and leave an object no row knows any more.
UPLOAD_TIMEOUT = 120.0
# A streamed upload goes in parts of this size (S3 wants at least 5 MiB but for the last): one
# part is what it holds in memory.
PART_SIZE = 8 * 2**20


class S3ObjectStorage:
    def __init__(
        self,
        client,
        bucket: str,
        stack: AsyncExitStack,
        call_timeout: float,
        deletes: AdaptiveWindow,
    ) -> None:
        self.s3 = client
        self.bucket = bucket
        self._stack = stack
        self.call_timeout = call_timeout
        # One window for the whole process, not per batch: batches of many ranges and many
        # sessions run side by side in one worker, and an S3 server given more calls than it
        # serves at once answers each one later, until every call outlasts its timeout. The
        # window follows what the server serves (stores/adaptive.py).
        self.deletes = deletes

    @classmethod
    async def connect(
        cls,
        endpoint: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        region: str,
        call_timeout: float,
        deletes_in_flight: int,
        ca_bundle: str = "",
        *,
        deletes_floor: int = 1,
        on_window: OnChange | None = None,
    ) -> "S3ObjectStorage":
        """A client whose deletes and reads fail after `call_timeout` seconds (Temporal retries
        the batch), and that never retries a call itself. Between `deletes_floor` and
        `deletes_in_flight` delete calls run at once in this process, as many as the server
        serves in good time."""
        stack = AsyncExitStack()
        session = aioboto3.Session()
        client = await stack.enter_async_context(
            session.client(
                "s3",
                endpoint_url=endpoint,
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
                region_name=region,
                # An https endpoint's certificate is checked against this bundle if given.
                verify=ca_bundle or None,
                config=Config(
                    connect_timeout=call_timeout / 2,
                    read_timeout=UPLOAD_TIMEOUT,
                    retries={"mode": "standard", "total_max_attempts": 1},
                    max_pool_connections=max(64, deletes_in_flight),
                ),
            )
        )
        window = delete_window(deletes_floor, deletes_in_flight, call_timeout, on_window)
        return cls(client, bucket, stack, call_timeout, window)

    async def close(self) -> None:
        await self._stack.aclose()

    async def ping(self) -> None:
        await self.s3.head_bucket(Bucket=self.bucket)

    async def ensure_bucket(self) -> None:
        """Create the bucket if it is missing, and make it ready for writes."""
        try:
            await self.s3.head_bucket(Bucket=self.bucket)
        except ClientError:
            try:
                await self.s3.create_bucket(Bucket=self.bucket)
            except ClientError as e:
                if e.response["Error"]["Code"] not in (
                    "BucketAlreadyOwnedByYou",
                    "BucketAlreadyExists",
                ):
                    raise
        # Some servers (SeaweedFS among them) allocate a bucket's storage at its first write,
        # which can hold the writes of that moment for seconds: take that wait here, once.
        await self.put(WARM_UP_KEY, b"")
        await self.delete([WARM_UP_KEY])

    async def put(self, key: str, data: bytes) -> None:
        await self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """One PutObject for an object smaller than a part, else a multipart upload, aborted if
        the stream or a part fails, so that no half object is left."""
        buffer, size, parts, upload_id = bytearray(), 0, [], None
        try:
            async for chunk in chunks:
                buffer += chunk
                size += len(chunk)
                while len(buffer) >= PART_SIZE:
                    if upload_id is None:
                        started = await self.s3.create_multipart_upload(Bucket=self.bucket, Key=key)
                        upload_id = started["UploadId"]
                    part, buffer = bytes(buffer[:PART_SIZE]), buffer[PART_SIZE:]
                    answer = await self.s3.upload_part(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=len(parts) + 1,
                        Body=part,
                    )
                    parts.append({"ETag": answer["ETag"], "PartNumber": len(parts) + 1})
            if upload_id is None:
                await self.put(key, bytes(buffer))
                return size
            if buffer:
                answer = await self.s3.upload_part(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=len(parts) + 1,
                    Body=bytes(buffer),
                )
                parts.append({"ETag": answer["ETag"], "PartNumber": len(parts) + 1})
            await self.s3.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
            return size
        except BaseException:
            if upload_id is not None:
                await self.s3.abort_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id
                )
            raise

    async def get_stream(self, key: str, chunk_size: int) -> AsyncIterator[bytes]:
        try:
            response = await self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as e:
            if e.response["Error"]["Code"] in ("NoSuchKey", "404"):
                raise KeyError(key) from None
            raise
        body = response["Body"]
        try:
            while chunk := await body.read(chunk_size):
                yield chunk
        finally:
            body.close()

    async def get(self, key: str) -> bytes | None:
        async with asyncio.timeout(self.call_timeout):
            try:
                response = await self.s3.get_object(Bucket=self.bucket, Key=key)
            except ClientError as e:
                if e.response["Error"]["Code"] in ("NoSuchKey", "404"):
                    return None
                raise
            async with response["Body"] as body:
                return await body.read()

    async def size(self, key: str) -> int | None:
        async with asyncio.timeout(self.call_timeout):
            try:
                response = await self.s3.head_object(Bucket=self.bucket, Key=key)
            except ClientError as e:
                if e.response["Error"]["Code"] in ("NoSuchKey", "404", "NotFound"):
                    return None
                raise
            return response["ContentLength"]

    async def delete(self, keys: list[str]) -> None:
        """Delete the objects, 1,000 keys a call, the calls side by side within the process's
        window; a key with no object is not an error, so a retry is harmless."""
        chunks = [
            keys[i : i + MAX_KEYS_PER_DELETE] for i in range(0, len(keys), MAX_KEYS_PER_DELETE)
        ]
        # A failed call cancels its siblings: calls left running would hold the window while
        # the caller retries.
        try:
            async with asyncio.TaskGroup() as calls:
                for chunk in chunks:
                    calls.create_task(self.delete_call(chunk))
        except ExceptionGroup as failed:
            # The first failure says why (its cause is what the retries metric counts).
            raise failed.exceptions[0] from None

    async def delete_call(self, keys: list[str], proceed: Callable[[], bool] | None = None) -> bool:
        """One DeleteObjects call (at most 1,000 keys), when the window gives it a turn, unless
        `proceed()` then says not to any more; whether it was made. Only the call itself is
        timed, not the wait for its turn."""
        assert len(keys) <= MAX_KEYS_PER_DELETE
        async with self.deletes.slot() as call:
            if proceed is not None and not proceed():
                call.abandon()
                return False
            async with asyncio.timeout(self.call_timeout):
                try:
                    response = await self.s3.delete_objects(
                        Bucket=self.bucket,
                        Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True},
                    )
                except ClientError as error:
                    if _throttled(error):
                        call.congested()
                    raise
        errors = [e for e in response.get("Errors", []) if e.get("Code") != "NoSuchKey"]
        if errors:
            raise RuntimeError(f"S3 refused to delete {len(errors)} objects: {errors[:3]}")
        return True

    async def keys(self, prefix: str = "") -> list[str]:
        """Every key under `prefix`; for checks and tests."""
        found: list[str] = []
        paginator = self.s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            found.extend(o["Key"] for o in page.get("Contents", []))
        return found


def delete_window(
    floor: int,
    ceiling: int,
    call_timeout: float,
    on_change: OnChange | None = None,
    initial: int = SLOW_START,
) -> AdaptiveWindow:
    """The window of delete calls in flight: it shrinks when a call times out, is throttled, or
    takes more than half its timeout (a store answering that late is one call away from
    timeouts), and grows back while calls come back in good time."""
    return AdaptiveWindow(
        min(floor, ceiling),
        ceiling,
        slow_after=call_timeout / 2,
        is_congestion=lambda error: failures.is_timeout(error) or _throttled(error),
        on_change=on_change or (lambda _: None),
        initial=min(ceiling, max(floor, initial)),
    )


def _throttled(error: BaseException) -> bool:
    """S3's answers that ask the caller to slow down."""
    if not isinstance(error, ClientError):
        return False
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in THROTTLING_CODES or status in (429, 503)
