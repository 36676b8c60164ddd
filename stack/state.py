"""Where `make run` keeps its state, and what it publishes there for the CLI."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# Where each process of the stack serves its metrics, for `armonik-sessions top`.
METRICS_FILE = "metrics.json"


def default_state_dir() -> Path:
    """$ARMONIK_STATE_DIR, or <repo>/.state."""
    return Path(os.environ.get("ARMONIK_STATE_DIR", REPO_ROOT / ".state"))
