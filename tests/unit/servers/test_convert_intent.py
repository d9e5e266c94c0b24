"""The intent's message (convert.payment_intent) is the one the conversion built before its
enum tables and its times set in place: the same fields set, the same bytes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st
from paygate.v1 import payment_intents_pb2

from core.payments.model import (
    CaptureMethod,
    NextAction,
    PaymentError,
    PaymentIntent,
    PaymentMethodDetails,
    Status,
)
from core.risk.model import Decision, Reason, RiskAssessment
from servers.grpc import convert

PI = payment_intents_pb2.PaymentIntent


def _timestamp_before(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    tz = value.tzinfo
    if tz is UTC:
        since = value - datetime(1970, 1, 1, tzinfo=UTC)
    elif tz is None:
        since = value - datetime(1970, 1, 1)
    else:
        ts = Timestamp()
        ts.FromDatetime(value)
        return ts
    return Timestamp(seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1000)


def _before(intent: PaymentIntent, checkout_base_url: str) -> PI:
    """The conversion as it was: enums by protobuf's lookup of their names, times built
    as messages and copied in."""
    message = PI(
        id=intent.id,
        amount=intent.amount,
        currency=intent.currency,
        status=PI.Status.Value(intent.status.value),
        capture_method=PI.CaptureMethod.Value(intent.capture_method.value),
        amount_capturable=intent.amount_capturable,
        amount_received=intent.amount_received,
        amount_refunded=intent.amount_refunded,
        client_secret=intent.client_secret,
        payment_method=intent.payment_method,
        attempts=intent.attempts,
        livemode=intent.livemode,
        metadata=intent.metadata,
        created=_timestamp_before(intent.created),
        canceled_at=_timestamp_before(intent.canceled_at),
        cancellation_reason=intent.cancellation_reason,
        description=intent.description,
        receipt_email=intent.receipt_email,
        return_url=intent.return_url,
        payment_method_types=intent.payment_method_types,
        latest_attempt=intent.latest_attempt,
        success_url=intent.success_url,
        cancel_url=intent.cancel_url,
        checkout_url=convert.checkout_url(checkout_base_url, intent) if checkout_base_url else "",
    )
    if intent.last_payment_error:
        error = intent.last_payment_error
        message.last_payment_error.code = error.code
        message.last_payment_error.decline_code = error.decline_code
        message.last_payment_error.message = error.message
    if intent.next_action:
        action = intent.next_action
        message.next_action.type = payment_intents_pb2.NextAction.Type.Value(action.type)
        message.next_action.url = action.url
        message.next_action.qr_code = action.qr_code
    if intent.risk:
        message.risk.CopyFrom(convert.risk(intent.risk))
    if intent.payment_method_details:
        message.payment_method_details.CopyFrom(
            convert.payment_method_details(intent.payment_method_details)
        )
    return message


_text = st.text(max_size=6)
_zones = st.sampled_from(
    [UTC, None, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-3))]
)
_times = st.builds(
    lambda moment, zone: moment.replace(tzinfo=zone),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
    _zones,
) | st.just(datetime(1970, 1, 1, tzinfo=UTC))
_amounts = st.integers(min_value=0, max_value=2**62)

_intents = st.builds(
    PaymentIntent,
    id=_text,
    merchant_id=_text,
    amount=_amounts,
    currency=_text,
    status=st.sampled_from(Status),
    capture_method=st.sampled_from(CaptureMethod),
    client_secret=_text,
    livemode=st.booleans(),
    created=_times,
    payment_method_types=st.lists(_text, max_size=3).map(tuple),
    description=_text,
    metadata=st.dictionaries(_text, _text, max_size=3),
    receipt_email=_text,
    return_url=_text,
    success_url=_text,
    cancel_url=_text,
    amount_capturable=_amounts,
    amount_received=_amounts,
    amount_refunded=_amounts,
    payment_method=_text,
    last_payment_error=st.none() | st.builds(PaymentError, _text, _text, _text),
    next_action=st.none()
    | st.builds(NextAction, st.sampled_from(["REDIRECT_TO_URL", "UPI_COLLECT"]), _text, _text),
    attempts=st.integers(min_value=0, max_value=2**31 - 1),
    canceled_at=st.none() | _times,
    cancellation_reason=_text,
    latest_attempt=_text,
    risk=st.none()
    | st.builds(
        RiskAssessment,
        st.integers(min_value=0, max_value=100),
        st.sampled_from(Decision),
        st.lists(st.builds(Reason, _text, _text, st.integers(0, 100), _text), max_size=2).map(
            tuple
        ),
        st.integers(min_value=0, max_value=9),
    ),
    payment_method_details=st.none()
    | st.builds(
        PaymentMethodDetails,
        st.sampled_from(["card", "upi", "wallet", "netbanking", "other"]),
        _text,
        _text,
        _text,
    ),
)


@settings(max_examples=300)
@given(intent=_intents, base=st.sampled_from(["", "https://pay.example.com"]))
def test_the_message_is_the_one_built_before(intent: PaymentIntent, base: str) -> None:
    got = convert.payment_intent(intent, checkout_base_url=base)
    expected = _before(intent, base)
    assert got == expected
    assert [f.name for f, _ in got.ListFields()] == [f.name for f, _ in expected.ListFields()]
    assert got.SerializeToString(deterministic=True) == expected.SerializeToString(
        deterministic=True
    )


def test_every_status_and_capture_method_has_its_number() -> None:
    for status in Status:
        assert convert._STATUS[status] == PI.Status.Value(status.value)
    for method in CaptureMethod:
        assert convert._CAPTURE_METHOD[method] == PI.CaptureMethod.Value(method.value)


@given(moment=_times)
def test_a_time_set_in_place_is_the_timestamp(moment: datetime) -> None:
    message = PI()
    convert.set_time(message.created, moment)
    assert message.HasField("created")
    assert message.created == _timestamp_before(moment)
    assert convert.timestamp(moment) == _timestamp_before(moment)
