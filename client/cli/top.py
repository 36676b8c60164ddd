"""The top command: the dashboard's live figures in the terminal, read from the Prometheus
endpoints of the API server and the workers (client/top.py draws them)."""

from typing import Annotated

import typer

from client.cli.output import leave, out, refuse_argument
from settings import Settings


def top(
    metrics_url: Annotated[
        list[str] | None,
        typer.Option(
            "--metrics",
            metavar="URL",
            help="A metrics endpoint to read, http://HOST:PORT/metrics (repeatable): instead of"
            " those the stack lists.",
        ),
    ] = None,
    interval: Annotated[
        float,
        typer.Option(
            min=0.1, metavar="SECONDS", help="Seconds between two reads of the endpoints."
        ),
    ] = 2.0,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Print one frame, after two reads one interval apart, and exit (3 if no"
            " endpoint answered).",
        ),
    ] = False,
) -> None:
    """Live figures of the control plane, as the dashboard shows them: operations by status,
    rows per second, retries, queue depth, API latency (docs/operability.md).

    Read from the Prometheus endpoints of the API server and the workers: by default those
    `make run` lists in its state directory (metrics.json in $ARMONIK_STATE_DIR, or .state in the
    current directory). An endpoint that does not answer shows as down. Ctrl-C leaves."""
    from client import top as live_top

    try:
        endpoints = live_top.endpoints(metrics_url or [], Settings().state_dir)
    except live_top.NoEndpoints as error:
        refuse_argument(str(error))
    try:
        code = live_top.run(endpoints, interval, once, out)
    except KeyboardInterrupt:
        code = 0
    leave(code)
