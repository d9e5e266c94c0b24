from __future__ import annotations

from paygate.v1 import members_pb2 as pb
from paygate.v1 import members_pb2_grpc

from core.access.membership import IssuedInvitation, Members
from servers.grpc import convert
from servers.grpc.context import ServicerContext, caller


class MemberService(members_pb2_grpc.MemberServiceServicer):
    def __init__(self, members: Members) -> None:
        self._members = members

    async def CreateInvitation(
        self, request: pb.CreateInvitationRequest, context: ServicerContext
    ) -> pb.Invitation:
        issued = await self._members.invite(caller(), request.email, convert.role(request.role))
        return self._issued(issued)

    async def ListInvitations(
        self, request: pb.ListInvitationsRequest, context: ServicerContext
    ) -> pb.ListInvitationsResponse:
        page = await self._members.invitations(
            caller(),
            limit=request.limit,
            starting_after=request.starting_after,
            status=convert.invitation_status(request.status),
        )
        return pb.ListInvitationsResponse(
            data=[convert.invitation(i, self._members.status(i)) for i in page.data],
            has_more=page.has_more,
        )

    async def RevokeInvitation(
        self, request: pb.RevokeInvitationRequest, context: ServicerContext
    ) -> pb.Invitation:
        revoked = await self._members.revoke_invitation(caller(), request.id)
        return convert.invitation(revoked, self._members.status(revoked))

    async def ResendInvitation(
        self, request: pb.ResendInvitationRequest, context: ServicerContext
    ) -> pb.Invitation:
        return self._issued(await self._members.resend_invitation(caller(), request.id))

    def _issued(self, issued: IssuedInvitation) -> pb.Invitation:
        status = self._members.status(issued.invitation)
        return convert.invitation(issued.invitation, status, issued.token)

    async def AcceptInvitation(
        self, request: pb.AcceptInvitationRequest, context: ServicerContext
    ) -> pb.Member:
        return convert.member(await self._members.accept(caller(), request.token))

    async def ListMembers(
        self, request: pb.ListMembersRequest, context: ServicerContext
    ) -> pb.ListMembersResponse:
        page = await self._members.list(
            caller(), limit=request.limit, starting_after=request.starting_after
        )
        return pb.ListMembersResponse(
            data=[convert.member(m) for m in page.data], has_more=page.has_more
        )

    async def UpdateMemberRole(
        self, request: pb.UpdateMemberRoleRequest, context: ServicerContext
    ) -> pb.Member:
        member = await self._members.update_role(
            caller(), request.user_id, convert.role(request.role)
        )
        return convert.member(member)

    async def RemoveMember(
        self, request: pb.RemoveMemberRequest, context: ServicerContext
    ) -> pb.Member:
        return convert.member(await self._members.remove(caller(), request.user_id))
