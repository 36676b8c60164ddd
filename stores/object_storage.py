"""ObjectStorage: result bytes in an S3 bucket, keyed by the result's opaque id."""

from contextlib import AsyncExitStack

import aioboto3
from botocore.config import Config
from botocore.exceptions import ClientError

# S3's limit for one DeleteObjects call.
MAX_KEYS_PER_DELETE = 1000


class ObjectStorage:
    def __init__(self, client, bucket: str, stack: AsyncExitStack) -> None:
        self.s3 = client
        self.bucket = bucket
        self._stack = stack

    @classmethod
    async def connect(
        cls, endpoint: str, bucket: str, access_key: str, secret_key: str, region: str
    ) -> "ObjectStorage":
        stack = AsyncExitStack()
        session = aioboto3.Session()
        client = await stack.enter_async_context(
            session.client(
                "s3",
                endpoint_url=endpoint,
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
                region_name=region,
                config=Config(
                    # A call to a dead server must fail well within a heartbeat timeout.
                    connect_timeout=3,
                    read_timeout=10,
                    retries={"max_attempts": 1},
                    max_pool_connections=64,
                ),
            )
        )
        return cls(client, bucket, stack)

    async def close(self) -> None:
        await self._stack.aclose()

    async def ensure_bucket(self) -> None:
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

    async def put(self, key: str, data: bytes) -> None:
        await self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)

    async def get(self, key: str) -> bytes | None:
        try:
            response = await self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as e:
            if e.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise
        async with response["Body"] as body:
            return await body.read()

    async def delete(self, keys: list[str]) -> None:
        """Delete the objects; a key with no object is not an error, so a retry is harmless."""
        for i in range(0, len(keys), MAX_KEYS_PER_DELETE):
            chunk = keys[i : i + MAX_KEYS_PER_DELETE]
            response = await self.s3.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True},
            )
            errors = [e for e in response.get("Errors", []) if e.get("Code") != "NoSuchKey"]
            if errors:
                raise RuntimeError(f"S3 refused to delete {len(errors)} objects: {errors[:3]}")

    async def keys(self, prefix: str = "") -> list[str]:
        """Every key under `prefix`; for checks and tests."""
        found: list[str] = []
        paginator = self.s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            found.extend(o["Key"] for o in page.get("Contents", []))
        return found


def object_key(session_id: str, result_id: str) -> str:
    """Objects are laid out by session, so what a session leaves behind can be listed."""
    return f"{session_id}/{result_id}"
