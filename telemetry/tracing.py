"""OpenTelemetry traces: one trace follows a request from the CLI's gRPC call through the API,
the workflow and its activities down to each SQL statement, Redis command and S3 request
(docs/operability.md).

Nothing is instrumented unless OTEL_EXPORTER_OTLP_ENDPOINT is set (or a test hands an exporter):
with no endpoint, no library is patched and no interceptor added, so tracing costs nothing.

The spans are the standard instrumentations', not hand-made ones: Temporal's TracingInterceptor
(client, workflow and activity spans, and the context carried in workflow and activity headers),
the gRPC server and client interceptors, asyncpg, Redis, and aiohttp, which carries aiobotocore's
S3 requests (the botocore instrumentation sees only botocore's synchronous client).

The tracer provider is handed to each instrumentation rather than installed globally, so that a
test can trace one operation and then stop tracing.
"""

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

# The OpenTelemetry SDK and the instrumentations are imported by the processes that trace only:
# the CLI starts without them.
if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from temporalio.contrib.opentelemetry import TracingInterceptor

SERVICE_NAME = "armonik-sessions"


@dataclass
class Tracing:
    provider: "TracerProvider"
    instrumentors: list = field(default_factory=list)

    def temporal_interceptors(self) -> list["TracingInterceptor"]:
        from temporalio.contrib.opentelemetry import TracingInterceptor

        return [TracingInterceptor(self.provider.get_tracer("temporalio"))]

    def server_interceptors(self) -> list:
        from opentelemetry.instrumentation.grpc import aio_server_interceptor

        return [aio_server_interceptor(tracer_provider=self.provider)]

    def client_interceptors(self) -> list:
        from opentelemetry.instrumentation.grpc import aio_client_interceptors

        return list(aio_client_interceptors(tracer_provider=self.provider))

    def stop(self) -> None:
        """Unpatch the libraries and flush what is left to export."""
        global _active
        for instrumentor in self.instrumentors:
            instrumentor.uninstrument()
        self.provider.shutdown()
        if _active is self:
            _active = None


_active: Tracing | None = None


def start_tracing(
    role: str, *, endpoint: str = "", exporter: "SpanExporter | None" = None
) -> Tracing | None:
    """Trace this process (a worker, the API, the CLI: `role`) to the OTLP `endpoint`, or to
    `exporter`; with neither, do nothing. Call before any store or Temporal client connects."""
    global _active
    if _active is not None:
        return _active
    if exporter is None and not endpoint:
        return None
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": SERVICE_NAME, "service.namespace": role})
    )
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentors = [AsyncPGInstrumentor(), RedisInstrumentor(), AioHttpClientInstrumentor()]
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=provider)
    _active = Tracing(provider, instrumentors)
    return _active


def stop_tracing() -> None:
    """Export what is left and unpatch, if this process traces."""
    if _active is not None:
        _active.stop()


def command_span(name: str):
    """A span around one command of the CLI, the root of its calls' trace; nothing when this
    process does not trace."""
    if _active is None:
        return contextlib.nullcontext()
    return _active.provider.get_tracer("armonik-sessions").start_as_current_span(name)


def temporal_interceptors() -> Sequence:
    """The Temporal client's interceptors: the tracing one when this process traces."""
    return _active.temporal_interceptors() if _active else []


def server_interceptors() -> Sequence:
    return _active.server_interceptors() if _active else []


def client_interceptors() -> Sequence:
    return _active.client_interceptors() if _active else []
