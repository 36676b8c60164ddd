"""Mutual TLS and per-RPC permissions on the gRPC API, against the real stack, with the `armonik`
client's own channel over mTLS: the development users (admin, operator, reader) against every
RPC, connections without a good certificate, fuzzed requests from users who may do nothing,
and the audit trail of a purge.
"""

import asyncio
import datetime
import logging
import os
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from armonik.client import ArmoniKResults, ArmoniKTasks
from armonik.common import Result, TaskDefinition
from armonik.common.channel import create_channel
from armonik.protogen.client.auth_service_pb2_grpc import AuthenticationStub
from armonik.protogen.client.partitions_service_pb2_grpc import PartitionsStub
from armonik.protogen.client.results_service_pb2_grpc import ResultsStub
from armonik.protogen.client.sessions_service_pb2_grpc import SessionsStub
from armonik.protogen.client.versions_service_pb2_grpc import VersionsStub
from armonik.protogen.common import auth_common_pb2 as auth_pb
from armonik.protogen.common import partitions_common_pb2 as partitions_pb
from armonik.protogen.common import results_common_pb2 as results_pb
from armonik.protogen.common import sessions_common_pb2 as sessions_pb
from armonik.protogen.common import versions_common_pb2 as versions_pb
from armonik.protogen.common.objects_pb2 import TaskOptions
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2, health_pb2_grpc

from adapters.postgres.auth_table import PostgresAuthTable
from api.server import build_server
from client.remote import operation_request
from lifecycle.domain import Partition
from lifecycle.registry import ON_ONE_SESSION, OPERATIONS, SESSIONS_SERVICE
from lifecycle.statuses import Operation, SessionStatus
from security.certs import DEV_USERS, Authority, fingerprint
from security.permissions import ALL, DEV_ROLES, READ_VERBS, SERVICES
from security.tls import ServerTls
from tests.conftest import OPTIONS, report_figure
from tests.integration.test_api_fuzz import database_digest, fire, summary
from tests.integration.test_cli import Cli
from wire.protos import operations_pb2
from wire.protos.operations_pb2_grpc import OperationsStub
from workflows.identity import REQUESTED_BY, SESSION_ID, workflow_id

pytestmark = pytest.mark.stack

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES_UNAUTHORIZED", "1000"))
DENIALS = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}


class Pki:
    """The CA of the API, certificates it signed, and some it should refuse."""

    def __init__(self) -> None:
        self.authority = Authority()
        self.server = self.authority.server("127.0.0.1", "localhost")
        self.users = {user: self.authority.client(user) for user in DEV_USERS}
        # Signed by the CA, but no user's.
        self.users["stranger"] = self.authority.client("stranger")
        # A user with no role at all.
        self.users["nobody"] = self.authority.client("nobody")
        self.users["other-ca"] = Authority("another CA").client("admin")
        now = datetime.datetime.now(datetime.UTC)
        self.users["expired"] = self.authority.client(
            "admin",
            not_before=now - datetime.timedelta(days=30),
            not_after=now - datetime.timedelta(days=1),
        )


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


@pytest.fixture(scope="module")
async def secure_api(client, pki: Pki) -> str:
    """The API over mutual TLS, on a free port, with the development roles and users (each
    named by exactly its certificate), and `nobody` without roles."""
    auth = PostgresAuthTable(client.stores.db)
    for role, permissions in DEV_ROLES.items():
        await auth.put_role(role, permissions)
    for user in [*DEV_USERS, "nobody"]:
        await auth.put_user(user, [user] if user in DEV_ROLES else [])
        await auth.add_certificate(user, user, fingerprint(pki.users[user].cert_pem))
    tls = ServerTls(pki.server.cert_pem, pki.server.key_pem, pki.authority.cert_pem)
    server, port = await build_server(client, "127.0.0.1:0", tls)
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(None)


