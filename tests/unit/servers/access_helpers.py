"""An in-process API server over memory adapters, with signed-up users and their tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.rpc import error_details_pb2

from adapters import rich_errors
from core.access.audit import AuditEvent
from core.access.authentication import SignedUp
from core.access.model import Principal
from core.access.rate_limits import DEFAULT_LIMITS
from core.access.roles import Role
from core.shared.secret import Secret
from servers.bootstrap.app import App
from servers.roles.api import SERVICES, start
from tests.fakes import in_memory_app
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory

PASSWORD = "a long enough secret"
Metadata = tuple[tuple[str, str], ...]


@dataclass
class Served:
    app: App
    channel: grpc.aio.Channel
    uow: MemoryUnitOfWorkFactory

    def audit(self) -> list[AuditEvent]:
        """Everything the audit log holds, oldest first."""
        return list(self.uow.store.tables.audit_events)


@asynccontextmanager
async def serving(
    rate_limits: Mapping[str, tuple[str, ...]] = DEFAULT_LIMITS,
) -> AsyncIterator[Served]:
    uow = MemoryUnitOfWorkFactory()
    app = in_memory_app(uow, rate_limit_defaults=rate_limits)
    server, _, port = await start(app, "127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Served(app, channel, uow)
    finally:
        await server.stop(None)
        await app.aclose()


GENEROUS = {name: ("1000000/second",) for name in DEFAULT_LIMITS}


def bearer(token: str, account: str = "", **extra: str) -> Metadata:
    metadata = [("authorization", f"Bearer {token}")]
    if account:
        metadata.append(("paygate-account", account))
    metadata += [(k.replace("_", "-"), v) for k, v in extra.items()]
    return tuple(metadata)


def owner_of(signed: SignedUp) -> Principal:
    return Principal(signed.merchant.id, False, signed.user.id, Role.OWNER, user_id=signed.user.id)


async def user_token(app: App, email: str) -> str:
    tokens = await app.auth.login(email, Secret(PASSWORD))
    return tokens.access_token.reveal()


async def member_of(app: App, owner: SignedUp, email: str, role: Role) -> SignedUp:
    """A new user who joins `owner`'s account with `role` (and owns an account of their own)."""
    user = await app.auth.signup(email, Secret(PASSWORD), f"{email}'s own shop")
    issued = await app.members.invite(owner_of(owner), email, role)
    await app.members.accept(
        Principal("", False, user.user.id, None, user_id=user.user.id), issued.token
    )
    return user


def public_methods() -> list[tuple[str, MethodDescriptor]]:
    """(path, descriptor) of every method of every public service the server serves."""
    return [
        (f"/{service.descriptor.full_name}/{method.name}", method)
        for service in SERVICES
        for method in service.descriptor.methods
    ]


async def call(
    channel: grpc.aio.Channel, method: MethodDescriptor, metadata: Metadata, **fields: Any
) -> tuple[grpc.StatusCode, str]:
    """Calls any method with a request built from `fields`; answers the status code and
    the ErrorInfo reason."""
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    path = f"/{method.containing_service.full_name}/{method.name}"
    kwargs = {
        "request_serializer": request_class.SerializeToString,
        "response_deserializer": response_class.FromString,
    }
    try:
        if method.server_streaming:
            stream = channel.unary_stream(path, **kwargs)(
                request_class(**fields), metadata=metadata
            )
            async for _ in stream:
                break
            stream.cancel()
        else:
            await channel.unary_unary(path, **kwargs)(request_class(**fields), metadata=metadata)
    except grpc.aio.AioRpcError as error:
        return error.code(), error_info(error).reason
    return grpc.StatusCode.OK, ""


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    return rich_errors.read(error).info or error_details_pb2.ErrorInfo()
