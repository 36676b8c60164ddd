"""One run of the CLI, and its way out: the API it calls and what it sent (for the line that
reports a loss or an interruption), and the command run to its end, whatever happens, as either
its own output or one line on stderr and an exit code, never a traceback."""

import asyncio
import shlex
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn

from client.cli.output import BAD_ARGUMENTS, FAILED, INTERRUPTED, UNREACHABLE, leave, say
from client.remote import ApiClient
from lifecycle.refusals import INVALID_ARGUMENT, Refused
from settings import Settings

DEFAULT_ENDPOINT: str = Settings.model_fields["api_address"].default


@dataclass
class Sent:
    """What goes on server-side once this command sent its request, and what to run then."""

    what: str  # "the pause of session X goes on server-side"
    then: str  # 'run "armonik-sessions session pause X" again to follow it'


@dataclass
class Invocation:
    """This run of the CLI: the API it calls, and what it sent (for the line that reports a
    loss or an interruption)."""

    endpoint: str = DEFAULT_ENDPOINT
    # Given on the command line: the commands the CLI suggests then repeat it.
    endpoint_given: bool = False
    api: ApiClient | None = None
    sent: Sent | None = None


invocation = Invocation()


def command_line(*args: str) -> str:
    """A command to suggest to the user, against the same endpoint."""
    endpoint = ["--endpoint", invocation.endpoint] if invocation.endpoint_given else []
    return shlex.join(["armonik-sessions", *endpoint, *args])


def this_command() -> str:
    """The command as the user ran it: running it again joins the operation it started."""
    return shlex.join(["armonik-sessions", *sys.argv[1:]])


def finish(
    main: Callable[[], Awaitable[int]],
    unreachable: Callable[[BaseException], bool] = lambda _: False,
    unreachable_line: Callable[[BaseException], str] = str,
) -> NoReturn:
    """Run one command. Whatever happens, the user gets either the command's output or one line
    on stderr, never a traceback: `unreachable` tells the errors that say something the command
    needs cannot be reached (exit 3), in the line `unreachable_line` says."""

    async def interruptible() -> int:
        # Ctrl-C ends the command at once, whatever it awaits: cancelling the command's task
        # instead (asyncio.run's way) waits on every cleanup of the gRPC channel and its streams.
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, interrupted)
        return await main()

    try:
        code = asyncio.run(interruptible())
    except Refused as e:
        say(f"error: {e.kind}: {e.message}")
        code = BAD_ARGUMENTS if e.kind == INVALID_ARGUMENT else FAILED
    except KeyboardInterrupt:
        interrupted()
    except Exception as e:
        if unreachable(e):
            say(unreachable_line(e))
            code = UNREACHABLE
        else:
            say(f"error: {type(e).__name__}: {e}")
            code = FAILED
    leave(code)


def interrupted() -> NoReturn:
    sent = invocation.sent
    reached = invocation.api is not None and invocation.api.reached
    say(f"interrupted; {sent.what}: {sent.then}" if sent and reached else "interrupted")
    leave(INTERRUPTED)
