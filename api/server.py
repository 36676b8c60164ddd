"""The gRPC server: ArmoniK's Sessions, Partitions, Versions, Tasks, Results, Events,
Applications, Authentication and HealthChecks services, the control plane's Operations service,
and the standard health-checking and reflection services (so that grpcurl and load balancers work).

python -m api [--insecure]     (configuration from environment variables, see settings/)
"""

import argparse
import asyncio
import logging
import os
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import grpc
from armonik.protogen.client import (
    applications_service_pb2_grpc,
    auth_service_pb2_grpc,
    events_service_pb2_grpc,
    health_checks_service_pb2_grpc,
    partitions_service_pb2_grpc,
    results_service_pb2_grpc,
    sessions_service_pb2_grpc,
    tasks_service_pb2_grpc,
    versions_service_pb2_grpc,
)
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from adapters.connect import Stores
from api.applications import ApplicationsService
from api.auth import Authorization
from api.authentication import AuthenticationService
from api.events import EventsService
from api.grpcweb import Gateway, GrpcWeb
from api.health_checks import HealthChecksService
from api.malformed import MalformedRequests
from api.metrics import RequestMetrics
from api.operations import OperationsService
from api.partitions import PartitionsService
from api.results import ResultsService
from api.sessions import SessionsService
from api.tasks import TasksService
from api.versions import VersionsService
from engine.events import Events
from engine.operations import Engine, connect_temporal
from engine.work import Work
from engine.workers import build_worker, prepare, run_until_signalled
from security.permissions import SERVICES as PERMISSION_SERVICES
from security.tls import ServerTls, TlsSettingsError, is_loopback
from settings import Settings
from telemetry.tracing import server_interceptors
from wire.protos import operations_pb2_grpc

log = logging.getLogger("armonik_sessions.api")

# The server prints this line once it accepts calls.
READY_LINE = "api ready"
# Time for calls in flight to answer when the server stops. An operation a call started goes on
# server-side whatever happens to the call.
STOP_GRACE = 5.0
# How often the outbox's leftovers are relayed to the queue (each call relays its own at once).
OUTBOX_RELAY_SECONDS = 5.0

# Every service served, as the permissions name them (each RPC of each has its permission).
SERVICES = [service.full_name for service in PERMISSION_SERVICES]


class ListenRefused(Exception):
    """The API would listen beyond loopback in plain text."""


async def build_server(
    engine: Engine,
    address: str,
    tls: ServerTls | None = None,
    *,
    auth_cache_seconds: float = 10.0,
    gateway: Gateway | None = None,
) -> tuple[grpc.aio.Server, int]:
    """The server with every service on `address`, and the port it got (for port 0). With
    `tls`, it serves mutual TLS only and every call needs its permission (api/auth.py). With
    `gateway`, it also listens on the gateway's private socket, for the gRPC-Web translator."""
    # Authorization first after the metrics: a caller who may not call learns nothing, not even
    # that the bytes they sent do not parse.
    authorization = Authorization(
        engine.stores.auth,
        engine.stores.audit,
        secure=tls is not None,
        cache_seconds=auth_cache_seconds,
        gateway_token=gateway.token if gateway else None,
    )
    interceptors = [*server_interceptors(), RequestMetrics(), authorization, MalformedRequests()]
    server = grpc.aio.server(interceptors=interceptors)
    sessions_service_pb2_grpc.add_SessionsServicer_to_server(SessionsService(engine), server)
    partitions_service_pb2_grpc.add_PartitionsServicer_to_server(PartitionsService(engine), server)
    versions_service_pb2_grpc.add_VersionsServicer_to_server(VersionsService(), server)
    operations_pb2_grpc.add_OperationsServicer_to_server(OperationsService(engine), server)
    # Submission and result data are direct transactional calls, not workflows (docs/design.md).
    work = Work(engine.stores, engine.settings.data_chunk_max_size)
    tasks_service_pb2_grpc.add_TasksServicer_to_server(TasksService(engine, work), server)
    results_service_pb2_grpc.add_ResultsServicer_to_server(ResultsService(engine, work), server)
    if engine.stores.changes is not None:
        events = Events(engine.stores, engine.stores.changes)
        events_service_pb2_grpc.add_EventsServicer_to_server(EventsService(events), server)
    applications_service_pb2_grpc.add_ApplicationsServicer_to_server(
        ApplicationsService(engine), server
    )
    auth_service_pb2_grpc.add_AuthenticationServicer_to_server(AuthenticationService(), server)
    health_checks_service_pb2_grpc.add_HealthChecksServiceServicer_to_server(
        HealthChecksService(engine), server
    )
    checks = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    for name in ["", *SERVICES]:
        await checks.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        [*SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    if tls is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, tls.credentials())
    if gateway is not None:
        server.add_insecure_port(gateway.address)
    return server, port


def check_listening(settings: Settings, tls: ServerTls | None) -> None:
    """Plain text is for loopback: anyone who reaches the port could purge and delete."""
    if tls is not None or settings.api_insecure:
        return
    for address in filter(None, [settings.api_address, settings.grpc_web_address]):
        if not is_loopback(address):
            raise ListenRefused(
                f"refusing to serve the API in plain text on {address}: set API_TLS_CERT,"
                " API_TLS_KEY and API_TLS_CLIENT_CA for mutual TLS, or API_INSECURE=1"
                " (--insecure) to serve it without"
            )


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    tls = ServerTls.from_settings(settings)
    check_listening(settings, tls)
    async with AsyncExitStack() as running:
        stores = await Stores.connect(settings)
        running.push_async_callback(stores.close)
        temporal = await connect_temporal(settings)
        engine = Engine(settings, temporal, stores)
        if settings.api_worker:
            # A worker beside the API, on the API's own Temporal client: operations the API
            # starts begin in it eagerly (see Engine._start), without a trip through Temporal's
            # task queue. It runs workflow tasks and the short local activities only: batch
            # calls belong to the dedicated workers, so the API's answers never wait on a core
            # busy with a million-row sweep.
            await prepare(stores, settings)
            await running.enter_async_context(
                build_worker(temporal, stores, settings, remote_activities=False)
            )
        gateway = Gateway.create() if settings.grpc_web_address else None
        if gateway is not None:
            running.callback(gateway.remove)
        server, _ = await build_server(
            engine,
            settings.api_address,
            tls,
            auth_cache_seconds=settings.auth_cache_seconds,
            gateway=gateway,
        )
        await server.start()
        running.push_async_callback(server.stop, STOP_GRACE)
        # The queue marks that a process killed mid-call left behind reach Redis from here.
        relay = asyncio.create_task(Work(stores).relay_forever(OUTBOX_RELAY_SECONDS))
        running.callback(relay.cancel)
        if gateway is not None:
            web = GrpcWeb(
                gateway,
                tls=tls,
                cors_origins=settings.cors_origins,
                gui_dir=Path(settings.gui_dir) if settings.gui_dir else None,
            )
            # Started after the native server and stopped before it: a translated call
            # always has a server to go to.
            await web.start(settings.grpc_web_address)
            running.push_async_callback(web.stop)
            log.info("gRPC-Web on %s", settings.grpc_web_address)
        print(READY_LINE, flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="serve in plain text on an address beyond loopback (as API_INSECURE=1)",
    )
    if parser.parse_args().insecure:
        os.environ["API_INSECURE"] = "1"
    try:
        run_until_signalled(serve, "api")
    except (ListenRefused, TlsSettingsError) as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(2)
