"""Every operation of lifecycle/registry.py is everywhere it must be: its workflow, its RPC (on
ArmoniK's Sessions service or the project's Operations service: served, and called by the CLI),
its permission, its CLI command, and the search attributes its workflow carries, registered by
the dev server and the compose file. An operation or an RPC that misses one fails here."""

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
import yaml
from armonik.protogen.client.sessions_service_pb2_grpc import SessionsServicer
from armonik.protogen.common import sessions_common_pb2 as spb

from api.operations import OperationsService
from api.sessions import SessionsService
from client.cli.app import app
from client.remote import OPERATION_RPCS, operation_request, session_of
from lifecycle.domain import Session, TaskOptions
from lifecycle.registry import (
    ON_ONE_SESSION,
    OPERATIONS,
    OPERATIONS_SERVICE,
    SEARCH_ATTRIBUTES,
    SESSIONS_SERVICE,
    WATCHABLE,
    permission,
    served_by,
)
from lifecycle.statuses import Operation, SessionStatus
from security.permissions import ALL, DEV_ROLES, MUTATING, PERMISSIONS, SERVICES
from stack.temporal_server import Temporal
from wire.messages import session_raw
from wire.protos import operations_pb2
from wire.protos.operations_pb2_grpc import OperationsServicer
from workflows.registry import WORKFLOWS

ROOT = Path(__file__).resolve().parents[2]
SERVICE = {service.name: service for service in SERVICES}
# The RPCs of each service an operation can be on that start no operation.
OWN_RPCS = {
    SESSIONS_SERVICE: {"GetSession", "ListSessions"},
    OPERATIONS_SERVICE: {"WatchOperation", "ListRequests"},
}
# The servicer that serves each service, and the generated base it overrides.
SERVICERS = {
    SESSIONS_SERVICE: (SessionsService, SessionsServicer),
    OPERATIONS_SERVICE: (OperationsService, OperationsServicer),
}


def test_every_operation_is_in_the_registry():
    assert set(OPERATIONS) == set(Operation)


@pytest.mark.parametrize("operation", list(Operation))
def test_the_workflow_of_each_operation_is_named_after_its_diagram(operation):
    definition = WORKFLOWS[operation].__temporal_workflow_definition
    assert definition.name == OPERATIONS[operation].name
    assert WORKFLOWS[operation].operation == operation


@pytest.mark.parametrize("service", list(OWN_RPCS))
def test_every_rpc_of_a_service_is_an_operation_or_its_own(service):
    rpcs = {method.name for method in SERVICE[service].methods}
    on_it = {spec.rpc for spec in OPERATIONS.values() if spec.service == service}
    assert rpcs == on_it | OWN_RPCS[service]
    assert not on_it & OWN_RPCS[service]


def test_the_operations_on_one_session_are_split_between_the_services():
    assert sorted(served_by(SESSIONS_SERVICE) + served_by(OPERATIONS_SERVICE)) == sorted(
        ON_ONE_SESSION
    )


@pytest.mark.parametrize("operation", list(Operation))
def test_the_api_serves_the_rpc_of_each_operation(operation):
    spec = OPERATIONS[operation]
    servicer, generated = SERVICERS[spec.service]
    assert getattr(servicer, spec.rpc) is not getattr(generated, spec.rpc)


@pytest.mark.parametrize("operation", ON_ONE_SESSION)
def test_the_rpc_of_each_operation_on_one_session_takes_what_the_cli_sends(operation):
    spec = OPERATIONS[operation]
    method = SERVICE[spec.service].methods_by_name[spec.rpc]
    assert operation_request(operation).DESCRIPTOR is method.input_type
    if spec.service == OPERATIONS_SERVICE:
        assert method.output_type is operations_pb2.SessionOperationResponse.DESCRIPTOR


def test_the_cli_calls_the_rpc_of_each_operation_on_one_session():
    assert {op: (service, name) for op, (service, name, _) in OPERATION_RPCS.items()} == {
        op: (OPERATIONS[op].service, OPERATIONS[op].rpc) for op in ON_ONE_SESSION
    }