def channel_as(pki: Pki, address: str, user: str | None) -> grpc.Channel:
    """The armonik client's own channel over TLS, with `user`'s certificate (None: none)."""
    issued = pki.users[user] if user else None
    return create_channel(
        f"https://{address}",
        certificate_authority=pki.authority.cert_pem,
        client_certificate=issued.cert_pem if issued else None,
        client_key=issued.key_pem if issued else None,
    )


def rpcs(session_id: str) -> dict[str, Callable[[grpc.Channel], object]]:
    """One call of every RPC that needs a permission, on `session_id`, by permission."""
    sessions = sessions_pb
    by_id = {"session_id": session_id}
    calls: dict[str, Callable[[grpc.Channel], object]] = {
        "Sessions:CreateSession": lambda c: SessionsStub(c).CreateSession(
            sessions.CreateSessionRequest(default_task_option=_options())
        ),
        "Sessions:GetSession": lambda c: SessionsStub(c).GetSession(
            sessions.GetSessionRequest(**by_id)
        ),
        "Sessions:ListSessions": lambda c: SessionsStub(c).ListSessions(
            sessions.ListSessionsRequest(page_size=1)
        ),
        "Sessions:StopSubmission": lambda c: SessionsStub(c).StopSubmission(
            sessions.StopSubmissionRequest(**by_id, client=True)
        ),
        "Partitions:ListPartitions": lambda c: PartitionsStub(c).ListPartitions(
            partitions_pb.ListPartitionsRequest(page_size=1)
        ),
        "Partitions:GetPartition": lambda c: PartitionsStub(c).GetPartition(
            partitions_pb.GetPartitionRequest(id="default")
        ),
        "Versions:ListVersions": lambda c: VersionsStub(c).ListVersions(
            versions_pb.ListVersionsRequest()
        ),
        "Operations:ListRequests": lambda c: OperationsStub(c).ListRequests(
            operations_pb2.ListRequestsRequest(**by_id)
        ),
        # The pause that the matrix's PauseSession started (or refused): its last progress.
        "Operations:WatchOperation": lambda c: list(
            OperationsStub(c).WatchOperation(
                operations_pb2.WatchOperationRequest(**by_id, operation="pause"), timeout=30
            )
        ),
    }
    for operation in ON_ONE_SESSION:
        spec = OPERATIONS[operation]
        stub = SessionsStub if spec.service == SESSIONS_SERVICE else OperationsStub
        message = operation_request(operation)
        calls[spec.permission] = lambda c, stub=stub, name=spec.rpc, message=message: getattr(
            stub(c), name
        )(message(**by_id))
    # The other services' RPCs, each with an empty request of its type: whatever the method
    # makes of it, the permission is checked first.
    methods = {
        f"{s.name}:{m.name}": (f"/{s.full_name}/{m.name}", m) for s in SERVICES for m in s.methods
    }
    for permission, (path, method) in methods.items():
        calls.setdefault(permission, _empty_call(path, method))
    return calls


def _empty_call(path: str, method) -> Callable[[grpc.Channel], object]:
    request = GetMessageClass(method.input_type)()
    codec = {
        "request_serializer": type(request).SerializeToString,
        "response_deserializer": GetMessageClass(method.output_type).FromString,
    }

    def call(channel: grpc.Channel) -> object:
        if method.client_streaming and method.server_streaming:
            return list(channel.stream_stream(path, **codec)(iter([request]), timeout=30))
        if method.client_streaming:
            return channel.stream_unary(path, **codec)(iter([request]), timeout=30)
        if method.server_streaming:
            return list(channel.unary_stream(path, **codec)(request, timeout=30))
        return channel.unary_unary(path, **codec)(request, timeout=30)

    return call


def _options() -> TaskOptions:
    return TaskOptions(max_duration=Duration(seconds=60), max_retries=2, priority=1)


def code_of(call: Callable[[grpc.Channel], object], channel: grpc.Channel) -> grpc.RpcError | None:
    try:
        call(channel)
    except grpc.RpcError as error:
        return error
    return None


