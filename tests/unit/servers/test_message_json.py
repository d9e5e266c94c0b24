"""servers/grpc/message_json.py prints every message as json_format does: the same keys,
values and order of keys, for any message of the types an event carries (and any field's
kind in them), drawn by hypothesis from the messages' descriptors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paygate.v1 import (
    disputes_pb2,
    events_pb2,
    payment_intents_pb2,
    payouts_pb2,
    refunds_pb2,
    settlements_pb2,
    webhook_endpoints_pb2,
)

from servers.grpc import message_json
from servers.grpc.message_json import message_to_dict

RENDERED = (
    payment_intents_pb2.PaymentIntent,
    refunds_pb2.Refund,
    disputes_pb2.Dispute,
    payouts_pb2.Payout,
    settlements_pb2.Settlement,
    webhook_endpoints_pb2.WebhookEndpoint,
)
# Kinds the events' objects do not hold: floats, well-known types, unknown enum numbers.
OTHERS = (events_pb2.Event, webhook_endpoints_pb2.WebhookDelivery)

_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
_LIMITS = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _timestamps() -> st.SearchStrategy[Timestamp]:
    # Whole seconds, milli-, micro- and nanoseconds: json_format prints 0, 3, 6 or 9 digits.
    nanos = st.one_of(
        st.just(0),
        st.integers(0, 999).map(lambda n: n * 1_000_000),
        st.integers(0, 999_999).map(lambda n: n * 1000),
        st.integers(0, 999_999_999),
    )
    seconds = st.integers(-62_135_596_800, 253_402_300_799)
    return st.builds(lambda s, n: Timestamp(seconds=s, nanos=n), seconds, nanos)


def _scalars(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind in _LIMITS:
        low, high = _LIMITS[kind]
        return st.one_of(
            st.integers(-3, 3).filter(lambda n: low <= n <= high), st.integers(low, high)
        )
    if kind == FieldDescriptor.TYPE_STRING:
        return _TEXT
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=12)
    if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return st.floats(
            width=32 if kind == FieldDescriptor.TYPE_FLOAT else 64,
            allow_nan=False,
            allow_infinity=False,
        )
    if kind == FieldDescriptor.TYPE_ENUM:
        numbers = [value.number for value in field.enum_type.values]
        # Now and then a number without a name (an open enum keeps it).
        return st.one_of(st.sampled_from(numbers), st.sampled_from(numbers), st.integers(-2, 40))
    raise AssertionError(f"no strategy for {field.full_name}")


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _values(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type.full_name == "google.protobuf.Timestamp":
            return _timestamps()
        return _messages(field.message_type, depth + 1)
    return _scalars(field)


def _messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    from google.protobuf import message_factory

    cls = message_factory.GetMessageClass(descriptor)
    if depth > 3:
        return st.just(cls())
    fields = {}
    for field in descriptor.fields:
        if _is_map(field):
            entry = field.message_type
            fields[field.name] = st.dictionaries(
                _values(entry.fields_by_name["key"], depth),
                _values(entry.fields_by_name["value"], depth),
                max_size=3,
            )
        elif field.is_repeated:
            fields[field.name] = st.lists(_values(field, depth), max_size=3)
        else:
            fields[field.name] = _values(field, depth)

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        message = cls()
        for field in descriptor.fields:
            if not draw(st.booleans()):
                continue  # left unset
            value = draw(fields[field.name])
            target = getattr(message, field.name)
            if _is_map(field):
                for key, item in value.items():
                    if isinstance(item, Message):
                        target[key].CopyFrom(item)
                    else:
                        target[key] = item
            elif field.is_repeated:
                for item in value:
                    if isinstance(item, Message):
                        target.add().CopyFrom(item)
                    else:
                        target.append(item)
            elif isinstance(value, Message):
                target.SetInParent()
                target.MergeFrom(value)
            else:
                setattr(message, field.name, value)
        return message

    return build()


def _json_format(message: Message) -> Any:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _same(message: Message) -> None:
    expected = _json_format(message)
    printed = message_to_dict(message)
    assert printed == expected
    # The same text, key order included (what a JSON column and a webhook's body carry).
    assert json.dumps(printed) == json.dumps(expected)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(*(_messages(cls.DESCRIPTOR) for cls in RENDERED)))
def test_an_events_object_is_printed_as_json_format_prints_it(message: Message) -> None:
    _same(message)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(*(_messages(cls.DESCRIPTOR) for cls in OTHERS)))
def test_a_message_with_other_kinds_is_printed_as_json_format_prints_it(message: Message) -> None:
    _same(message)


def test_an_empty_message_prints_every_field_without_presence() -> None:
    for cls in RENDERED:
        _same(cls())


def test_an_enum_number_without_a_name_is_printed_by_json_format() -> None:
    message = payment_intents_pb2.PaymentIntent(status=99, amount=5)  # type: ignore[arg-type]
    assert message_to_dict(message)["status"] == 99
    _same(message)


def test_an_events_object_is_printed_by_its_plan_not_by_json_format() -> None:
    # The point of the module: the objects events carry never fall back.
    for cls in RENDERED:
        assert message_json._plan_of(cls.DESCRIPTOR) is not None


def test_a_value_json_format_refuses_raises_json_formats_error() -> None:
    message = payment_intents_pb2.PaymentIntent(id="pi_1")
    message.created.seconds = 253_402_300_800  # past 9999-12-31
    with pytest.raises(json_format.SerializeToJsonError):
        message_to_dict(message)
