"""The merchant's side of events on the command line (docs/events.md):

    paygate listen --forward-to http://localhost:3000/hooks [--events a,b]
    paygate trigger payment_intent.succeeded
    paygate webhooks retry whd_...
    paygate webhooks replay we_... --since 2026-12-01T00:00:00Z

Each talks to the gateway's native gRPC port (PAYGATE_GRPC_TARGET, default
127.0.0.1:<PAYGATE_GRPC_PORT>) with a secret key (--api-key or PAYGATE_API_KEY).

`listen` opens ListenEvents (a server stream of the merchant's events through the
gateway), prints each event, POSTs it to --forward-to signed per Standard Webhooks with a
session secret it prints first (whsec_..., for the local receiver to verify with), and
prints the local answer. Nothing it forwards passes the SSRF policy: the receiver is the
developer's own machine, chosen on the developer's own command line.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import grpc
import httpx
from google.protobuf import json_format
from paygate.v1 import (
    events_pb2,
    events_pb2_grpc,
    payment_intents_pb2,
    payment_intents_pb2_grpc,
    refunds_pb2,
    refunds_pb2_grpc,
    tokens_pb2,
    tokens_pb2_grpc,
    webhook_endpoints_pb2,
    webhook_endpoints_pb2_grpc,
)

from core.events.model import EVENT_TYPES
from core.events.signing import headers as signed_headers
from core.shared.secret import Secret
from servers.cli.progress import Steps
from servers.runtime.settings import Settings

Metadata = tuple[tuple[str, str], ...]


def add_commands(commands: Any) -> None:
    listen = commands.add_parser("listen", help="forward the account's events to a local URL")
    listen.add_argument("--forward-to", required=True, help="local URL to POST each event to")
    listen.add_argument("--events", default="*", help="event types, comma separated (default *)")
    _connection(listen)

    trigger = commands.add_parser("trigger", help="make the objects that fire an event (test mode)")
    trigger.add_argument("event", help=f"one of: {', '.join(sorted(TRIGGERS))}")
    _connection(trigger)

    hooks = commands.add_parser("webhooks", help="webhook deliveries")
    actions = hooks.add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")
    retry = actions.add_parser("retry", help="send one delivery again now")
    retry.add_argument("delivery", help="whd_...")
    _connection(retry)
    replay = actions.add_parser("replay", help="send an endpoint's failed deliveries again")
    replay.add_argument("endpoint", help="we_...")
    replay.add_argument("--since", required=True, help="RFC 3339 time, e.g. 2026-12-01T00:00:00Z")
    _connection(replay)


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api-key", help="secret key (default: PAYGATE_API_KEY)")
    parser.add_argument("--target", help="gRPC HOST:PORT (default: PAYGATE_GRPC_TARGET)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    key = args.api_key or os.environ.get("PAYGATE_API_KEY", "")
    if not key:
        print("paygate: an API key is needed: --api-key or PAYGATE_API_KEY", file=sys.stderr)
        return 2
    target = args.target or os.environ.get("PAYGATE_GRPC_TARGET", f"127.0.0.1:{settings.grpc_port}")
    auth: Metadata = (("authorization", f"Bearer {key}"),)
    try:
        if args.command == "listen":
            types = [t.strip() for t in args.events.split(",") if t.strip()]
            return asyncio.run(listen(target, auth, args.forward_to, types))
        if args.command == "trigger":
            return asyncio.run(trigger(target, auth, args.event))
        return asyncio.run(_deliveries(target, auth, args))
    except KeyboardInterrupt:
        return 0
    except grpc.aio.AioRpcError as error:
        print(f"paygate: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1


def _say(text: str) -> None:
    print(f"{datetime.now().strftime('%H:%M:%S')}  {text}", flush=True)


def envelope(event: events_pb2.Event) -> dict[str, Any]:
    """The event as a webhook carries it (core.events.model.Event.envelope)."""
    obj = json_format.MessageToDict(event.data.object, preserving_proto_field_name=True)
    return {
        "id": event.id,
        "object": "event",
        "type": event.type,
        "created": event.created.seconds,
        "livemode": event.livemode,
        "data": {"object": _integral(obj)},
        "request": {"id": event.request.id, "idempotency_key": event.request.idempotency_key},
    }


def _integral(value: Any) -> Any:
    """Struct carries numbers as doubles: whole ones go back to ints, as the API sent them."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


async def listen(target: str, auth: Metadata, forward_to: str, types: list[str]) -> int:
    secret = Secret("whsec_" + base64.b64encode(secrets.token_bytes(24)).decode())
    async with (
        grpc.aio.insecure_channel(target) as channel,
        httpx.AsyncClient(timeout=30, follow_redirects=False, trust_env=False) as client,
    ):
        stub = events_pb2_grpc.EventServiceStub(channel)
        stream = stub.ListenEvents(events_pb2.ListenEventsRequest(events=types), metadata=auth)
        async for message in stream:
            if message.listening:
                _say(f"Ready! Your webhook signing secret is {secret.reveal()}")
                _say(f"Forwarding {', '.join(types) or '*'} to {forward_to}")
                continue
            event = message.event
            _say(f"--> {event.type} [{event.id}]")
            body = json.dumps(envelope(event), separators=(",", ":")).encode()
            sent = signed_headers([secret], event.id, int(time.time()), body)
            try:
                answer = await client.post(forward_to, content=body, headers=sent)
                _say(f"<-- [{answer.status_code}] POST {forward_to} [{event.id}]")
            except httpx.HTTPError as error:
                _say(f"<-- [ERROR] POST {forward_to} [{event.id}]: {type(error).__name__} {error}")
    return 0


