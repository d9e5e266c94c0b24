from __future__ import annotations

from paygate.v1 import tokens_pb2 as pb
from paygate.v1 import tokens_pb2_grpc

from adapters.vault import wire
from core.vault.ports import VaultApi
from servers.grpc.context import ServicerContext, caller
from servers.grpc.servicers.vault_api import required


class TokenService(tokens_pb2_grpc.TokenServiceServicer):
    """POST /v1/tokens. The vault is in this process (embedded) or behind a gRPC client
    (split): the servicer cannot tell, both are a VaultApi."""

    def __init__(self, vault: VaultApi | None) -> None:
        self._vault = vault

    async def CreateToken(
        self, request: pb.CreateTokenRequest, context: ServicerContext
    ) -> pb.Token:
        token = await required(self._vault).tokenize_card(caller(), wire.card_input(request.card))
        return wire.token(token)
