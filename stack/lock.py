"""One `make run` per state folder: an flock held for the life of the process."""

import fcntl
import os
from pathlib import Path


class StackLock:
    """The kernel drops an flock when its holder dies, even by SIGKILL: no stale lock to clear."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Held open until release(): closing the file is what drops the lock.
        lock_file = open(self.path, "a+")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            return False
        lock_file.truncate(0)
        lock_file.write(f"{os.getpid()}\n")
        lock_file.flush()
        self._file = lock_file
        return True

    def holder(self) -> str:
        """The pid the holder wrote, for the message to whoever did not get the lock."""
        try:
            return self.path.read_text().strip() or "unknown"
        except FileNotFoundError:
            return "unknown"

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
