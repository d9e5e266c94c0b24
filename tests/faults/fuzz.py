"""Coverage-guided fuzzing (atheris, libFuzzer) of the entry points that take a client's
bytes: the card, the amount, the currency and the metadata of a payment intent, and the
JSON body as Envoy's transcoder parses it into the request message.

    .venv/bin/python -m tests.faults.fuzz TARGET -runs=100000     (TARGET: card, intent, json)

Each target accepts what the API accepts and must refuse everything else with a core
InvalidArgument (or, for JSON, the parse error Envoy answers 400 for): any other
exception is a crash that libFuzzer reports with the input that caused it. A refused
card's number never appears in the error. tests/faults/test_fuzzing.py runs every target
for a short while in `make test`, `make test-faults` for longer (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import atheris

# Coverage is collected in our code only: instrumenting SQLAlchemy and protobuf as well
# makes the start-up take minutes.
with atheris.instrument_imports(include=["core", "servers.grpc"]):
    from google.protobuf import json_format
    from paygate.v1 import payment_intents_pb2 as pb

    from core.access.model import Principal
    from core.access.roles import Role
    from core.payments.model import CaptureMethod
    from core.payments.use_cases import CreatePaymentIntent
    from core.shared.errors import InvalidArgument
    from core.shared.secret import Secret
    from core.vault.cards import CardInput, validate_card
    from servers.grpc import context as call
    from servers.grpc.servicers.payment_intents import PaymentIntentService
    from servers.grpc.text_check import check_text
    from tests.fakes import in_memory_app

NOW = datetime(2026, 12, 6, tzinfo=UTC)
MERCHANT = Principal(merchant_id="acct_fuzz", livemode=False, actor="key_fuzz", role=Role.OWNER)
DIGITS = re.compile(r"\d{12,}")

_loop = asyncio.new_event_loop()
_app = in_memory_app()
_service = PaymentIntentService(
    _app.payment_intents, _app.payments, _app.intent_watch, _app.checkout_base_url
)
call.principal.set(MERCHANT)


def card(data: bytes) -> None:
    given = atheris.FuzzedDataProvider(data)
    number = given.ConsumeUnicodeNoSurrogates(24)
    entered = CardInput(
        number=Secret(number),
        exp_month=given.ConsumeIntInRange(-5, 20),
        exp_year=given.ConsumeIntInRange(-10, 3000),
        cvc=Secret(given.ConsumeUnicodeNoSurrogates(6)),
        name=given.ConsumeUnicodeNoSurrogates(40),
    )
    try:
        validate_card(entered, now=NOW)
    except InvalidArgument as refused:
        said = refused.message + " ".join(v.description + v.field for v in refused.violations)
        for digits in DIGITS.findall(number):
            if digits in said:
                raise AssertionError("a card number in an error") from None


def intent(data: bytes) -> None:
    given = atheris.FuzzedDataProvider(data)
    metadata = {
        given.ConsumeUnicodeNoSurrogates(45): given.ConsumeUnicodeNoSurrogates(60)
        for _ in range(given.ConsumeIntInRange(0, 4))
    }
    command = CreatePaymentIntent(
        amount=given.ConsumeInt(8),
        currency=given.ConsumeUnicodeNoSurrogates(5),
        capture_method=given.PickValueInList([None, *CaptureMethod]),
        payment_method_types=tuple(
            given.ConsumeUnicodeNoSurrogates(6) for _ in range(given.ConsumeIntInRange(0, 2))
        ),
        metadata=metadata,
    )
    with contextlib.suppress(InvalidArgument):
        _loop.run_until_complete(_app.payment_intents.create(MERCHANT, command))


# The body's field names as Envoy accepts them (proto and JSON names) and a stranger.
FIELDS = [
    name
    for field in pb.CreatePaymentIntentRequest.DESCRIPTOR.fields
    for name in dict.fromkeys((field.name, field.json_name))
] + ["unknown_field"]


def _json_value(given: atheris.FuzzedDataProvider, depth: int = 0) -> object:
    """Any JSON value, leaning towards the scalars a request field takes."""
    kind = given.ConsumeIntInRange(0, 8 if depth < 2 else 5)
    if kind == 0:
        return given.ConsumeInt(9)
    if kind == 1:
        return given.ConsumeUnicodeNoSurrogates(given.ConsumeIntInRange(0, 24))
    if kind == 2:
        return given.ConsumeRegularFloat()
    if kind == 3:
        return given.ConsumeBool()
    if kind == 4:
        return None
    if kind == 5:
        return str(given.ConsumeInt(9))  # int64 as JSON string, as proto3 JSON allows
    if kind == 6:
        return [_json_value(given, depth + 1) for _ in range(given.ConsumeIntInRange(0, 3))]
    return {
        given.ConsumeUnicodeNoSurrogates(12): _json_value(given, depth + 1)
        for _ in range(given.ConsumeIntInRange(0, 3))
    }


def _body(given: atheris.FuzzedDataProvider) -> bytes:
    """Mostly a JSON object of the request's fields with values of any type; sometimes raw
    bytes. Random bytes alone are almost never JSON, and then nothing past the parse runs."""
    if given.ConsumeIntInRange(0, 9) == 0:
        return given.ConsumeBytes(given.remaining_bytes())
    fields = {
        given.PickValueInList(FIELDS): _json_value(given)
        for _ in range(given.ConsumeIntInRange(0, len(FIELDS)))
    }
    return json.dumps(fields).encode()


def json_body(data: bytes) -> None:
    """What a REST body goes through: Envoy's proto3 JSON parse (unknown fields dropped),
    the NUL check of every string, the servicer, the use-case."""
    body = _body(atheris.FuzzedDataProvider(data))
    try:
        parsed = json.loads(body)
        request = json_format.ParseDict(
            parsed, pb.CreatePaymentIntentRequest(), ignore_unknown_fields=True
        )
    except (ValueError, TypeError, RecursionError, json_format.ParseError):
        return  # Envoy answers 400 before the API sees it
    try:
        check_text(request)
        _loop.run_until_complete(_service.CreatePaymentIntent(request, None))  # type: ignore[arg-type]
    except InvalidArgument:
        pass


TARGETS: dict[str, Callable[[bytes], None]] = {"card": card, "intent": intent, "json": json_body}


def main() -> None:
    name, *options = sys.argv[1:]
    atheris.Setup([sys.argv[0], *options], TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
