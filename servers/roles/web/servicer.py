"""CheckoutPageService: the hosted checkout, its assets and checkout.js, and the 3-D
Secure challenge pages over gRPC, HTML (or the asset) over REST.

Envoy's transcoder answers a google.api.HttpBody with its content_type and data as the
HTTP response, and hands a form POST to us as an HttpBody (content type and raw bytes);
gRPC initial metadata becomes HTTP response headers (the page's security headers).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from google.api import httpbody_pb2
from paygate.v1 import checkout_pages_pb2 as pb
from paygate.v1 import checkout_pages_pb2_grpc, dashboard_pages_pb2, dashboard_pages_pb2_grpc

from core.payments.challenges import Challenges
from core.payments.checkout import HostedCheckout
from core.shared.errors import InvalidArgument, NotFound
from servers.grpc.context import ServicerContext
from servers.roles.web import assets, pages

FORM = "application/x-www-form-urlencoded"
_OUTCOMES = {"complete": True, "fail": False}


class CheckoutPageService(checkout_pages_pb2_grpc.CheckoutPageServiceServicer):
    def __init__(self, challenges: Challenges, checkout: HostedCheckout) -> None:
        self._challenges = challenges
        self._checkout = checkout
        self._assets = assets.load()

    async def GetCheckoutPage(
        self, request: pb.GetCheckoutPageRequest, context: ServicerContext
    ) -> httpbody_pb2.HttpBody:
        session = await self._checkout.open(request.payment_intent, request.client_secret)
        return await _send(context, pages.checkout_page(session))

    async def GetCheckoutAsset(
        self, request: pb.GetCheckoutAssetRequest, context: ServicerContext
    ) -> httpbody_pb2.HttpBody:
        return await _send_asset(context, self._assets, request.name)

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


class DashboardPageService(dashboard_pages_pb2_grpc.DashboardPageServiceServicer):
    """The dashboard's page and assets; the app itself talks to the API."""

    def __init__(self) -> None:
        self._assets = assets.load_dashboard()

    async def GetDashboardPage(
        self, request: dashboard_pages_pb2.GetDashboardPageRequest, context: ServicerContext
    ) -> httpbody_pb2.HttpBody:
        await context.send_initial_metadata(pages.DASHBOARD_HEADERS)
        return httpbody_pb2.HttpBody(content_type=pages.CONTENT_TYPE, data=pages.dashboard_page())

    async def GetDashboardAsset(
        self, request: dashboard_pages_pb2.GetDashboardAssetRequest, context: ServicerContext
    ) -> httpbody_pb2.HttpBody:
        return await _send_asset(context, self._assets, request.name)


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


async def _send_asset(
    context: ServicerContext, served: dict[str, assets.Asset], name: str
) -> httpbody_pb2.HttpBody:
    asset = served.get(name)
    if asset is None:
        raise NotFound(f"No such asset: {name[:40]!r}", metadata={"param": "name"})
    await context.send_initial_metadata(assets.HEADERS)
    return httpbody_pb2.HttpBody(content_type=asset.content_type, data=asset.data)


async def _send(context: ServicerContext, page: pages.Page) -> httpbody_pb2.HttpBody:
    await context.send_initial_metadata(page.headers)
    return httpbody_pb2.HttpBody(content_type=pages.CONTENT_TYPE, data=page.html())
