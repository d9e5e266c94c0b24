"""Text that no field of any request may hold, checked once for every call.

PostgreSQL's text refuses the NUL character, so a NUL in an id, a cursor, a description,
metadata or an email would fail deep in a query as an INTERNAL error. Every string of a
request (nested messages, repeated fields and map keys and values included) is checked here
from the message's descriptor, before any servicer sees it: the caller gets
INVALID_ARGUMENT naming the field's path (`metadata[order]`, `card.number`).

A string field is sent as its UTF-8 bytes, and U+0000 is the byte 0x00 in UTF-8: a request
whose bytes hold no zero byte holds no NUL in any string, at any depth. The server looks
for one in the bytes it received (`may_hold_nul`, memchr) and walks the message only when
there is one (a zero byte may also be a number's, a length's or a bytes field's).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from core.shared.errors import FieldViolation, InvalidArgument

FORBIDDEN = "\x00"
DESCRIPTION = "must not contain the NUL character (\\u0000)"


def bad_text_fields(message: Message, prefix: str = "") -> Iterator[str]:
    """Paths of the string fields (at any depth) whose value holds a NUL character."""
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field, value_field = field.message_type.fields  # key = 1, value = 2
            for key, item in value.items():
                where = f"{path}[{key!s:.40}]"
                if key_field.type == FieldDescriptor.TYPE_STRING and FORBIDDEN in key:
                    yield path
                elif value_field.type == FieldDescriptor.TYPE_STRING:
                    if FORBIDDEN in item:
                        yield where
                elif value_field.type == FieldDescriptor.TYPE_MESSAGE:
                    yield from bad_text_fields(item, where + ".")
        elif field.type == FieldDescriptor.TYPE_STRING:
            values = value if _repeated(field) else [value]
            for index, text in enumerate(values):
                if FORBIDDEN in text:
                    yield f"{path}[{index}]" if _repeated(field) else path
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            items = value if _repeated(field) else [value]
            for index, item in enumerate(items):
                where = f"{path}[{index}]." if _repeated(field) else f"{path}."
                yield from bad_text_fields(item, where)


def _repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def may_hold_nul(data: bytes) -> bool:
    """False when the serialized `data` cannot hold a NUL character in any string field."""
    return 0 in data


def text_refused(paths: Iterable[str]) -> InvalidArgument:
    """The error naming every string field (by path) that holds a NUL character."""
    return InvalidArgument([FieldViolation(path, DESCRIPTION) for path in paths])


def check_text(message: Message) -> None:
    """Raises InvalidArgument naming every string field that holds a NUL character."""
    paths = list(bad_text_fields(message))
    if paths:
        raise text_refused(paths)
