"""ObjectStorage: the bytes of results, under an opaque key each."""

from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Protocol

# S3's limit for one DeleteObjects call, and so the most keys one delete call carries.
MAX_KEYS_PER_DELETE = 1000


def object_key(session_id: str, result_id: str) -> str:
    """Objects are laid out by session, so what a session leaves behind can be listed."""
    return f"{session_id}/{result_id}"


class ObjectStorage(Protocol):
    async def ping(self) -> None:
        """A call that reads no object (HealthChecks): raises if the bucket is out of reach."""
        ...

    async def ensure_bucket(self) -> None:
        """Make the storage ready for writes (its bucket created if missing)."""
        ...

    async def put(self, key: str, data: bytes) -> None: ...

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Write the object from a stream of chunks, never holding it whole; its size."""
        ...

    def get_stream(self, key: str, chunk_size: int) -> AsyncIterator[bytes]:
        """The object's bytes in chunks of at most `chunk_size`; KeyError if there is none."""
        ...

    async def get(self, key: str) -> bytes | None:
        """The object's bytes, or None if there is none."""
        ...

    async def size(self, key: str) -> int | None:
        """The object's size in bytes, or None if there is none."""
        ...

    async def delete(self, keys: list[str]) -> None:
        """Delete the objects; a key with no object is no error."""
        ...

    async def delete_call(self, keys: list[str], proceed: Callable[[], bool] | None = None) -> bool:
        """One delete call of at most MAX_KEYS_PER_DELETE keys, within the process's window of
        calls, unless `proceed()` says not to once its turn comes; whether it was made."""
        ...

    async def keys(self, prefix: str = "") -> list[str]:
        """Every key under `prefix`; for checks and tests."""
        ...
