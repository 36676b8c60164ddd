"""Who is calling, and may they: ArmoniK's authentication and authorization, on the gRPC API.

With TLS on, the server requires a client certificate that its CA signed (a connection without
one, or with one from another CA or out of its dates, fails at the handshake and no call gets
through). The certificate's CN and fingerprint name a user in the AuthTable, the user's roles
grant permissions named `Service:Rpc`, and each call needs the permission of its RPC:
- a certificate that names no user answers UNAUTHENTICATED;
- a user without the permission answers PERMISSION_DENIED, naming it.
Either way the call ends before its method runs, so nothing is changed or started. Health
checking and reflection need no permission.

A call that comes through the gRPC-Web translator (api/grpcweb.py) reaches the server over its
private gateway socket, with the client certificate that the translator's TLS verified and the
gateway's secret token in its metadata: that certificate is then the caller's, as if the
browser had connected here. Without the token, those names are ignored.

Every call that asks to change something (security/permissions.py's MUTATING: a session
operation, a submission, an upload...), admitted or refused, goes into the audit log with who
asked, and into a structured log line. Without TLS every caller is `anonymous` and may do
everything (the API then listens on loopback only, unless told otherwise).
"""

import contextvars
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import grpc

from api.handlers import rewrapped
from api.status import abort_for
from security.certs import fingerprint
from security.permissions import ALL, MUTATING, PERMISSIONS
from stores.audit import AuditEntry, AuditLog
from stores.auth import AuthTable, Identity

log = logging.getLogger("armonik_sessions.audit")

ANONYMOUS = "anonymous"
# The metadata by which the gRPC-Web translator passes on the certificate its TLS verified.
GATEWAY_TOKEN = "x-armonik-gateway-token"
GATEWAY_CERT = "x-armonik-gateway-cert-bin"
GATEWAY_COMMON_NAME = "x-armonik-gateway-cn-bin"
# Without TLS, as ArmoniK reports it with authentication off: a user who may do everything.
ANONYMOUS_IDENTITY = Identity(ANONYMOUS, frozenset(ALL))
# Who makes the call being served: the servicers pass it on to the operation they start, and
# Authentication.GetCurrentUser answers it.
_caller: contextvars.ContextVar[Identity] = contextvars.ContextVar(
    "caller", default=ANONYMOUS_IDENTITY
)


def requester() -> str:
    """The user making the call in progress."""
    return _caller.get().user


def caller() -> Identity:
    """The user making the call in progress, with their roles and permissions."""
    return _caller.get()