async def test_each_user_may_call_exactly_what_its_role_grants(client, secure_api, pki, temporal):
    """Every development user against every RPC: a call its role does not grant answers
    PERMISSION_DENIED, naming the permission, and changes and starts nothing; one it grants
    goes through to the method (which may refuse it for its own reasons)."""
    matrix: dict[str, dict[str, str]] = {}
    for user in DEV_USERS:
        session = await client.create([], OPTIONS)
        session_id = session.session_id
        calls = rpcs(session_id)
        assert sorted(calls) == ALL, "one call for every permission"
        matrix[user] = {}
        with channel_as(pki, secure_api, user) as channel:
            # Purge and Delete last, in that order: each call runs on what the others left.
            last = ["Sessions:PurgeSession", "Sessions:DeleteSession"]
            order = sorted(set(calls) - set(last)) + last
            for permission in order:
                before = await client.find(session_id)
                error = await asyncio.to_thread(code_of, calls[permission], channel)
                granted = permission in DEV_ROLES[user]
                code = error.code() if error else grpc.StatusCode.OK
                matrix[user][permission] = "allow" if code not in DENIALS else "deny"
                if granted:
                    assert code not in DENIALS, (user, permission, error)
                else:
                    assert code == grpc.StatusCode.PERMISSION_DENIED, (user, permission, error)
                    assert permission in error.details()
                    assert await client.find(session_id) == before
                    operation = _operation_of(permission)
                    if operation is not None:
                        await _assert_never_started(temporal, operation, session_id)

    for line in _matrix_lines(matrix):
        report_figure(line)
    assert matrix["reader"] == {
        p: "allow" if p.split(":")[1].startswith(READ_VERBS) else "deny" for p in ALL
    }
    assert {p for p, v in matrix["operator"].items() if v == "deny"} == {
        "Sessions:PurgeSession",
        "Sessions:DeleteSession",
    }
    assert set(matrix["admin"].values()) == {"allow"}


def _operation_of(permission: str) -> Operation | None:
    by_permission = {spec.permission: op for op, spec in OPERATIONS.items()}
    by_permission.pop(OPERATIONS[Operation.CREATE].permission)
    return by_permission.get(permission)


async def _assert_never_started(temporal, operation: Operation, session_id: str) -> None:
    query = f'SessionId = "{session_id}" AND Operation = "{operation.value}"'
    started = [w async for w in temporal.list_workflows(query)]
    assert not started, (operation, session_id)


def _matrix_lines(matrix: dict[str, dict[str, str]]) -> list[str]:
    users = list(matrix)
    lines = ["permissions as run: " + " | ".join(["permission", *users])]
    for permission in ALL:
        lines.append(
            "permissions as run: "
            + " | ".join([permission, *(matrix[u][permission] for u in users)])
        )
    return lines


@pytest.mark.parametrize("who", [None, "other-ca", "expired"])
async def test_a_connection_without_a_good_certificate_gets_no_call_through(
    client, secure_api, pki, who
):
    """No certificate, one from another CA, an expired one: the TLS handshake fails, so no call
    reaches a method (the client sees UNAVAILABLE), and the session is as it was."""
    session = await client.create([], OPTIONS)
    with channel_as(pki, secure_api, who) as channel:
        error = await asyncio.to_thread(
            code_of, rpcs(session.session_id)["Sessions:PurgeSession"], channel
        )
        health = await asyncio.to_thread(
            code_of,
            lambda c: health_pb2_grpc.HealthStub(c).Check(health_pb2.HealthCheckRequest()),
            channel,
        )
    assert error is not None and error.code() == grpc.StatusCode.UNAVAILABLE, error
    assert health is not None and health.code() == grpc.StatusCode.UNAVAILABLE, health
    assert (await client.get(session.session_id)).status == SessionStatus.RUNNING