# --- trigger -------------------------------------------------------------------------------


class _Api:
    def __init__(self, channel: grpc.aio.Channel, auth: Metadata) -> None:
        self.intents = payment_intents_pb2_grpc.PaymentIntentServiceStub(channel)
        self.tokens = tokens_pb2_grpc.TokenServiceStub(channel)
        self.refunds = refunds_pb2_grpc.RefundServiceStub(channel)
        self._auth = auth

    def meta(self) -> Metadata:
        return (*self._auth, ("idempotency-key", str(uuid.uuid4())))

    async def intent(
        self, amount: int = 2000, manual: bool = False
    ) -> payment_intents_pb2.PaymentIntent:
        method = (
            payment_intents_pb2.PaymentIntent.MANUAL
            if manual
            else payment_intents_pb2.PaymentIntent.AUTOMATIC
        )
        request = payment_intents_pb2.CreatePaymentIntentRequest(
            amount=amount, currency="usd", capture_method=method, description="paygate trigger"
        )
        return await self.intents.CreatePaymentIntent(request, metadata=self.meta())

    async def confirm(
        self, intent_id: str, number: str = "4242424242424242"
    ) -> payment_intents_pb2.PaymentIntent | None:
        card = tokens_pb2.CardInput(number=number, exp_month=12, exp_year=2040, cvc="123")
        token = await self.tokens.CreateToken(
            tokens_pb2.CreateTokenRequest(card=card), metadata=self.meta()
        )
        request = payment_intents_pb2.ConfirmPaymentIntentRequest(
            id=intent_id, payment_method=token.id
        )
        try:
            return await self.intents.ConfirmPaymentIntent(request, metadata=self.meta())
        except grpc.aio.AioRpcError as error:
            if error.code() is not grpc.StatusCode.FAILED_PRECONDITION:
                raise
            return None  # a declined card: what payment_failed wants


async def _created(api: _Api) -> str:
    return (await api.intent()).id


async def _succeeded(api: _Api) -> str:
    intent = await api.intent()
    await api.confirm(intent.id)
    return intent.id


async def _failed(api: _Api) -> str:
    intent = await api.intent()
    await api.confirm(intent.id, "4000000000000002")
    return intent.id


async def _capturable(api: _Api) -> str:
    intent = await api.intent(manual=True)
    await api.confirm(intent.id)
    return intent.id


async def _action(api: _Api) -> str:
    intent = await api.intent()
    await api.confirm(intent.id, "4000002760003184")
    return intent.id


async def _canceled(api: _Api) -> str:
    intent = await api.intent()
    request = payment_intents_pb2.CancelPaymentIntentRequest(id=intent.id)
    await api.intents.CancelPaymentIntent(request, metadata=api.meta())
    return intent.id


async def _refunded(api: _Api) -> str:
    intent_id = await _succeeded(api)
    refund = await api.refunds.CreateRefund(
        refunds_pb2.CreateRefundRequest(payment_intent=intent_id, amount=500), metadata=api.meta()
    )
    return refund.id


async def _disputed(api: _Api) -> str:
    intent = await api.intent()
    await api.confirm(intent.id, "4000000000000259")  # the worker ingests the dispute
    return intent.id


TRIGGERS: dict[str, Callable[[_Api], Awaitable[str]]] = {
    "payment_intent.created": _created,
    "payment_intent.processing": _succeeded,
    "payment_intent.succeeded": _succeeded,
    "payment_intent.payment_failed": _failed,
    "payment_intent.amount_capturable_updated": _capturable,
    "payment_intent.requires_action": _action,
    "payment_intent.canceled": _canceled,
    "charge.refunded": _refunded,
    "refund.created": _refunded,
    "refund.updated": _refunded,
    "charge.dispute.created": _disputed,
}
assert set(TRIGGERS) <= EVENT_TYPES


async def trigger(target: str, auth: Metadata, event_type: str) -> int:
    make = TRIGGERS.get(event_type)
    if make is None:
        print(
            f"paygate: cannot trigger {event_type!r}; one of: {', '.join(sorted(TRIGGERS))}",
            file=sys.stderr,
        )
        return 2
    async with grpc.aio.insecure_channel(target) as channel:
        made = await make(_Api(channel, auth))
    _say(f"Triggered {event_type}: {made}")
    return 0


async def _deliveries(target: str, auth: Metadata, args: argparse.Namespace) -> int:
    WE = webhook_endpoints_pb2
    meta = (*auth, ("idempotency-key", str(uuid.uuid4())))
    async with grpc.aio.insecure_channel(target) as channel:
        stub = webhook_endpoints_pb2_grpc.WebhookEndpointServiceStub(channel)
        if args.webhooks_command == "retry":
            delivery = await stub.RetryWebhookDelivery(
                WE.RetryWebhookDeliveryRequest(id=args.delivery), metadata=meta
            )
            _say(f"Delivery {delivery.id} queued again")
        else:
            request = WE.ReplayWebhookDeliveriesRequest(id=args.endpoint)
            request.since.FromJsonString(args.since)
            with Steps(f"replay {args.endpoint}", ["queueing failed deliveries"]) as steps:
                steps.step("queueing failed deliveries")
                answer = await stub.ReplayWebhookDeliveries(request, metadata=meta)
            _say(f"{answer.requeued} deliveries of {args.endpoint} queued again")
    return 0