class Authorization(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        auth: AuthTable,
        audit: AuditLog,
        *,
        secure: bool,
        cache_seconds: float,
        gateway_token: str | None = None,
    ) -> None:
        """`auth` says who a certificate names and what they may do, `audit` keeps who asked
        for what (a store that is down answers UNAVAILABLE, as for any read). `secure` False:
        no TLS, every caller is anonymous and allowed. `gateway_token`: the secret of the
        gRPC-Web translator's gateway, whose forwarded certificates are trusted."""
        self.auth = auth
        self.audit = audit
        self.secure = secure
        self.cache_seconds = cache_seconds
        self.gateway_token = gateway_token
        # By the certificate's CN and PEM: a call from a certificate seen lately costs no
        # parsing and no read.
        self._cache: dict[tuple[str, bytes], tuple[float, Identity | None]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        permission = PERMISSIONS.get(details.method)
        if permission is None and handler is not None:
            # Health checking and reflection.
            return handler
        if handler is None:
            # An unknown method: its caller is told who they are first, and only a known user
            # learns that the method does not exist.
            return grpc.unary_unary_rpc_method_handler(self._unknown(details.method))

        def unary(behaviour):
            async def unary_unary(request, context):
                identity = await self._admit(permission, context, request)
                token = _caller.set(identity)
                try:
                    if permission not in MUTATING:
                        return await behaviour(request, context)
                    return await self._audited(
                        behaviour, request, context, identity.user, permission
                    )
                finally:
                    _caller.reset(token)

            return unary_unary

        def streaming(behaviour):
            async def unary_stream(request, context):
                await self._admit(permission, context, request)
                async for message in behaviour(request, context):
                    yield message

            return unary_stream

        # A stream of requests (an upload) is admitted before its first message is read.
        def client_streaming(behaviour):
            async def stream_unary(requests, context):
                identity = await self._admit(permission, context, None)
                token = _caller.set(identity)
                try:
                    if permission not in MUTATING:
                        return await behaviour(requests, context)
                    return await self._audited(
                        behaviour, requests, context, identity.user, permission
                    )
                finally:
                    _caller.reset(token)

            return stream_unary

        def bidi_streaming(behaviour):
            async def stream_stream(requests, context):
                await self._admit(permission, context, None)
                async for message in behaviour(requests, context):
                    yield message

            return stream_stream

        return rewrapped(
            handler,
            unary=unary,
            streaming=streaming,
            client_streaming=client_streaming,
            bidi_streaming=bidi_streaming,
        )

    def _unknown(self, method: str):
        async def refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
            await self._admit("", context, request)
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"no method {method}")

        return refuse

    async def _admit(self, permission: str, context: grpc.aio.ServicerContext, request) -> Identity:
        """The caller, if they may call `permission` (any known user for ""); else the call
        ends here, and an attempt to change something is audited."""
        if not self.secure:
            return ANONYMOUS_IDENTITY
        who, identity = await self._identify(context)
        if identity is None:
            code = grpc.StatusCode.UNAUTHENTICATED
            message = f"the client certificate ({who}) names no user of this control plane"
        elif permission and permission not in identity.permissions:
            who = identity.user
            code = grpc.StatusCode.PERMISSION_DENIED
            message = f"user {who} lacks the permission {permission}"
        else:
            return identity
        session_id = getattr(request, "session_id", "")
        self._log(who, permission, session_id, code.name)
        if permission in MUTATING:
            await self._record(who, permission, session_id, code.name)
        await context.abort(code, message)
        raise AssertionError("abort returns only by raising")

    async def _identify(self, context: grpc.aio.ServicerContext) -> tuple[str, Identity | None]:
        """Who the certificate says the caller is, and their identity (None if it names no
        user)."""
        peer = context.auth_context()
        if "x509_pem_cert" not in peer:
            peer = self._forwarded(context)
        names = peer.get("x509_common_name") or [b""]
        pem = (peer.get("x509_pem_cert") or [b""])[0]
        common_name = names[0].decode()
        now = time.monotonic()
        cached = self._cache.get((common_name, pem))
        if cached is not None and cached[0] > now:
            identity = cached[1]
        else:
            try:
                identity = (
                    await self.auth.identify(common_name, fingerprint(pem) if pem else "")
                    if common_name
                    else None
                )
            except Exception as error:
                await abort_for(context, error)
            self._cache[(common_name, pem)] = (now + self.cache_seconds, identity)
        return (f"CN={common_name}" if common_name else "no certificate"), identity

    def _forwarded(self, context: grpc.aio.ServicerContext) -> dict[str, list[bytes]]:
        """The certificate the gRPC-Web translator verified, as an auth context; none without
        the gateway's token."""
        metadata = dict(context.invocation_metadata() or ())
        token = metadata.get(GATEWAY_TOKEN, "")
        if not self.gateway_token or not hmac.compare_digest(
            str(token).encode(), self.gateway_token.encode()
        ):
            return {}
        return {
            "x509_common_name": [metadata.get(GATEWAY_COMMON_NAME, b"")],
            "x509_pem_cert": [metadata.get(GATEWAY_CERT, b"")],
        }

    async def _audited(self, behaviour, request, context, user: str, permission: str):
        """Run the call, then record who asked and what they were answered."""
        session_id = _session_of(request)
        response = None
        try:
            response = await behaviour(request, context)
            return response
        finally:
            code = context.code() or grpc.StatusCode.OK
            if code == grpc.StatusCode.OK and response is None:
                # Cancelled, or the server stopped, before the answer: the operation may well
                # go on server-side (its own log says), but this call got no answer.
                code = grpc.StatusCode.CANCELLED
            code_name = code.name if isinstance(code, grpc.StatusCode) else str(code)
            session_id = session_id or _session_of(response)
            detail = (context.details() or "")[:300] if code_name != "OK" else ""
            self._log(user, permission, session_id, code_name, detail)
            await self._record(user, permission, session_id, code_name, detail)

    async def _record(
        self, user: str, permission: str, session_id: str, code: str, detail: str = ""
    ) -> None:
        entry = AuditEntry(datetime.now(UTC), user, permission, session_id, code, detail)
        try:
            await self.audit.record(entry)
        except Exception:
            # The call's answer stands (an operation it ran is done); the log line above
            # still holds the entry.
            log.exception("could not write the audit entry %s", entry)

    @staticmethod
    def _log(user: str, permission: str, session_id: str, code: str, detail: str = "") -> None:
        line = {"user": user, "rpc": permission, "session_id": session_id, "code": code}
        if detail:
            line["detail"] = detail
        log.info("audit %s", json.dumps(line), extra={"audit": line})


def _session_of(message: Any) -> str:
    """The session a request or answer names: its own field, or its result's (an upload's
    answer), or its first task's (CancelTasks names tasks only); '' for none."""
    if message is None:
        return ""
    session_id = getattr(message, "session_id", None)
    if isinstance(session_id, str):
        return session_id
    result = getattr(message, "result", None)
    if result is not None and isinstance(getattr(result, "session_id", None), str):
        return result.session_id
    tasks = getattr(message, "tasks", None)
    if tasks:
        return getattr(tasks[0], "session_id", "")
    return ""
