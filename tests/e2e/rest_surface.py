"""The public REST surface, read from the descriptor set Envoy transcodes with
(envoy/paygate.binpb): every RPC's HTTP rule and every string field of its request, so
that a sweep covers each RPC and field the API has, not a list someone remembered.

    for rpc in rest_rpcs():
        for field in rpc.string_fields():   # FieldPath(("metadata",), map_value=True) ...
            method, url, body = rpc.request_with(field, "\\u0000")
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import quote

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

from servers.runtime.envoy_config import DESCRIPTOR, PUBLIC_PACKAGE

_STRING = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
_MESSAGE = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
_REPEATED = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
_MAX_DEPTH = 3


@cache
def _descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    return descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR.read_bytes())


@cache
def _messages() -> dict[str, descriptor_pb2.DescriptorProto]:
    found: dict[str, descriptor_pb2.DescriptorProto] = {}

    def add(prefix: str, message: descriptor_pb2.DescriptorProto) -> None:
        name = f"{prefix}.{message.name}"
        found[name] = message
        for nested in message.nested_type:
            add(name, nested)

    for file in _descriptor_set().file:
        for message in file.message_type:
            add(f".{file.package}", message)
    return found


@dataclass(frozen=True)
class FieldPath:
    """A string field: its path of proto names; `map_value` when the last one is a map
    whose values are strings (it is then set as {"k": value}); `repeated` for a list."""

    names: tuple[str, ...]
    map_value: bool = False
    repeated: bool = False

    def __str__(self) -> str:
        return ".".join(self.names)

    def json_value(self, text: str) -> Any:
        if self.map_value:
            return {"k": text}
        return [text] if self.repeated else text

    def expected_path(self) -> str:
        """How the server names the field in its BadRequest."""
        suffix = "[k]" if self.map_value else "[0]" if self.repeated else ""
        return str(self) + suffix


@dataclass(frozen=True)
class RestRpc:
    service: str
    method: str
    http_method: str
    template: str  # /v1/payment_intents/{id}/confirm
    body: str  # "*", "" or a field name
    request_type: str
    server_streaming: bool

    @property
    def name(self) -> str:
        return f"{self.service.rsplit('.', 1)[-1]}.{self.method}"

    @property
    def path_fields(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{([^}=]+)", self.template))

    def string_fields(self) -> list[FieldPath]:
        return list(_string_fields(self.request_type, (), 0))

    def url(self, values: dict[str, str]) -> str:
        def fill(match: re.Match[str]) -> str:
            return quote(values.get(match.group(1), "x_1"), safe="")

        return re.sub(r"\{([^}=]+)(=[^}]*)?\}", fill, self.template)

    def request_with(self, field: FieldPath, text: str) -> tuple[str, str, dict[str, Any] | None]:
        """(HTTP method, URL with query, JSON body or None) with `text` in `field`."""
        top = field.names[0]
        if top in self.path_fields and len(field.names) == 1:
            return self.http_method, self.url({top: text}), None
        if self.body == "*" or (self.body and self.body == top):
            body: dict[str, Any] = {}
            node = body
            names = field.names[1:] if self.body != "*" else field.names
            for name in names[:-1]:
                node = node.setdefault(name, {})
            node[names[-1]] = field.json_value(text)
            return self.http_method, self.url({}), body
        if field.map_value:  # a map cannot be a query parameter
            raise LookupError(f"{self.name}: {field} cannot be sent over REST")
        query = f"{quote(str(field), safe='.')}={quote(text, safe='')}"
        return self.http_method, f"{self.url({})}?{query}", None


def _string_fields(type_name: str, prefix: tuple[str, ...], depth: int) -> Iterator[FieldPath]:
    message = _messages()[type_name]
    for field in message.field:
        names = (*prefix, field.name)
        repeated = field.label == _REPEATED
        if field.type == _STRING:
            yield FieldPath(names, repeated=repeated)
        elif field.type == _MESSAGE and depth < _MAX_DEPTH:
            nested = _messages()[field.type_name]
            if nested.options.map_entry:  # map<string, string>: metadata
                if nested.field[1].type == _STRING:
                    yield FieldPath(names, map_value=True)
                continue
            if field.type_name.startswith(".google."):
                continue  # well-known types (Timestamp, Struct...) have JSON forms of their own
            if not repeated:
                yield from _string_fields(field.type_name, names, depth + 1)


def rest_rpcs() -> list[RestRpc]:
    rpcs = []
    for file in _descriptor_set().file:
        if file.package != PUBLIC_PACKAGE:
            continue
        for service in file.service:
            for method in service.method:
                rule: http_pb2.HttpRule = method.options.Extensions[annotations_pb2.http]
                verb = rule.WhichOneof("pattern")
                if verb is None or verb == "custom":
                    continue
                rpcs.append(
                    RestRpc(
                        service=f"{file.package}.{service.name}",
                        method=method.name,
                        http_method=verb.upper(),
                        template=getattr(rule, verb),
                        body=rule.body,
                        request_type=method.input_type,
                        server_streaming=method.server_streaming,
                    )
                )
    return rpcs
