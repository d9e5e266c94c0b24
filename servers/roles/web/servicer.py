"""CheckoutPageService: the 3-D Secure challenge pages over gRPC, HTML over REST.

Envoy's transcoder answers a google.api.HttpBody with its content_type and data as the
HTTP response, and hands a form POST to us as an HttpBody (content type and raw bytes);
gRPC initial metadata becomes HTTP response headers (the page's security headers).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from google.api import httpbody_pb2
from paygate.v1 import checkout_pages_pb2 as pb
from paygate.v1 import checkout_pages_pb2_grpc

from core.payments.challenges import Challenges
from core.shared.errors import InvalidArgument
from servers.grpc.context import ServicerContext
from servers.roles.web import pages

FORM = "application/x-www-form-urlencoded"
_OUTCOMES = {"complete": True, "fail": False}


class CheckoutPageService(checkout_pages_pb2_grpc.CheckoutPageServiceServicer):
    def __init__(self, challenges: Challenges) -> None:
        self._challenges = challenges

    async def GetChallengePage(
        self, request: pb.GetChallengePageRequest, context: ServicerContext
    ) -> httpbody_pb2.HttpBody:
        challenge = await self._challenges.view(request.attempt)
        return await _send(context, pages.challenge_page(challenge))

    async def SubmitChallenge(
        self, request: pb.SubmitChallengeRequest, context: ServicerContext
    ) -> httpbody_pb2.HttpBody:
        passed = outcome_of(request.form)
        answer = await self._challenges.answer(request.attempt, passed)
        return await _send(context, pages.answer_page(answer))


def outcome_of(form: httpbody_pb2.HttpBody) -> bool:
    """The form's `outcome`: complete (True) or fail (False)."""
    media_type = form.content_type.split(";", 1)[0].strip().lower()
    if media_type != FORM:
        raise InvalidArgument.field("form", f"must be {FORM} (the challenge page's form)")
    try:
        fields = parse_qs(form.data.decode("ascii"), max_num_fields=10, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        fields = {}
    values = fields.get("outcome", [])
    if len(values) != 1 or values[0] not in _OUTCOMES:
        raise InvalidArgument.field("form.outcome", "must be complete or fail")
    return _OUTCOMES[values[0]]


async def _send(context: ServicerContext, page: pages.Page) -> httpbody_pb2.HttpBody:
    await context.send_initial_metadata(pages.PAGE_HEADERS)
    return httpbody_pb2.HttpBody(content_type=pages.CONTENT_TYPE, data=page.html())
