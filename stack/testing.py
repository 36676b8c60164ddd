"""An ephemeral stack for test fixtures."""

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stack.stack import Stack


@contextmanager
def ephemeral_stack(
    *, ui: bool = False, include_worker: bool = False, keep_state: bool = False
) -> Iterator[Stack]:
    """A started ephemeral stack in a fresh folder; stopped and removed on exit.

    The folder is made with mkdtemp under /tmp rather than under pytest's tmp_path: as root,
    PostgreSQL runs as another user that must be able to reach its data folder, and pytest
    keeps its base temp folder private to its owner (it resets the mode of it at each run).
    """
    state_dir = Path(tempfile.mkdtemp(prefix="armonik-stack-"))
    stack = Stack(state_dir, ephemeral=True, ui=ui)
    try:
        stack.start(include_worker=include_worker)
        yield stack
    finally:
        stack.stop()
        if not keep_state:
            shutil.rmtree(state_dir, ignore_errors=True)