async def test_a_certificate_that_names_no_user_is_unauthenticated(client, secure_api, pki):
    session = await client.create([], OPTIONS)
    with channel_as(pki, secure_api, "stranger") as channel:
        for permission, call in rpcs(session.session_id).items():
            error = await asyncio.to_thread(code_of, call, channel)
            assert error is not None and error.code() == grpc.StatusCode.UNAUTHENTICATED, (
                permission,
                error,
            )
            assert "CN=stranger" in error.details()
        # Health checking needs no permission.
        health = await asyncio.to_thread(
            code_of,
            lambda c: health_pb2_grpc.HealthStub(c).Check(health_pb2.HealthCheckRequest()),
            channel,
        )
    assert health is None
    assert (await client.get(session.session_id)).status == SessionStatus.RUNNING


@pytest.mark.parametrize("user", ["stranger", "nobody"])
async def test_fuzzed_requests_from_who_may_do_nothing_are_all_denied_and_change_nothing(
    stores, secure_api, pki, user
):
    """The wire API's fuzzed requests, from a certificate that names no user (UNAUTHENTICATED)
    and from a user without roles (PERMISSION_DENIED): every one is denied, malformed bytes
    and unknown methods included, and the database is as it was."""
    before = await database_digest(stores)

    def fuzz():
        with channel_as(pki, secure_api, user) as channel:
            return fire(channel, FUZZ_EXAMPLES, lambda may_succeed: DENIALS)

    codes, wrong = await asyncio.to_thread(fuzz)
    report_figure(f"fuzz as {user}: {summary(codes)}")
    assert not wrong, wrong[:5]
    assert await database_digest(stores) == before


async def test_a_purge_by_admin_is_audited_everywhere(client, secure_api, pki, temporal, caplog):
    """The operations log, the RequestedBy search attribute, the audit log (ListRequests) and
    the audit log line each name admin; the reader's refused purge is audited too."""
    session = await client.create([], OPTIONS)
    session_id = session.session_id
    await client.run(Operation.CLOSE, session_id)
    caplog.set_level(logging.INFO, logger="armonik_sessions.audit")
    with channel_as(pki, secure_api, "reader") as channel:
        denied = await asyncio.to_thread(
            code_of, rpcs(session_id)["Sessions:PurgeSession"], channel
        )
    assert denied is not None and denied.code() == grpc.StatusCode.PERMISSION_DENIED
    with channel_as(pki, secure_api, "admin") as channel:
        purged = await asyncio.to_thread(
            SessionsStub(channel).PurgeSession,
            sessions_pb.PurgeSessionRequest(session_id=session_id),
        )
        audit = await asyncio.to_thread(
            OperationsStub(channel).ListRequests,
            operations_pb2.ListRequestsRequest(session_id=session_id),
        )
    assert purged.session.status == SessionStatus.PURGED

    admitted = [
        o
        for o in await client.stores.operations.of_session(session_id)
        if o.operation == Operation.PURGE
    ]
    assert [o.requested_by for o in admitted] == ["admin"]

    query = f'SessionId = "{session_id}" AND RequestedBy = "admin" AND Operation = "purge"'
    found = [w async for w in temporal.list_workflows(query)]
    assert [w.id for w in found] == [workflow_id(Operation.PURGE, session_id)]
    assert found[0].typed_search_attributes.get(REQUESTED_BY) == "admin"
    assert found[0].typed_search_attributes.get(SESSION_ID) == session_id

    trail = [(r.requested_by, r.rpc, r.code) for r in audit.requests]
    assert ("reader", "Sessions:PurgeSession", "PERMISSION_DENIED") in trail
    assert trail[-1] == ("admin", "Sessions:PurgeSession", "OK")

    lines = [r.getMessage() for r in caplog.records if r.name == "armonik_sessions.audit"]
    assert any(
        '"user": "admin"' in line
        and "Sessions:PurgeSession" in line
        and session_id in line
        and '"code": "OK"' in line
        for line in lines
    ), lines


@pytest.fixture(scope="module")
def pem_files(pki: Pki, tmp_path_factory) -> dict[str, str]:
    """The CA and each user's certificate and key, as files (for the CLI)."""
    directory = tmp_path_factory.mktemp("certs")
    (directory / "ca.crt").write_bytes(pki.authority.cert_pem)
    for user, issued in pki.users.items():
        (directory / f"{user}.crt").write_bytes(issued.cert_pem)
        (directory / f"{user}.key").write_bytes(issued.key_pem)
    return {"dir": str(directory)}


