"""ObjectStorage's delete calls with a stand-in S3 client: one failed call ends the batch's
others, and the window of calls in flight follows what the store answers."""

import asyncio
from contextlib import AsyncExitStack

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from adapters.s3.object_storage import S3ObjectStorage, delete_window


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


class Answers:
    """Each call answers the next of `answers`: an error to raise, or None for a success."""

    def __init__(self, *answers: BaseException | None) -> None:
        self.answers = list(answers)

    async def delete_objects(self, Bucket, Delete):
        answer = self.answers.pop(0)
        if answer is not None:
            raise answer
        return {}


def storage(
    s3, ceiling: int = 8, timeout: float = 30, initial: int | None = None
) -> S3ObjectStorage:
    """`initial`: the window's first size (by default its ceiling, past the slow start)."""
    window = delete_window(1, ceiling, timeout, initial=initial or ceiling)
    return S3ObjectStorage(s3, "b", AsyncExitStack(), timeout, window)


def slow_down() -> ClientError:
    return ClientError(
        {"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}},
        "DeleteObjects",
    )


async def test_a_failed_call_cancels_the_others_and_is_what_the_batch_raises():
    s3 = OneCallFails()
    objects = storage(s3)
    keys = [f"s/{i}" for i in range(4000)]  # four calls

    with pytest.raises(EndpointConnectionError):
        await objects.delete(keys)

    assert s3.calls == 4
    assert s3.cancelled == 3
    assert objects.deletes.in_flight == 0, "every call gave its turn back"
    assert objects.deletes.limit == 8, "a store that is down is not a congested one"


async def test_a_throttling_answer_halves_the_window_and_is_raised():
    objects = storage(Answers(slow_down()))

    with pytest.raises(ClientError):
        await objects.delete_call(["s/1"])

    assert objects.deletes.limit == 4


async def test_a_call_past_its_timeout_halves_the_window():
    class Hangs:
        async def delete_objects(self, Bucket, Delete):
            await asyncio.Event().wait()

    objects = storage(Hangs(), timeout=0.01)

    with pytest.raises(TimeoutError):
        await objects.delete_call(["s/1"])

    assert objects.deletes.limit == 4


async def test_a_call_not_to_make_any_more_is_not_made_and_tells_nothing():
    s3 = Answers()  # any call would fail: it has no answer to give

    made = await storage(s3).delete_call(["s/1"], proceed=lambda: False)

    assert made is False


async def test_answers_in_good_time_grow_the_window_back_to_its_ceiling():
    objects = storage(Answers(slow_down(), *([None] * 40)), ceiling=8)
    with pytest.raises(ClientError):
        await objects.delete_call(["s/0"])
    assert objects.deletes.limit == 4

    for i in range(40):
        assert await objects.delete_call([f"s/{i}"])

    assert objects.deletes.limit == 8


async def test_the_window_starts_small_and_grows_a_call_per_answer_until_congestion():
    objects = storage(Answers(*([None] * 6), slow_down(), None), ceiling=32, initial=2)
    assert objects.deletes.limit == 2

    for i in range(6):
        await objects.delete_call([f"s/{i}"])
    assert objects.deletes.limit == 8

    with pytest.raises(ClientError):
        await objects.delete_call(["s/6"])
    assert objects.deletes.limit == 4
    await objects.delete_call(["s/7"])
    assert objects.deletes.limit == 4, "past the first congestion, a call per window"
