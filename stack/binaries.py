"""Where the servers' executables are: every one of them comes from a PyPI package."""

import shutil
import sysconfig
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def venv_binary(name: str) -> Path:
    """An executable the project's packages installed into the interpreter's scripts folder.

    The scripts folder comes first so that `make run` uses the pinned binaries even when
    another version sits earlier on PATH.
    """
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.exists():
        return candidate
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found; install the project with: pip install -e .")
    return Path(found)


def postgres_binary(name: str) -> Path:
    """initdb, postgres, ...: pgserver ships PostgreSQL but not on PATH."""
    with quiet_pgserver_import():
        from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH) / name


@contextmanager
def quiet_pgserver_import() -> Iterator[None]:
    """Importing pgserver makes platformdirs warn when XDG_RUNTIME_DIR is unset, about a
    runtime folder only pgserver's own server management uses."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
