"""A message as Envoy's transcoder prints it, as a dict: json_format.MessageToDict's
answer with proto field names and every field without presence, built from a plan made
once per message type.

json_format walks the descriptor generically for every field of every call (what kind,
which name, a map?, which default): a payment intent took 25 µs (8 by its plan), once per event an
intent's change writes (the create's among them). The plan keeps json_format's every
rule and its order of keys: the fields set, as ListFields gives them, then every field
without presence left unset, with its default. Anything the plan does not cover (a
float, an extension, a well-known type other than Timestamp, an enum value without a
name) is printed by json_format itself, the whole message, so the answer is its answer.
tests/unit/servers/test_message_json.py compares both for any message (hypothesis).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

Convert = Callable[[Any], Any]


class _Unplanned(Exception):
    """A value the plan does not print: json_format prints the whole message."""


class _Plan:
    __slots__ = ("by_field", "unset")

    def __init__(self) -> None:
        # Each field's name and converter, by its descriptor as ListFields gives it (the
        # plan holds the descriptors, so they stay the same objects); the fields without
        # presence, in the descriptor's order, each with the value printed when it is not
        # set and whether that value is made anew each time (an empty map or list).
        self.by_field: dict[Any, tuple[str, Convert]] = {}
        self.unset: list[tuple[str, Any, bool]] = []


# By descriptor (held here, so the same object as long as the process runs).
_PLANS: dict[Any, _Plan | None] = {}

_INT64 = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    }
)
_AS_IS = frozenset(
    {
        FieldDescriptor.TYPE_STRING,
        FieldDescriptor.TYPE_BOOL,
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_SFIXED32,
    }
)
_TIMESTAMP = "google.protobuf.Timestamp"
# json_format's own printer, asked once per field when a plan is made (enum names and
# defaults), never per message.
_PRINTER = json_format._Printer(  # type: ignore[attr-defined]
    preserving_proto_field_name=True, always_print_fields_with_no_presence=True
)


def message_to_dict(message: Message) -> dict[str, Any]:
    """`json_format.MessageToDict(message, preserving_proto_field_name=True,
    always_print_fields_with_no_presence=True)`, key for key and in its order."""
    try:
        return _printed(message)
    except (_Unplanned, ValueError):  # ValueError: json_format raises its own error for it
        return _json_format(message)


def _json_format(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _printed(message: Message) -> dict[str, Any]:
    descriptor = message.DESCRIPTOR
    try:
        plan = _PLANS[descriptor]
    except KeyError:
        plan = _PLANS[descriptor] = _plan_of(descriptor)
    if plan is None:
        raise _Unplanned
    by_field = plan.by_field
    printed: dict[str, Any] = {}
    for field, value in message.ListFields():
        entry = by_field.get(field)
        if entry is None:  # not a field of the plan's (an extension)
            raise _Unplanned
        name, convert = entry
        printed[name] = convert(value)
    for name, default, fresh in plan.unset:
        if name not in printed:
            printed[name] = default() if fresh else default
    return printed


def _plan_of(descriptor: Any) -> _Plan | None:
    """The message type's plan, or None when json_format prints it (a well-known type
    other than Timestamp, an extension range, a field of a kind not planned)."""
    if descriptor.full_name.startswith("google.protobuf.") or descriptor.extension_ranges:
        return None
    plan = _Plan()
    for field in descriptor.fields:
        convert = _field_converter(field)
        if convert is None:
            return None
        plan.by_field[field] = (field.name, convert)
        if not field.has_presence:
            plan.unset.append(_unset(field))
    return plan


def _is_map(field: Any) -> bool:
    message_type = field.message_type
    return (
        message_type is not None
        and message_type.has_options
        and message_type.GetOptions().map_entry
    )


def _field_converter(field: Any) -> Convert | None:
    if _is_map(field):
        key_field = field.message_type.fields_by_name["key"]
        value = _value_converter(field.message_type.fields_by_name["value"])
        if value is None:
            return None
        if key_field.type == FieldDescriptor.TYPE_BOOL:
            return lambda entries: {
                ("true" if key else "false"): value(entries[key]) for key in entries
            }
        return lambda entries: {str(key): value(entries[key]) for key in entries}
    one = _value_converter(field)
    if one is None:
        return None
    if field.is_repeated:
        return lambda values: [one(v) for v in values]
    return one


def _value_converter(field: Any) -> Convert | None:
    """One value of the field (one element of a repeated field), as json_format's
    _FieldToJsonObject prints it."""
    kind = field.type
    if kind in _AS_IS:
        return _as_is
    if kind in _INT64:
        return str
    if kind == FieldDescriptor.TYPE_BYTES:
        return _bytes
    if kind == FieldDescriptor.TYPE_ENUM:
        if field.enum_type.full_name == "google.protobuf.NullValue":
            return None
        # Each name as json_format prints it (a value's JSON name option included).
        names = {
            value.number: _PRINTER._FieldToJsonObject(field, value.number)
            for value in field.enum_type.values
        }

        def enum(number: int) -> Any:
            name = names.get(number)
            if name is None:  # a number without a name: json_format's rule for it
                raise _Unplanned
            return name

        return enum
    if kind in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
        if field.message_type.full_name == _TIMESTAMP:
            return _timestamp
        return _printed
    return None  # float and double: json_format's rules for them


def _as_is(value: Any) -> Any:
    return value


def _bytes(value: bytes) -> str:
    return base64.b64encode(value).decode("utf-8")


def _timestamp(value: Any) -> str:
    return str(value.ToJsonString())


def _unset(field: Any) -> tuple[str, Any, bool]:
    """What json_format prints for the field left unset: a new empty dict or list, or
    the default's printed value (immutable, so made once)."""
    if _is_map(field):
        return field.name, dict, True
    if field.is_repeated:
        return field.name, list, True
    return field.name, _PRINTER._FieldToJsonObject(field, field.default_value), False