def as_user(pem_files, secure_api: str, user: str) -> dict[str, str]:
    """The CLI's environment to call the API over mutual TLS as `user`."""
    directory = pem_files["dir"]
    return {
        "API_ADDRESS": secure_api,
        "API_CA": f"{directory}/ca.crt",
        "API_CLIENT_CERT": f"{directory}/{user}.crt",
        "API_CLIENT_KEY": f"{directory}/{user}.key",
    }


@pytest.fixture
def cli(stack, settings) -> Cli:
    return Cli(
        {
            **os.environ,
            **stack.env(),
            "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }
    )


async def test_the_work_writes_are_audited(client, secure_api, pki):
    """Each write of Tasks and Results goes in the audit trail with its user, its session and
    its answer (an upload's and a cancellation's session come from their answers), and so does
    a reader's refused creation; no read does."""
    partition = f"audit-{os.getpid()}"
    await client.stores.partitions.upsert(Partition(partition))
    session_id = (await client.create([partition], OPTIONS)).session_id

    def work():
        with channel_as(pki, secure_api, "operator") as channel:
            results, tasks = ArmoniKResults(channel), ArmoniKTasks(channel)
            made = results.create_results_metadata(["out", "in"], session_id)
            payload = results.create_results({"p": b"p"}, session_id)["p"].result_id
            task = tasks.submit_tasks(
                session_id, [TaskDefinition(payload, [made["out"].result_id])]
            )[0]
            results.upload_result_data(made["in"].result_id, session_id, b"in")
            results.list_results(Result.session_id == session_id)
            tasks.cancel_tasks([task.id])
            results.delete_result_data([payload], session_id)
            imported = code_of(
                lambda c: ResultsStub(c).ImportResultsData(
                    results_pb.ImportResultsDataRequest(session_id=session_id)
                ),
                channel,
            )
        with channel_as(pki, secure_api, "reader") as channel:
            denied = code_of(
                lambda c: ArmoniKResults(c).create_results({"x": b"x"}, session_id), channel
            )
        return imported, denied

    imported, denied = await asyncio.to_thread(work)
    assert denied is not None and denied.code() == grpc.StatusCode.PERMISSION_DENIED
    trail = [
        (e.requested_by, e.permission, e.code)
        for e in await client.stores.audit.of_session(session_id)
    ]
    assert trail == [
        ("operator", "Results:CreateResultsMetaData", "OK"),
        ("operator", "Results:CreateResults", "OK"),
        ("operator", "Tasks:SubmitTasks", "OK"),
        ("operator", "Results:UploadResultData", "OK"),
        ("operator", "Tasks:CancelTasks", "OK"),
        ("operator", "Results:DeleteResultsData", "OK"),
        ("operator", "Results:ImportResultsData", imported.code().name if imported else "OK"),
        ("reader", "Results:CreateResults", "PERMISSION_DENIED"),
    ]


async def test_the_cli_calls_the_api_over_mutual_tls_and_lists_the_audit_trail(
    cli, client, secure_api, pem_files
):
    session = await client.create([], OPTIONS)
    session_id = session.session_id
    await client.run(Operation.CLOSE, session_id)

    denied = await cli("session", "purge", session_id, env=as_user(pem_files, secure_api, "reader"))
    assert denied.code == 1, denied
    assert denied.stderr.strip() == (
        "error: PermissionDenied: user reader lacks the permission Sessions:PurgeSession"
    ), denied.stderr

    purged = await cli("session", "purge", session_id, env=as_user(pem_files, secure_api, "admin"))
    assert purged.code == 0, purged
    assert purged.shown("status") == "PURGED"

    audit = await cli(
        "session", "audit", session_id, "--json", env=as_user(pem_files, secure_api, "reader")
    )
    assert audit.code == 0, audit
    trail = [(r["requested_by"], r["rpc"], r["code"]) for r in audit.json()["items"]]
    assert trail == [
        ("reader", "Sessions:PurgeSession", "PERMISSION_DENIED"),
        ("admin", "Sessions:PurgeSession", "OK"),
    ]


async def test_the_cli_without_its_certificate_cannot_reach_a_mutual_tls_api(
    cli, client, secure_api, pem_files
):
    session = await client.create([], OPTIONS)
    env = as_user(pem_files, secure_api, "admin") | {"API_CLIENT_CERT": "", "API_CLIENT_KEY": ""}
    ran = await cli("session", "get", session.session_id, env=env)
    assert ran.code == 3, ran
    assert ran.stderr.startswith(f"error: cannot reach the control plane at {secure_api} ("), ran

    half = as_user(pem_files, secure_api, "admin") | {"API_CLIENT_KEY": ""}
    ran = await cli("session", "get", session.session_id, env=half)
    assert ran.code == 2, ran
    assert "API_CLIENT_CERT set without API_CLIENT_KEY" in ran.stderr, ran


async def test_auth_admin_commands_manage_who_may_do_what(cli, client, secure_api, pem_files, pki):
    """A new user, given a role and a certificate with the admin commands, may call what the
    role grants, and nothing once removed; bad arguments change nothing."""
    role = f"pausers-{os.getpid()}"
    user = f"newcomer-{os.getpid()}"
    issued = pki.authority.client(user)
    cert = Path(pem_files["dir"]) / f"{user}.crt"
    cert.write_bytes(issued.cert_pem)
    (Path(pem_files["dir"]) / f"{user}.key").write_bytes(issued.key_pem)
    ran = await cli("auth", "role", "put", role, "Sessions:PauseSession", "Sessions:GetSession")
    assert ran.code == 0, ran
    ran = await cli("auth", "user", "put", user, "--role", role)
    assert ran.code == 0, ran
    ran = await cli("auth", "user", "certificate", user, "--cert", str(cert))
    assert ran.code == 0, ran
    listed = await cli("auth", "user", "list", "--json")
    row = next(r for r in listed.json()["items"] if r["user"] == user)
    assert row["roles"] == role
    assert row["certificates"] == f"CN={user}/{fingerprint(issued.cert_pem)}"

    for bad, code in [
        (("auth", "role", "put", role, "Sessions:Nothing"), 2),
        (("auth", "user", "put", user, "--role", "no-such-role"), 1),
        (("auth", "user", "certificate", user), 2),
        (("auth", "user", "certificate", "no-such-user", "--cn", "x"), 1),
    ]:
        ran = await cli(*bad)
        assert ran.code == code, (bad, ran)
        assert ran.stderr.startswith("error: "), ran
    assert (await cli("auth", "user", "list", "--json")).json() == listed.json()

    session = await client.create([], OPTIONS)
    env = as_user(pem_files, secure_api, user)
    paused = await cli("session", "pause", session.session_id, env=env)
    assert paused.code == 0, paused
    closed = await cli("session", "close", session.session_id, env=env)
    assert closed.code == 1 and "Sessions:CloseSession" in closed.stderr, closed

    assert (await cli("auth", "user", "remove", user)).code == 0
    assert (await cli("auth", "role", "remove", role)).code == 0
    assert user not in {
        r["user"] for r in (await cli("auth", "user", "list", "--json")).json()["items"]
    }


async def test_the_current_user_is_the_certificate_s_with_its_roles_and_permissions(
    secure_api, pki
):
    for user in DEV_USERS:
        with channel_as(pki, secure_api, user) as channel:
            answer = await asyncio.to_thread(
                AuthenticationStub(channel).GetCurrentUser, auth_pb.GetCurrentUserRequest()
            )
        assert answer.user.username == user
        assert list(answer.user.roles) == [user]
        assert sorted(answer.user.permissions) == sorted(DEV_ROLES[user])
