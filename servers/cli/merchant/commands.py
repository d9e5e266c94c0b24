"""`paygate payments|keys|events|login`: the merchant's API from a terminal.

    paygate login [--api-key sk_...] [--api-url https://host:port]
    paygate payments list [--status SUCCEEDED] [--limit N]
    paygate payments get pi_...
    paygate payments create --amount 2500 --currency eur [--capture-method manual]
                            [--receipt-email a@b.c] [--description TEXT]
    paygate payments confirm pi_... --payment-method tok_...|pm_...
    paygate payments capture pi_... [--amount N]
    paygate payments refund pi_... [--amount N] [--reason requested_by_customer]
    paygate keys list | create [--type publishable] [--role developer] [--allow CIDR]...
                      | revoke key_... | roll key_... [--grace SECONDS]
                      | allow key_... [CIDR ...]          (none: any address)
    paygate events tail [--types a,b] [--limit N]

Every command takes --json (the API's objects as JSON, one per line). Mutating commands
send a fresh Idempotency-Key, so a retried command is a new request, never a replay.
Exit codes: 0 done, 1 the API refused (the status and message are printed), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import ssl
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import betterproto2
from grpclib.client import Channel
from grpclib.exceptions import GRPCError
from paygate_client.paygate import v1 as api

from servers.cli.merchant.credentials import (
    DEFAULT_URL,
    Credentials,
    CredentialsError,
    config_path,
    resolve,
    write_config,
)

COMMANDS = ("login", "payments", "keys", "events")


def add_commands(commands: Any) -> None:
    login = commands.add_parser("login", help="save a secret key for the merchant commands")
    login.add_argument("--api-key", help="secret key (default: asked for, not echoed)")
    login.add_argument("--api-url", help=f"gateway gRPC URL (default {DEFAULT_URL})")
    _json(login)

    payments = commands.add_parser("payments", help="payment intents")
    actions = payments.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="newest first")
    listing.add_argument("--status", help="e.g. SUCCEEDED, REQUIRES_CAPTURE")
    listing.add_argument("--limit", type=int, default=10, help="1..100 (default 10)")
    get = actions.add_parser("get", help="one intent")
    get.add_argument("id")
    create = actions.add_parser("create", help="a new intent")
    create.add_argument("--amount", type=int, required=True, help="minor units, e.g. 2500")
    create.add_argument("--currency", required=True, help="ISO 4217, e.g. eur")
    create.add_argument("--capture-method", choices=("automatic", "manual"), default="automatic")
    create.add_argument("--receipt-email", default="")
    create.add_argument("--description", default="")
    confirm = actions.add_parser("confirm", help="pay with a token or saved payment method")
    confirm.add_argument("id")
    confirm.add_argument("--payment-method", required=True, help="tok_... or pm_...")
    capture = actions.add_parser("capture", help="capture an authorized intent")
    capture.add_argument("id")
    capture.add_argument("--amount", type=int, default=0, help="partial capture (minor units)")
    refund = actions.add_parser("refund", help="refund a payment (all of it by default)")
    refund.add_argument("id")
    refund.add_argument("--amount", type=int, default=0, help="minor units (default: the rest)")
    refund.add_argument("--reason", default="")
    for parser in (listing, get, create, confirm, capture, refund):
        _json(parser)

    keys = commands.add_parser("keys", help="API keys")
    key_actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    key_list = key_actions.add_parser("list", help="the account's keys (prefix and last 4)")
    key_list.add_argument("--limit", type=int, default=100)
    key_create = key_actions.add_parser("create", help="a new key; its secret is shown once")
    key_create.add_argument("--type", choices=("secret", "publishable"), default="secret")
    key_create.add_argument("--role", help="owner, admin, developer, manager or staff")
    key_create.add_argument(
        "--allow", action="append", default=[], metavar="CIDR",
        help="a network the key may be used from (repeatable; none: anywhere)",
    )  # fmt: skip
    key_revoke = key_actions.add_parser("revoke", help="revoke a key at once")
    key_revoke.add_argument("id")
    key_roll = key_actions.add_parser("roll", help="replace a key; the old one works a while")
    key_roll.add_argument("id")
    key_roll.add_argument("--grace", type=int, help="seconds the old key keeps working")
    key_allow = key_actions.add_parser("allow", help="set the networks a key may be used from")
    key_allow.add_argument("id")
    key_allow.add_argument("networks", nargs="*", metavar="CIDR", help="none: any address")
    for parser in (key_list, key_create, key_revoke, key_roll, key_allow):
        _json(parser)

    events = commands.add_parser("events", help="the account's events")
    event_actions = events.add_subparsers(dest="action", required=True, metavar="ACTION")
    tail = event_actions.add_parser("tail", help="print events as they happen (Ctrl-C stops)")
    tail.add_argument("--types", default="*", help="event types, comma separated (default *)")
    tail.add_argument("--limit", type=int, default=0, help="stop after N events (0: never)")
    _json(tail)


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the API's JSON")


def run(args: argparse.Namespace) -> int:
    try:
        if args.command == "login":
            return asyncio.run(login(args))
        credentials = resolve()
        return asyncio.run(_dispatch(credentials, args))
    except CredentialsError as error:
        print(f"paygate: {error}", file=sys.stderr)
        return 2
    except GRPCError as error:
        print(f"paygate: {error.status.name}: {error.message}", file=sys.stderr)
        return 1
    except (OSError, ssl.SSLError) as error:
        print(f"paygate: cannot reach the gateway: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


@asynccontextmanager
async def channel(credentials: Credentials) -> AsyncIterator[Channel]:
    url = urlsplit(credentials.api_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise CredentialsError(
            f"PAYGATE_API_URL must be http://host:port or https://host:port, not "
            f"{credentials.api_url!r}"
        )
    context: ssl.SSLContext | None = None
    if url.scheme == "https":
        context = ssl.create_default_context(cafile=credentials.ca_file or None)
        context.set_alpn_protocols(["h2"])
    port = url.port or (443 if context else 80)
    opened = Channel(url.hostname, port, ssl=context)
    try:
        yield opened
    finally:
        opened.close()


def _metadata(credentials: Credentials, *, mutating: bool = False) -> dict[str, str]:
    metadata = {"authorization": f"Bearer {credentials.api_key}"}
    if mutating:
        metadata["idempotency-key"] = uuid.uuid4().hex
    return metadata


async def login(args: argparse.Namespace) -> int:
    key = args.api_key or getpass.getpass("Secret key (sk_...): ").strip()
    if not key.startswith(("sk_", "rk_")):
        raise CredentialsError("that is not a secret key (sk_...)")
    url = args.api_url or DEFAULT_URL
    credentials = Credentials(key, url, os.environ.get("PAYGATE_CA_FILE", ""))
    async with channel(credentials) as opened:  # the key must work before it is kept
        await api.PaymentIntentServiceStub(opened).list_payment_intents(
            api.ListPaymentIntentsRequest(limit=1), metadata=_metadata(credentials), timeout=30
        )
    path = config_path(os.environ)
    write_config(path, key, url)
    _print({"saved": str(path), "api_url": url}, args.json, f"Saved to {path} (mode 0600).")
    return 0


async def _dispatch(credentials: Credentials, args: argparse.Namespace) -> int:
    async with channel(credentials) as opened:
        if args.command == "payments":
            return await _payments(opened, credentials, args)
        if args.command == "keys":
            return await _keys(opened, credentials, args)
        return await _tail(opened, credentials, args)


async def _payments(opened: Channel, credentials: Credentials, args: argparse.Namespace) -> int:
    intents = api.PaymentIntentServiceStub(opened)
    read, write = _metadata(credentials), _metadata(credentials, mutating=True)
    action = args.action
    if action == "list":
        status = _enum(api.PaymentIntentStatus, args.status, "--status") if args.status else None
        page = await intents.list_payment_intents(
            api.ListPaymentIntentsRequest(
                status=status or api.PaymentIntentStatus.STATUS_UNSPECIFIED, limit=args.limit
            ),
            metadata=read,
        )
        _print_list(page.data, args.json, ("id", "status", "amount", "currency", "created"))
        return 0
    if action == "refund":
        refund = await api.RefundServiceStub(opened).create_refund(
            api.CreateRefundRequest(payment_intent=args.id, amount=args.amount, reason=args.reason),
            metadata=write,
        )
        _print_one(refund, args.json, ("id", "payment_intent", "status", "amount", "currency"))
        return 0
    calls: dict[str, Callable[[], Any]] = {
        "get": lambda: intents.get_payment_intent(
            api.GetPaymentIntentRequest(id=args.id), metadata=read
        ),
        "create": lambda: intents.create_payment_intent(
            api.CreatePaymentIntentRequest(
                amount=args.amount,
                currency=args.currency,
                capture_method=_enum(
                    api.PaymentIntentCaptureMethod, args.capture_method, "--capture-method"
                ),
                receipt_email=args.receipt_email,
                description=args.description,
            ),
            metadata=write,
        ),
        "confirm": lambda: intents.confirm_payment_intent(
            api.ConfirmPaymentIntentRequest(id=args.id, payment_method=args.payment_method),
            metadata=write,
        ),
        "capture": lambda: intents.capture_payment_intent(
            api.CapturePaymentIntentRequest(id=args.id, amount_to_capture=args.amount),
            metadata=write,
        ),
    }
    intent = await calls[action]()
    _print_one(intent, args.json, ("id", "status", "amount", "amount_received",
                                   "amount_refunded", "currency", "checkout_url"))  # fmt: skip
    return 0


async def _keys(opened: Channel, credentials: Credentials, args: argparse.Namespace) -> int:
    keys = api.ApiKeyServiceStub(opened)
    read, write = _metadata(credentials), _metadata(credentials, mutating=True)
    shown = ("id", "type", "role", "prefix", "last4", "allowed_ips", "revoked_at", "expires_at")
    if args.action == "list":
        page = await keys.list_api_keys(api.ListApiKeysRequest(limit=args.limit), metadata=read)
        _print_list(page.data, args.json, ("id", "type", "role", "prefix", "last4",
                                           "allowed_ips", "last_used"))  # fmt: skip
        return 0
    if args.action == "create":
        role = _enum(api.Role, args.role, "--role") if args.role else api.Role.ROLE_UNSPECIFIED
        key = await keys.create_api_key(
            api.CreateApiKeyRequest(
                type=_enum(api.ApiKeyType, args.type, "--type"), role=role,
                allowed_ips=list(args.allow),
            ),
            metadata=write,
        )  # fmt: skip
        _print_one(key, args.json, ("secret", *shown))
    elif args.action == "revoke":
        key = await keys.revoke_api_key(api.RevokeApiKeyRequest(id=args.id), metadata=write)
        _print_one(key, args.json, shown)
    elif args.action == "roll":
        key = await keys.roll_api_key(
            api.RollApiKeyRequest(id=args.id, grace_period_seconds=args.grace), metadata=write
        )
        _print_one(key, args.json, ("secret", *shown))
    else:
        key = await keys.update_api_key(
            api.UpdateApiKeyRequest(id=args.id, allowed_ips=list(args.networks)), metadata=write
        )
        _print_one(key, args.json, shown)
    return 0


async def _tail(opened: Channel, credentials: Credentials, args: argparse.Namespace) -> int:
    types = [t.strip() for t in args.types.split(",") if t.strip()]
    seen = 0
    stream = api.EventServiceStub(opened).listen_events(
        api.ListenEventsRequest(events=types), metadata=_metadata(credentials)
    )
    async for message in stream:
        if message.listening:
            if not args.json:
                print(f"Listening for {', '.join(types)} (Ctrl-C stops)", file=sys.stderr)
            continue
        if message.event is None:
            continue
        event = message.event
        data = _to_dict(event)
        obj = (data.get("data") or {}).get("object") or {}
        summary = f"{event.created:%H:%M:%S}  {event.type:<40} {event.id}  {obj.get('id', '')}"
        _print(data, args.json, summary)
        seen += 1
        if args.limit and seen >= args.limit:
            break
    return 0


def _enum(kind: Any, value: str, flag: str) -> Any:
    try:
        return kind[value.upper()]
    except KeyError:
        names = [m.name.lower() for m in kind if not m.name.endswith("UNSPECIFIED")]
        raise CredentialsError(f"{flag} must be one of {', '.join(names)}") from None


def _to_dict(message: betterproto2.Message) -> dict[str, Any]:
    return message.to_dict(casing=betterproto2.Casing.SNAKE, include_default_values=True)


def _print(data: Any, as_json: bool, text: str) -> None:
    print(json.dumps(data, default=str) if as_json else text, flush=True)


def _print_one(message: betterproto2.Message, as_json: bool, fields: Sequence[str]) -> None:
    data = _to_dict(message)
    width = max(len(f) for f in fields)
    text = "\n".join(f"{f:<{width}}  {_cell(data.get(f))}" for f in fields if data.get(f))
    _print(data, as_json, text)


def _print_list(
    messages: Sequence[betterproto2.Message], as_json: bool, fields: Sequence[str]
) -> None:
    if as_json:
        for message in messages:
            print(json.dumps(_to_dict(message), default=str), flush=True)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*fields, box=None, pad_edge=False)
    for message in messages:
        data = _to_dict(message)
        table.add_row(*(_cell(data.get(f)) for f in fields))
    console = Console()
    if not console.is_terminal:  # piped: whole ids, never cut to a terminal's width
        console = Console(width=1000)
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)
