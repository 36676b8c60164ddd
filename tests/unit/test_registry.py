"""Every operation of lifecycle/registry.py is everywhere it must be: its workflow, its RPC (served,
and called by the CLI), its permission, its CLI command, and the search attributes its workflow
carries, registered by the dev server and the compose file. An operation or an RPC that misses
one fails here."""

from pathlib import Path

import pytest
import typer
import yaml
from armonik.protogen.client import sessions_service_pb2
from armonik.protogen.client.sessions_service_pb2_grpc import SessionsServicer

from api.sessions import SessionsService
from client.cli.app import app
from client.remote import OPERATION_RPCS
from lifecycle.registry import ON_ONE_SESSION, OPERATIONS, SEARCH_ATTRIBUTES, WATCHABLE
from lifecycle.statuses import Operation
from security.permissions import ALL, MUTATING, PERMISSIONS
from stack.temporal_server import Temporal
from workflows.registry import WORKFLOWS

ROOT = Path(__file__).resolve().parents[2]
SESSIONS = sessions_service_pb2.DESCRIPTOR.services_by_name["Sessions"]
# The Sessions RPCs that read, and start no operation.
READS = {"GetSession", "ListSessions"}


def test_every_operation_is_in_the_registry():
    assert set(OPERATIONS) == set(Operation)


@pytest.mark.parametrize("operation", list(Operation))
def test_the_workflow_of_each_operation_is_named_after_its_diagram(operation):
    definition = WORKFLOWS[operation].__temporal_workflow_definition
    assert definition.name == OPERATIONS[operation].name
    assert WORKFLOWS[operation].operation == operation


def test_every_sessions_rpc_is_an_operation_or_a_read():
    rpcs = {method.name for method in SESSIONS.methods}
    assert rpcs == {spec.rpc for spec in OPERATIONS.values()} | READS


@pytest.mark.parametrize("operation", list(Operation))
def test_the_api_serves_the_rpc_of_each_operation(operation):
    rpc = OPERATIONS[operation].rpc
    assert getattr(SessionsService, rpc) is not getattr(SessionsServicer, rpc)


def test_the_cli_calls_the_rpc_of_each_operation_on_one_session():
    assert {op: name for op, (name, _) in OPERATION_RPCS.items()} == {
        op: OPERATIONS[op].rpc for op in ON_ONE_SESSION
    }


@pytest.mark.parametrize("operation", list(Operation))
def test_each_operation_has_its_permission_and_is_audited(operation):
    spec = OPERATIONS[operation]
    assert spec.permission in ALL
    assert PERMISSIONS[f"/{SESSIONS.full_name}/{spec.rpc}"] == spec.permission
    assert spec.permission in MUTATING


def test_only_operations_are_audited_as_changes():
    assert {spec.permission for spec in OPERATIONS.values()} == MUTATING


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
