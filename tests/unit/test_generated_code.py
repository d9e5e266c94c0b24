"""The generated code imports, and every public RPC declares its REST route and access policy.

Everything is discovered from proto/paygate and read from the compiled descriptors, so a
new proto file without stubs, or a new RPC without `google.api.http` or
`(paygate.v1.access)`, fails here. Whether the checked-in files are up to date with
proto/ is `make check-gen`'s job.

Imports need `paygate` (the generated bindings, paygate/) and `paygate_client` (clients/python)
installed: `pip install -e . -e ./clients/python`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor, descriptor_pb2

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto"
PROTOS = sorted(p.relative_to(PROTO).as_posix() for p in (PROTO / "paygate").rglob("*.proto"))
# Internal services (vault, admin, worker control) are not served over REST.
PUBLIC = [p for p in PROTOS if "internal" not in Path(p).parts]


def stub_module(proto: str, suffix: str = "_pb2") -> ModuleType:
    """paygate/v1/payment_intents.proto -> paygate.v1.payment_intents_pb2"""
    return importlib.import_module(proto.removesuffix(".proto").replace("/", ".") + suffix)


def public_services() -> Iterator[descriptor.ServiceDescriptor]:
    for proto in PUBLIC:
        yield from stub_module(proto).DESCRIPTOR.services_by_name.values()


def test_there_are_public_services() -> None:
    assert "paygate.v1.PaymentIntentService" in {s.full_name for s in public_services()}


@pytest.mark.parametrize("proto", PROTOS)
def test_grpc_stubs_import(proto: str) -> None:
    assert stub_module(proto).DESCRIPTOR.name == proto
    stub_module(proto, "_pb2_grpc")


def test_every_public_rpc_has_an_http_rule_and_an_access_policy() -> None:
    from paygate.v1 import options_pb2

    problems = []
    for service in public_services():
        for method in service.methods:
            options = method.GetOptions()
            if not options.HasExtension(annotations_pb2.http):
                problems.append(f"{method.full_name}: no option (google.api.http)")
            if not options.HasExtension(options_pb2.access):
                problems.append(f"{method.full_name}: no option (paygate.v1.access)")
                continue
            access = options.Extensions[options_pb2.access]
            if not (access.permission or access.unauthenticated or access.user_only):
                problems.append(f"{method.full_name}: (paygate.v1.access) names no permission")
    assert not problems, "\n".join(problems)


def _messages(
    container: descriptor.FileDescriptor | descriptor.Descriptor,
) -> Iterator[descriptor.Descriptor]:
    for message in (
        container.message_types_by_name.values()
        if isinstance(container, descriptor.FileDescriptor)
        else container.nested_types
    ):
        if not message.GetOptions().map_entry:
            yield message
            yield from _messages(message)


def test_every_public_field_declares_its_field_behavior() -> None:
    """REQUIRED, OPTIONAL, OUTPUT_ONLY, IMMUTABLE...: what a client may (or must) send.
    (paygate.v1.access), a method option rather than a message of the API, is exempt."""
    from google.api import field_behavior_pb2

    missing = []
    for proto in PUBLIC:
        for message in _messages(stub_module(proto).DESCRIPTOR):
            if message.full_name == "paygate.v1.Access":
                continue
            for field in message.fields:
                if not field.GetOptions().Extensions[field_behavior_pb2.field_behavior]:
                    missing.append(field.full_name)
    assert missing == []


def test_envoy_descriptor_set_has_every_proto_and_the_error_details() -> None:
    data = (ROOT / "envoy" / "paygate.binpb").read_bytes()
    names = {file.name for file in descriptor_pb2.FileDescriptorSet.FromString(data).file}
    # Without error_details Envoy answers errors with an empty body (DESIGN.md).
    assert {*PROTOS, "google/api/http.proto", "google/rpc/error_details.proto"} <= names


def test_python_client_has_a_stub_for_every_public_service() -> None:
    import betterproto2.grpclib

    missing = []
    for service in public_services():
        package = importlib.import_module(f"paygate_client.{service.file.package}")
        stub = getattr(package, f"{service.name}Stub", None)
        if not (isinstance(stub, type) and issubclass(stub, betterproto2.grpclib.ServiceStub)):
            missing.append(f"paygate_client.{service.file.package}.{service.name}Stub")
    assert not missing, missing


def test_python_client_and_grpc_stubs_agree_on_the_wire() -> None:
    from paygate.v1 import payment_intents_pb2
    from paygate_client.paygate.v1 import PaymentIntent, PaymentIntentStatus

    sent = PaymentIntent(
        id="pi_1",
        amount=1000,
        status=PaymentIntentStatus.REQUIRES_CAPTURE,
        metadata={"order": "42"},
    )
    got = payment_intents_pb2.PaymentIntent.FromString(bytes(sent))
    assert (got.id, got.amount, got.status, dict(got.metadata)) == (
        "pi_1",
        1000,
        payment_intents_pb2.PaymentIntent.REQUIRES_CAPTURE,
        {"order": "42"},
    )
