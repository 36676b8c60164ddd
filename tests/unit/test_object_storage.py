"""ObjectStorage.delete with a stand-in S3 client: one failed call ends the batch's others."""

import asyncio
from contextlib import AsyncExitStack

import pytest
from botocore.exceptions import EndpointConnectionError

from stores.object_storage import ObjectStorage


class OneCallFails:
    """The first delete call fails at once; the others wait until cancelled."""

    def __init__(self) -> None:
        self.calls = 0
        self.cancelled = 0

    async def delete_objects(self, Bucket, Delete):
        self.calls += 1
        if self.calls == 1:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


async def test_a_failed_call_cancels_the_others_and_is_what_the_batch_raises():
    s3 = OneCallFails()
    storage = ObjectStorage(s3, "b", AsyncExitStack(), call_timeout=30, deletes_in_flight=8)
    keys = [f"s/{i}" for i in range(4000)]  # four calls

    with pytest.raises(EndpointConnectionError):
        await storage.delete(keys)

    assert s3.calls == 4
    assert s3.cancelled == 3
    assert storage._deletes._value == 8, "every call gave its turn back"
