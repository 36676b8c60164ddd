"""Traces across processes, as deployed: the CLI, the API server and a worker, each its own
process with OTEL_EXPORTER_OTLP_ENDPOINT set, export by OTLP to a collector (here, one the test
serves), and one pause is one trace across the three."""

import asyncio
import json
import os
import sys
from collections import defaultdict

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as pb_grpc

from admin.seed import seed
from lifecycle.statuses import TaskStatus
from stack import free_port
from tests.conftest import TEST_BATCHES
from tests.integration.processes import worker_and_api
from tests.support import eventually

TASKS = 500
CLI = os.path.join(os.path.dirname(sys.executable), "armonik-sessions")


class Collector(pb_grpc.TraceServiceServicer):
    """Keeps every span exported to it, with the role (service.namespace) of its process."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, object]] = []

    async def Export(self, request, context):
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            role = attributes.get("service.namespace", "")
            for scope in resource_spans.scope_spans:
                self.spans += [(role, span) for span in scope.spans]
        return pb.ExportTraceServiceResponse()

    def trace(self, trace_id: bytes) -> dict[str, list]:
        """The spans of one trace, by the role of the process that made them."""
        found: dict[str, list] = defaultdict(list)
        for role, span in self.spans:
            if span.trace_id == trace_id:
                found[role].append(span)
        return found


@pytest.fixture
async def collector():
    collector = Collector()
    server = grpc.aio.server()
    pb_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
    await server.start()
    try:
        yield collector, f"http://127.0.0.1:{port}"
    finally:
        await server.stop(None)


async def test_a_pause_from_the_cli_is_one_trace_through_the_api_and_the_worker(
    collector, stack, stores
):
    collector, endpoint = collector
    # Export at once rather than every 5 s.
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    batches = {name.upper(): value for name, value in TEST_BATCHES.items()}
    async with worker_and_api(stack, **otel, **batches) as address:
        env = {**os.environ, **stack.env(), **otel, "API_ADDRESS": address, "NO_COLOR": "1"}

        async def cli(*args: str) -> str:
            process = await asyncio.create_subprocess_exec(
                CLI, *args, env=env, stdout=asyncio.subprocess.PIPE
            )
            out, _ = await asyncio.wait_for(process.communicate(), 120)
            assert process.returncode == 0, out
            return out.decode()

        session_id = json.loads(await cli("session", "create", "--json"))["session_id"]
        await seed(stores, session_id, TASKS, TaskStatus.SUBMITTED)
        await cli("session", "pause", session_id, "--json")

        command = f"session pause {session_id}"
        roots = [
            span
            for role, span in collector.spans
            if role == "cli" and not span.parent_span_id and command in span.name
        ]
        assert len(roots) == 1, [s.name for _, s in collector.spans]
        trace_id = roots[0].trace_id

        def whole() -> dict[str, list]:
            found = collector.trace(trace_id)
            names = {role: {s.name for s in spans} for role, spans in found.items()}
            worker_sql = [
                s
                for s in found.get("worker", [])
                if any(
                    a.key == "db.system" and a.value.string_value == "postgresql"
                    for a in s.attributes
                )
            ]
            if (
                "RunActivity:update_tasks" in names.get("worker", set())
                and "RunWorkflow:PauseSession" in set().union(*names.values())
                and any(n.endswith("/PauseSession") for n in names.get("api", set()))
                and worker_sql
            ):
                return found
            return {}

        found = await eventually(
            lambda: _now(whole()), within=30, what="the pause's spans from every process"
        )
    assert {"cli", "api", "worker"} <= set(found)
    rpc = "/armonik.api.grpc.v1.sessions.Sessions/PauseSession"
    assert rpc in {s.name for s in found["cli"]}, "the CLI's own gRPC client span"


async def _now(value):
    return value
