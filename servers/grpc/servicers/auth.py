from __future__ import annotations

from paygate.v1 import auth_pb2 as pb
from paygate.v1 import auth_pb2_grpc

from core.access.authentication import Auth
from core.shared.secret import Secret
from servers.grpc import context as call
from servers.grpc import convert
from servers.grpc.context import ServicerContext


class AuthService(auth_pb2_grpc.AuthServiceServicer):
    """Passwords and tokens are wrapped in Secret as soon as they leave the request."""

    def __init__(self, auth: Auth) -> None:
        self._auth = auth

    async def Signup(
        self, request: pb.SignupRequest, context: ServicerContext
    ) -> pb.SignupResponse:
        done = await self._auth.signup(
            request.email,
            Secret(request.password),
            request.business_name,
            origin=call.origin.get(),
        )
        return pb.SignupResponse(
            user=convert.user(done.user), account=convert.account(done.merchant)
        )

    async def Login(self, request: pb.LoginRequest, context: ServicerContext) -> pb.Session:
        tokens = await self._auth.login(
            request.email, Secret(request.password), origin=call.origin.get()
        )
        return convert.session(tokens)

    async def Refresh(self, request: pb.RefreshRequest, context: ServicerContext) -> pb.Session:
        tokens = await self._auth.refresh(Secret(request.refresh_token), origin=call.origin.get())
        return convert.session(tokens)

    async def Logout(
        self, request: pb.LogoutRequest, context: ServicerContext
    ) -> pb.LogoutResponse:
        await self._auth.logout(Secret(request.refresh_token), origin=call.origin.get())
        return pb.LogoutResponse()
