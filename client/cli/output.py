"""What the CLI prints: a session or rows on stdout (a table, or with --json one JSON object),
and for whatever went wrong one line on stderr and the exit code it leaves with."""

import json
import os
import sys
from typing import Any, NoReturn

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from lifecycle.domain import Partition, Session
from telemetry.tracing import stop_tracing

out = Console()
err = Console(stderr=True)

# The exit codes, as the package's docstring tells them.
FAILED = 1
BAD_ARGUMENTS = 2
UNREACHABLE = 3
INTERRUPTED = 130


def say(line: str) -> None:
    """One line on stderr, as it is: no markup, and never wrapped to the terminal's width."""
    print(" ".join(line.split()), file=sys.stderr, flush=True)


def one_line(text: str, limit: int = 300) -> str:
    """`text` on one line, cut to at most `limit` characters."""
    text = " ".join(text.split())
    return text[: limit - 1] + "…" if len(text) > limit else text


def leave(code: int) -> NoReturn:
    """Leave through a clean exit path: gRPC's and the stores' threads can crash or hang at
    interpreter exit, which would change the exit code."""
    stop_tracing()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def refuse_argument(message: str) -> NoReturn:
    """Bad arguments are refused before any call."""
    say(f"error: {message}")
    leave(BAD_ARGUMENTS)


def not_found(what: str) -> int:
    say(f"error: NotFound: {what}")
    return FAILED


def show_session(session: Session, as_json: bool, superseded: Any = ...) -> None:
    """The session; with --json, as one object, which says whether the operation that answered
    it was superseded if `superseded` is given (None: the CLI could not tell)."""
    data = session.to_json()
    if as_json:
        if superseded is not ...:
            data["superseded"] = superseded
        print(json.dumps(data))
        return
    table = Table(show_header=False, box=None)
    for key, value in data.items():
        if value is None:
            continue
        if key == "options":
            value = ", ".join(f"{k}={v}" for k, v in value.items() if v not in ("", {}, None))
        table.add_row(key, str(value))
    out.print(table)


def show_rows(rows: list[dict[str, Any]], as_json: bool, **extra: Any) -> None:
    if as_json:
        print(json.dumps({**extra, "items": rows}))
        return
    if not rows:
        out.print("(none)")
        return
    table = Table()
    for name in rows[0]:
        # Ids are there to be copied: never cut nor wrapped.
        table.add_column(name, no_wrap=name.endswith("_id"))
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    _print_whole(table)
    for key, value in extra.items():
        out.print(f"{key}: {value}")


def _print_whole(table: Table) -> None:
    """Print the table on stdout, wider than the terminal if its unwrappable columns (the ids)
    need it: rich would otherwise cut them to fit."""
    wide = out.options.update(max_width=1_000_000)
    needed = Measurement.get(out, wide, table).minimum
    console = out if needed <= out.width else Console(width=needed)
    console.print(table)


def partition_row(partition: Partition) -> dict[str, Any]:
    return dict(partition.__dict__)
