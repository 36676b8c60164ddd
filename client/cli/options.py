"""The arguments and options that commands of several audiences share."""

from typing import Annotated

import typer

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
SessionArg = Annotated[str, typer.Argument(help="The session id.")]
PartitionArg = Annotated[str, typer.Argument(help="The partition id.")]
