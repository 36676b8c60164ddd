"""One pause, traced on the real stack into an in-memory exporter: a single trace holds the gRPC
call, as the client made it and the API served it, the workflow, its activities, and the SQL
statements and Redis commands those ran."""

import uuid

import grpc
import pytest
from armonik.protogen.client.sessions_service_pb2_grpc import SessionsStub
from armonik.protogen.common import sessions_common_pb2 as spb
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from temporalio.client import Client

from api.server import build_server
from engine.workers import build_worker
from lifecycle.statuses import SessionStatus, TaskStatus
from telemetry import tracing
from tests.conftest import TEST_BATCHES, report_figure
from tests.support import StackClient, new_session

TASKS = 1_000
PAUSE_RPC = "/armonik.api.grpc.v1.sessions.Sessions/PauseSession"


@pytest.fixture
def traced():
    exporter = InMemorySpanExporter()
    tracer = tracing.start_tracing("test", exporter=exporter)
    assert tracer is not None
    try:
        yield exporter
    finally:
        tracer.stop()


async def test_one_pause_is_one_trace_from_the_grpc_call_to_each_sql_statement(
    traced, stack, stores
):
    settings = stack.client_settings(temporal_task_queue=f"traced-{uuid.uuid4()}", **TEST_BATCHES)
    temporal = await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        interceptors=tracing.temporal_interceptors(),
    )
    client = StackClient(stores, settings, temporal)
    server, port = await build_server(client, "127.0.0.1:0")
    await server.start()
    try:
        async with build_worker(temporal, stores, settings):
            session_id = await new_session(client, mix={TaskStatus.SUBMITTED: TASKS})
            traced.clear()  # only the pause
            async with grpc.aio.insecure_channel(
                f"127.0.0.1:{port}", interceptors=tracing.client_interceptors()
            ) as channel:
                reply = await SessionsStub(channel).PauseSession(
                    spb.PauseSessionRequest(session_id=session_id)
                )
            assert reply.session.status == SessionStatus.PAUSED
    finally:
        await server.stop(None)

    spans = traced.get_finished_spans()
    (call,) = [s for s in spans if s.kind == SpanKind.CLIENT and s.name == PAUSE_RPC]
    trace_id = call.context.trace_id
    assert call.parent is None, "the client's call is the root"
    mine = [s for s in spans if s.context.trace_id == trace_id]
    names = [s.name for s in mine]
    by_id = {s.context.span_id: s for s in mine}

    def ancestors(span) -> list[str]:
        chain = []
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            chain.append(span.name)
        return chain

    served = [s for s in mine if s.kind == SpanKind.SERVER and s.name == PAUSE_RPC]
    assert len(served) == 1 and ancestors(served[0]) == [PAUSE_RPC]
    assert "StartWorkflow:PauseSession" in names
    assert "RunWorkflow:PauseSession" in names
    for activity in ("admit", "update_tasks", "dequeue_tasks", "get_session"):
        assert f"RunActivity:{activity}" in names, f"no span of the activity {activity}"

    sql = [s for s in mine if (s.attributes or {}).get("db.system") == "postgresql"]
    redis = [s for s in mine if (s.attributes or {}).get("db.system") == "redis"]
    for span in [*sql, *redis]:
        assert ancestors(span)[-1] == PAUSE_RPC, f"{span.name} is not under the call"

    def under(activity: str, found: list) -> int:
        return sum(1 for span in found if f"RunActivity:{activity}" in ancestors(span))

    # Each batch updates its tasks in SQL, then takes them out of their queue in Redis.
    batches = TASKS // TEST_BATCHES["task_batch_size"]
    assert under("update_tasks", sql) > batches
    assert under("dequeue_tasks", redis) >= batches
    report_figure(
        f"one pause of {TASKS:,} tasks traced: {len(mine)} spans in one trace, {len(sql)} SQL,"
        f" {len(redis)} Redis, {sum(n.startswith('RunActivity:') for n in names)} activity runs"
    )
    # Nothing of this pause went to another trace.
    strays = [s.name for s in spans if s.context.trace_id != trace_id and "Pause" in s.name]
    assert not strays