@pytest.mark.parametrize("operation", list(Operation))
def test_each_operation_has_its_permission_and_is_audited(operation):
    spec = OPERATIONS[operation]
    assert spec.permission in ALL
    assert PERMISSIONS[f"/{SERVICE[spec.service].full_name}/{spec.rpc}"] == spec.permission
    assert spec.permission in MUTATING


def test_every_change_is_audited_and_no_read():
    """The session operations and the work writes, derived from what does not only look."""
    writes = {
        "Tasks:SubmitTasks",
        "Tasks:CancelTasks",
        "Results:CreateResultsMetaData",
        "Results:CreateResults",
        "Results:UploadResultData",
        "Results:DeleteResultsData",
        "Results:ImportResultsData",
    }
    assert {spec.permission for spec in OPERATIONS.values()} | writes == MUTATING


@pytest.mark.parametrize("operation", list(Operation))
def test_each_operation_has_its_cli_command(operation):
    sessions = typer.main.get_command(app).commands["session"]
    command = sessions.commands[OPERATIONS[operation].command]
    if operation in ON_ONE_SESSION:
        assert command.help.startswith(OPERATIONS[operation].summary)


def test_every_watchable_operation_sweeps_or_admits_a_change():
    assert Operation.CREATE not in WATCHABLE
    assert set(WATCHABLE) <= set(ON_ONE_SESSION)


def test_the_dev_server_and_the_compose_file_register_every_search_attribute(tmp_path):
    command = Temporal(tmp_path, port=1, http_port=2, metrics_port=3).command()
    for name, kind in SEARCH_ATTRIBUTES.items():
        assert f"{name}={kind}" in command
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    setup = " ".join(compose["services"]["temporal-setup"]["command"])
    for name, kind in SEARCH_ATTRIBUTES.items():
        assert f"--name {name} --type {kind}" in setup


def test_an_operation_on_the_operations_service_derives_all_it_needs(monkeypatch):
    """The path of an operation ArmoniK lacks, which no operation takes yet: moved to the
    Operations service, Close is served there, called there with the generic request,
    permitted and audited under it, and answers the same session."""
    moved = dataclasses.replace(OPERATIONS[Operation.CLOSE], service=OPERATIONS_SERVICE)
    monkeypatch.setitem(OPERATIONS, Operation.CLOSE, moved)
    assert Operation.CLOSE in served_by(OPERATIONS_SERVICE)
    assert Operation.CLOSE not in served_by(SESSIONS_SERVICE)
    assert operation_request(Operation.CLOSE) is operations_pb2.SessionOperationRequest
    assert moved.permission == "Operations:CloseSession"
    # Once its RPC is in the proto, security/permissions.py names it from the descriptor.
    operations = SERVICE[OPERATIONS_SERVICE]
    for method in operations.methods:
        path = f"/{operations.full_name}/{method.name}"
        assert PERMISSIONS[path] == permission(OPERATIONS_SERVICE, method.name)
        assert PERMISSIONS[path] in DEV_ROLES["admin"]


def test_the_generic_answer_carries_armoniks_session_as_it_is_on_the_wire():
    session = Session(
        session_id="s",
        status=SessionStatus.CLOSED,
        client_submission=False,
        worker_submission=True,
        partition_ids=["p"],
        options=TaskOptions(max_duration=60, priority=3, partition_id="p"),
        created_at=datetime(2026, 1, 2, tzinfo=UTC),
    )
    raw = session_raw(session)
    armonik = spb.CloseSessionResponse(session=raw)
    generic = operations_pb2.SessionOperationResponse(session=raw.SerializeToString())
    # A client that declares the field ArmoniK's SessionRaw reads the same bytes.
    assert generic.SerializeToString() == armonik.SerializeToString()
    assert session_of(generic) == session_of(armonik)
    assert session_of(generic).status == SessionStatus.CLOSED
