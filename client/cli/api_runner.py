"""How the session and partition commands reach the control plane: through its gRPC API at
--endpoint, and nothing else. A call the API refuses or fails is one line on stderr and exit 1
(2 for INVALID_ARGUMENT); an API that cannot be reached, or is lost on the way, one line that
says what goes on server-side, and exit 3."""

from collections.abc import Awaitable, Callable
from typing import NoReturn

import grpc

from client.cli.output import BAD_ARGUMENTS, FAILED, UNREACHABLE, one_line, refuse_argument, say
from client.cli.runner import finish, invocation, this_command
from client.remote import ApiClient
from security.tls import TlsSettingsError, client_credentials
from settings import Settings
from telemetry.tracing import command_span, start_tracing
from wire.messages import UNAVAILABLE_TRAILER


def run_api(command: Callable[[ApiClient], Awaitable[int | None]]) -> NoReturn:
    """Run one command that calls the API."""

    settings = Settings()
    try:
        credentials = client_credentials(settings)
    except TlsSettingsError as error:
        refuse_argument(str(error))
    start_tracing("cli", endpoint=settings.otel_exporter_otlp_endpoint)

    async def main() -> int:
        with command_span(this_command()):
            return await calls()

    async def calls() -> int:
        async with ApiClient(invocation.endpoint, credentials) as api:
            invocation.api = api
            try:
                return await command(api) or 0
            except grpc.aio.AioRpcError as error:
                return _failed(error, api)

    finish(main)


def _failed(error: grpc.aio.AioRpcError, api: ApiClient) -> int:
    """Say what went wrong in one line; the exit code."""
    code = error.code()
    details = one_line(error.details() or "") or code.name
    if code != grpc.StatusCode.UNAVAILABLE:
        say(f"error: {_status_name(code)}: {details}")
        return BAD_ARGUMENTS if code == grpc.StatusCode.INVALID_ARGUMENT else FAILED
    sent = invocation.sent
    if any(key == UNAVAILABLE_TRAILER for key, _ in error.trailing_metadata() or ()):
        # Answered by the server: a store or Temporal behind it is down. Whether the operation
        # started before that, the server did not say.
        line = f"error: the control plane at {api.endpoint} is unavailable ({details})"
        going_on = f"; if it started, {sent.what}: {sent.then}" if sent else ""
    elif api.reached:
        line = f"error: lost the control plane at {api.endpoint} ({details})"
        going_on = f"; {sent.what}: {sent.then}" if sent else ""
    else:
        # Nothing reached the server: nothing goes on.
        line = f"error: cannot reach the control plane at {api.endpoint} ({details})"
        going_on = ""
    say(line + going_on)
    return UNREACHABLE


def _status_name(code: grpc.StatusCode) -> str:
    """NOT_FOUND -> NotFound, as lifecycle.refusals names the refusals."""
    return "".join(word.capitalize() for word in code.name.split("_"))
