from __future__ import annotations

from datetime import timedelta

from paygate.v1 import api_keys_pb2 as pb
from paygate.v1 import api_keys_pb2_grpc

from core.access.use_cases import ApiKeys
from servers.grpc import convert
from servers.grpc.context import ServicerContext, caller


class ApiKeyService(api_keys_pb2_grpc.ApiKeyServiceServicer):
    def __init__(self, keys: ApiKeys) -> None:
        self._keys = keys

    async def CreateApiKey(
        self, request: pb.CreateApiKeyRequest, context: ServicerContext
    ) -> pb.ApiKey:
        issued = await self._keys.create(
            caller(),
            convert.key_type(request.type),
            convert.role(request.role),
            list(request.allowed_ips),
        )
        return convert.api_key(issued.key, issued.plaintext)

    async def ListApiKeys(
        self, request: pb.ListApiKeysRequest, context: ServicerContext
    ) -> pb.ListApiKeysResponse:
        page = await self._keys.list(
            caller(), limit=request.limit, starting_after=request.starting_after
        )
        return pb.ListApiKeysResponse(
            data=[convert.api_key(k) for k in page.data], has_more=page.has_more
        )

    async def RevokeApiKey(
        self, request: pb.RevokeApiKeyRequest, context: ServicerContext
    ) -> pb.ApiKey:
        return convert.api_key(await self._keys.revoke(caller(), request.id))

    async def UpdateApiKey(
        self, request: pb.UpdateApiKeyRequest, context: ServicerContext
    ) -> pb.ApiKey:
        key = await self._keys.set_allowed_ips(caller(), request.id, list(request.allowed_ips))
        return convert.api_key(key)

    async def RollApiKey(
        self, request: pb.RollApiKeyRequest, context: ServicerContext
    ) -> pb.ApiKey:
        grace = None
        if request.HasField("grace_period_seconds"):
            seconds = request.grace_period_seconds.value
            # The use-case checks the range; this only keeps timedelta from overflowing.
            grace = timedelta(seconds=max(-1, min(seconds, 10**9)))
        issued = await self._keys.roll(caller(), request.id, grace=grace)
        return convert.api_key(issued.key, issued.plaintext)
