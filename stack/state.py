"""Where `make run` keeps its state: settings.state_dir, which `armonik-sessions top` reads too
(the CLI does not import the stack); and the repository the stack runs its processes from."""

from pathlib import Path

from settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent


def default_state_dir() -> Path:
    """$ARMONIK_STATE_DIR, or .state in the current directory (the repository's, for make run)."""
    return Settings().state_dir
